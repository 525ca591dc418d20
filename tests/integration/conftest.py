"""Integration fixtures: one local control plane per session, a fresh namespace and operator per test."""

from __future__ import annotations

import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from kubernetes import client, config

from tests.integration.cluster import REPO, Cluster, Operator, kubectl_binary

CLUSTER_NAME = os.environ.get("RAGOPS_TEST_CLUSTER", "ragops-test")


def _hack(*args: str) -> str:
    result = subprocess.run(
        ["bash", str(REPO / "hack" / "cluster.sh"), *args], capture_output=True, text=True, cwd=REPO
    )
    if result.returncode != 0:
        raise RuntimeError(f"hack/cluster.sh {' '.join(args)} failed:\n{result.stderr[-4000:]}")
    lines = result.stdout.strip().splitlines()
    return lines[-1] if lines else ""


@pytest.fixture(scope="session")
def cluster() -> Iterator[Cluster]:
    kubeconfig = _hack("up", CLUSTER_NAME)
    audit_log = Path(_hack("audit-log", CLUSTER_NAME))
    subprocess.run(
        [
            kubectl_binary(),
            "--kubeconfig",
            kubeconfig,
            "apply",
            "--server-side",
            "--force-conflicts",
            "-f",
            str(REPO / "crds"),
        ],
        check=True,
        capture_output=True,
    )
    for crd in ("vectorstores.ragops.dev", "ragpipelines.ragops.dev"):
        subprocess.run(
            [
                kubectl_binary(),
                "--kubeconfig",
                kubeconfig,
                "wait",
                "--for=condition=Established",
                f"crd/{crd}",
                "--timeout=60s",
            ],
            check=True,
            capture_output=True,
        )
    api = config.new_client_from_config(config_file=kubeconfig)
    yield Cluster(CLUSTER_NAME, kubeconfig, audit_log, api)
    api.close()
    if not os.environ.get("RAGOPS_KEEP_CLUSTER"):
        _hack("down", CLUSTER_NAME)


@pytest.fixture
def namespace(cluster: Cluster) -> Iterator[str]:
    name = f"t-{uuid.uuid4().hex[:8]}"
    cluster.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
    yield name
    cluster.core.delete_namespace(name)


@pytest.fixture
def operator(cluster: Cluster, namespace: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Operator]:
    resync = getattr(request, "param", 300.0)
    running = Operator(cluster, namespace, tmp_path / "operator.log", resync_seconds=resync).start()
    yield running
    running.stop()
    report = request.node.stash.get(_REPORT_KEY, None)
    if report is not None and report.failed:
        print(f"\n--- operator log ({namespace}) ---\n{running.log()[-6000:]}")


_REPORT_KEY = pytest.StashKey[pytest.TestReport]()


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    report = yield
    if report.when == "call":
        item.stash[_REPORT_KEY] = report
    return report
