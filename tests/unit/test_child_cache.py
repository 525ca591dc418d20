"""The child cache primed at startup: what each reconcile then asks of the API server.

A fake API server counts requests, so these tests say how many reads and writes a user's cluster sees:
creating a stack costs one apply per child and no read of what cannot exist; a restart (children listed
but not yet seen) reads and writes nothing new; a key that exists is never replaced.
"""

from __future__ import annotations

import copy
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest
from tests.unit import fakes
from tests.unit.fakes import CHILD_KINDS as KINDS
from tests.unit.fakes import SELECTOR, FakeKube
from tests.unit.samples import pipeline, store

from ragops.reconcile.children import ChildCache, current, key_of, prime, sync_children
from ragops.reconcile.context import Context
from ragops.reconcile.ragpipeline import reconcile_pipeline
from ragops.reconcile.vectorstore import reconcile_vectorstore

REPO = Path(__file__).resolve().parents[2]


def context(kube: FakeKube, cache: ChildCache, parents: Mapping[tuple[str, str, str], Any]) -> Context:
    return fakes.context(kube, cache, lambda *key: parents.get(key))


def primed(kube: FakeKube, namespaces: list[str] | None = None) -> ChildCache:
    cache = ChildCache()
    prime(kube, cache, KINDS, namespaces, SELECTOR)  # type: ignore[arg-type]
    return cache


def test_creating_a_stack_costs_one_apply_per_child_and_reads_only_what_is_kept() -> None:
    kube = FakeKube()
    cache = primed(kube)
    parents = {("VectorStore", "search", "docs"): store(), ("RagPipeline", "search", "bot"): pipeline()}
    ctx = context(kube, cache, parents)
    kube.requests.clear()

    reconcile_vectorstore(ctx, store())
    reconcile_pipeline(ctx, pipeline())

    children = [k for k in kube.objects if k[0] in KINDS]
    applies = [r for r in kube.requests if r[0] == "PATCH" and not r[1].endswith("/status")]
    assert len(applies) == len(children) > 8
    # Read before building: the API-key Secrets (a key that exists is reused) and the StatefulSet (its
    # volume size is immutable). Nothing else is read: the priming LIST says the rest does not exist.
    assert sorted(kube.reads()) == [
        ("GET", "Secret", "bot-gateway-api-key"),
        ("GET", "Secret", "docs-qdrant-api-key"),
        ("GET", "StatefulSet", "docs-qdrant"),
    ]


def test_restart_with_children_listed_but_not_yet_seen_makes_no_writes() -> None:
    kube = FakeKube()
    parents = {("VectorStore", "search", "docs"): store(), ("RagPipeline", "search", "bot"): pipeline()}
    first = context(kube, primed(kube), parents)
    reconcile_vectorstore(first, store())
    reconcile_pipeline(first, pipeline())
    keys = {k: copy.deepcopy(v) for k, v in kube.objects.items()}

    # A new process: primed from a LIST, no watch event delivered yet.
    cache = primed(kube)
    ctx = context(kube, cache, parents)
    kube.requests.clear()
    reconcile_vectorstore(ctx, store())
    reconcile_pipeline(ctx, pipeline())

    assert [w for w in kube.writes() if not w[1].endswith("/status") and w[1] != "Event"] == []
    assert kube.objects == keys  # same generated keys
    assert {r[1] for r in kube.reads()} <= set(KINDS)


def test_an_existing_key_secret_outside_the_cache_is_reused_not_replaced() -> None:
    """A Secret of the generated name without the operator's label (so never listed nor watched)."""
    kube = FakeKube()
    cache = primed(kube)
    secret = {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": {"name": "docs-qdrant-api-key", "namespace": "search", "uid": "user-secret"},
        "data": {"apiKey": "a2VlcC1tZQ=="},  # keep-me
    }
    kube.objects[key_of(secret)] = secret
    ctx = context(kube, cache, {("VectorStore", "search", "docs"): store()})

    reconcile_vectorstore(ctx, store())

    assert kube.objects[key_of(secret)]["data"]["apiKey"] == "a2VlcC1tZQ=="


def test_a_deleted_child_is_recreated_without_a_read() -> None:
    kube = FakeKube()
    cache = primed(kube)
    desired = [_config_map("cm")]
    sync_children(kube, cache, "owner", desired)  # type: ignore[arg-type]
    cache.remove(("ConfigMap", "ns", "cm"))  # the watch's DELETED event
    del kube.objects[("ConfigMap", "ns", "cm")]
    kube.requests.clear()

    result = sync_children(kube, cache, "owner", desired)  # type: ignore[arg-type]

    assert result.applied == [("ConfigMap", "ns", "cm")]
    assert kube.requests == [("PATCH", "ConfigMap", "cm")]


def test_a_kind_that_cannot_be_listed_is_read_one_by_one() -> None:
    kube = FakeKube(refuse_list={"ConfigMap": 403, "Service": 404})
    cache = ChildCache()
    unprimed = prime(kube, cache, ["ConfigMap", "Service"], ["ns"], SELECTOR)  # type: ignore[arg-type]

    assert unprimed == ["ConfigMap"]
    assert current(kube, cache, ("ConfigMap", "ns", "cm")) is None  # type: ignore[arg-type]
    assert current(kube, cache, ("Service", "ns", "svc")) is None  # type: ignore[arg-type]  # not served: absent
    assert kube.reads() == [("GET", "ConfigMap", "cm")]


def test_priming_lists_each_watched_namespace() -> None:
    kube = FakeKube()
    kube.objects[("ConfigMap", "a", "cm")] = _config_map("cm", "a")
    kube.objects[("ConfigMap", "b", "cm")] = _config_map("cm", "b")
    cache = ChildCache()
    prime(kube, cache, ["ConfigMap"], ["a"], SELECTOR)  # type: ignore[arg-type]

    assert [r for r in kube.requests if r[0] == "LIST"] == [("LIST", "ConfigMap", "a")]
    assert not cache.known_absent(("ConfigMap", "a", "cm"))  # listed: read it when needed
    assert cache.known_absent(("ConfigMap", "a", "other"))


@pytest.mark.parametrize("module", ["ragops.cli", "ragops.handlers"])
def test_the_operator_process_imports_no_heavy_client_at_startup(module: str) -> None:
    code = (
        f"import sys, {module}\n"
        "heavy = [m for m in ('qdrant_client', 'boto3', 'botocore', 'fastapi', 'uvicorn', 'httpx', 'numpy', 'grpc')"
        " if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def test_an_unreachable_qdrant_is_reported_without_loading_qdrant_client() -> None:
    code = """
import socket, sys
from ragops.models import parse_resource
from ragops.reconcile import collections
from tests.unit.samples import store

with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]  # closed once the block ends: connections are refused
collections.names.qdrant_url = lambda name, namespace: f"http://127.0.0.1:{port}"
observation = collections.QdrantCollections()(parse_resource(store()), "key", 1)
assert observation.reason == "QdrantUnreachable", observation
assert "ConnectionRefusedError" in observation.message, observation
assert "qdrant_client" not in sys.modules
"""
    subprocess.run([sys.executable, "-c", code], check=True, cwd=REPO)


def _config_map(name: str, namespace: str = "ns") -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "ragops"},
            "ownerReferences": [{"apiVersion": "ragops.dev/v1alpha1", "controller": True, "uid": "owner"}],
        },
        "data": {"a": "1"},
    }
