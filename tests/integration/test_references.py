"""References checked in the cluster by the running operator (issue 12, part 2): a missing Secret, key or
StorageClass is a condition naming the field plus a Warning Event, and clears by itself once the object exists."""

from __future__ import annotations

import time

import pytest
from kubernetes import client

from ragops.reconcile.references import RECHECK_SECONDS
from tests.integration.cluster import Cluster, Operator, wait_for
from tests.integration.manifests import ragpipeline, vectorstore

pytestmark = pytest.mark.integration


def references(
    cluster: Cluster, kind: str, namespace: str, name: str, status: str, reason: str | None = None
) -> dict | None:
    found = cluster.condition(kind, namespace, name, "ReferencesResolved")
    return found if found and found["status"] == status and reason in (None, found["reason"]) else None


def phase(cluster: Cluster, kind: str, namespace: str, name: str) -> str | None:
    return (cluster.get(kind, namespace, name).get("status") or {}).get("phase")


def warnings(cluster: Cluster, namespace: str, name: str) -> list[tuple[str, str]]:
    events = cluster.core.list_namespaced_event(namespace).items
    return [(e.reason, e.message) for e in events if e.type == "Warning" and e.involved_object.name == name]


def test_a_missing_llm_key_secret_is_reported_and_clears_once_created(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    cluster.create(namespace, vectorstore())
    llm = {"provider": "openai", "model": "gpt-4.1-mini", "apiKeySecretRef": {"name": "openai", "key": "apiKey"}}
    cluster.create(namespace, ragpipeline(llm=llm))

    # (A first pass may come before the operator has seen the store: VectorStoreNotFound, then this.)
    found = wait_for(
        lambda: references(cluster, "RagPipeline", namespace, "bot", "False", "SecretNotFound"),
        timeout=RECHECK_SECONDS * 2 + 30,  # a slow machine may need the re-check after a first VectorStoreNotFound
        what="SecretNotFound",
    )
    assert found["message"] == 'spec.llm.apiKeySecretRef: Secret "openai" not found (key openai/apiKey)'
    # The Warning for an earlier VectorStoreNotFound pass may be there too: look for this one.
    messages = wait_for(
        lambda: [m for r, m in warnings(cluster, namespace, "bot") if r == "SecretNotFound"],
        what="a SecretNotFound Warning Event",
    )
    assert any("openai/apiKey" in m and "spec.llm.apiKeySecretRef" in m for m in messages), messages

    cluster.core.create_namespaced_secret(
        namespace, client.V1Secret(metadata=client.V1ObjectMeta(name="openai"), string_data={"token": "x"})
    )
    found = wait_for(
        lambda: (
            (c := references(cluster, "RagPipeline", namespace, "bot", "False")) and "has no key" in c["message"] and c
        ),
        timeout=RECHECK_SECONDS * 2 + 10,
        what="SecretKeyNotFound",
    )
    assert (found["reason"], found["message"]) == (
        "SecretKeyNotFound",
        'spec.llm.apiKeySecretRef: Secret "openai" has no key "apiKey"',
    )

    cluster.core.patch_namespaced_secret("openai", namespace, {"stringData": {"apiKey": "sk-test"}})
    started = time.monotonic()
    wait_for(
        lambda: references(cluster, "RagPipeline", namespace, "bot", "True"),
        timeout=RECHECK_SECONDS * 2 + 10,
        what="ReferencesResolved=True without a restart or a spec change",
    )
    print(f"\nReferencesResolved cleared {time.monotonic() - started:.1f}s after the key was added")
    # Ready follows on the next passes (gateway rollout, status): minutes, not seconds, on a loaded machine.
    cluster.wait_ready("RagPipeline", namespace, "bot", timeout=180)


def test_missing_s3_credentials_and_storage_class_are_reported_on_the_store(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    s3 = {"s3": {"bucket": "backups", "endpoint": "http://minio.storage:9000", "credentialsSecretRef": {"name": "s3"}}}
    cluster.create(namespace, vectorstore(backup={"destination": s3}))
    found = wait_for(lambda: references(cluster, "VectorStore", namespace, "docs", "False"), what="SecretNotFound")
    assert (
        found["message"] == 'spec.backup.destination.s3.credentialsSecretRef: Secret "s3" not found '
        "(keys s3/accessKeyId, s3/secretAccessKey)"
    )
    # Qdrant serves without backups: the store runs, degraded, instead of claiming Ready.
    # (Degraded needs the Qdrant pods Running too: a loaded machine needs more than the default 30 s.)
    wait_for(lambda: phase(cluster, "VectorStore", namespace, "docs") == "Degraded", timeout=180, what="Degraded")

    cluster.create(namespace, vectorstore(name="fast", storage={"storageClassName": "no-such-class"}))
    found = wait_for(lambda: references(cluster, "VectorStore", namespace, "fast", "False"), what="a condition")
    assert (found["reason"], found["message"]) == (
        "StorageClassNotFound",
        'spec.storage.storageClassName: StorageClass "no-such-class" not found',
    )


def test_a_pass_over_a_missing_reference_writes_nothing(cluster: Cluster, namespace: str, operator: Operator) -> None:
    cluster.create(namespace, vectorstore())
    cluster.create(namespace, ragpipeline(gateway={"auth": {"apiKeySecretRef": {"name": "clients"}}}))
    wait_for(
        lambda: references(cluster, "RagPipeline", namespace, "bot", "False", "SecretNotFound"), what="SecretNotFound"
    )
    wait_for(lambda: phase(cluster, "VectorStore", namespace, "docs") == "Ready", what="store Ready")
    wait_for(
        lambda: phase(cluster, "RagPipeline", namespace, "bot") in ("Degraded", "Failed"),
        timeout=60,
        what="the pipeline settled (kwok's pods run without the Secret: Degraded; a real node's wait: Failed)",
    )
    # Ready gateway pods start a background /health check whose answer (Unknown from outside the cluster) can
    # come seconds later on a loaded machine: that is a real status change, so wait for it before counting.
    wait_for(
        lambda: phase(cluster, "RagPipeline", namespace, "bot") == "Failed"
        or (cluster.condition("RagPipeline", namespace, "bot", "ProvidersReady") or {}).get("reason")
        not in (None, "WaitingForGateway", "Checking"),
        timeout=60,
        what="the gateway's /health answered (or the pods are blocked)",
    )
    # The status settles over a few passes; after one more re-check, the next ones are idle.
    passes = operator.reconciles()
    wait_for(lambda: operator.reconciles() > passes, timeout=RECHECK_SECONDS + 10, what="a re-check pass")
    offset, passes = cluster.audit_offset(), operator.reconciles()
    wait_for(lambda: operator.reconciles() > passes, timeout=RECHECK_SECONDS + 10, what="another re-check pass")
    writes = [
        (w["verb"], w["objectRef"].get("resource"), w["objectRef"].get("name"))
        for w in cluster.writes_since(offset, namespace)
    ]
    assert writes == []
