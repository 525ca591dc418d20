"""Test-side access to the local control plane and to an operator process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from kubernetes import client

REPO = Path(__file__).resolve().parents[2]
GROUP, VERSION = "ragops.dev", "v1alpha1"
PLURALS = {"VectorStore": "vectorstores", "RagPipeline": "ragpipelines"}
T = TypeVar("T")


def wait_for(predicate: Callable[[], T], timeout: float = 30.0, interval: float = 0.2, what: str = "") -> T:
    """Poll until `predicate` returns something truthy; fail with the last value otherwise."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = predicate()
        except client.ApiException as error:
            last = f"ApiException {error.status}: {error.reason}"  # not an answer: shown if time runs out
        else:
            if last:
                return last  # type: ignore[no-any-return]
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout}s waiting for {what or predicate}: last={last!r}")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def kubectl_binary() -> str:
    """The kubectl built with the local control plane (hack/build-control-plane.sh prints its bin dir last)."""
    out = subprocess.run(["bash", str(REPO / "hack" / "build-control-plane.sh")], capture_output=True, text=True,
                         check=True)
    return f"{out.stdout.strip().splitlines()[-1]}/kubectl"


def terminate(process: subprocess.Popen[bytes] | None, grace: float = 15.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within `grace` seconds."""
    if process and process.poll() is None:
        process.terminate()
        try:
            process.wait(grace)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@dataclass
class Cluster:
    name: str
    kubeconfig: str
    audit_log: Path
    api: client.ApiClient

    @property
    def core(self) -> client.CoreV1Api:
        return client.CoreV1Api(self.api)

    @property
    def apps(self) -> client.AppsV1Api:
        return client.AppsV1Api(self.api)

    @property
    def custom(self) -> client.CustomObjectsApi:
        return client.CustomObjectsApi(self.api)

    def create(self, namespace: str, body: dict[str, Any], strict: bool = True) -> dict[str, Any]:
        return self.custom.create_namespaced_custom_object(  # type: ignore[no-any-return]
            GROUP,
            VERSION,
            namespace,
            PLURALS[body["kind"]],
            body,
            field_validation="Strict" if strict else None,
        )

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        return self.custom.get_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[kind], name)  # type: ignore[no-any-return]

    def patch(self, kind: str, namespace: str, name: str, patch: dict[str, Any]) -> dict[str, Any]:
        return self.custom.patch_namespaced_custom_object(  # type: ignore[no-any-return]
            GROUP, VERSION, namespace, PLURALS[kind], name, patch
        )

    def delete(self, kind: str, namespace: str, name: str) -> None:
        self.custom.delete_namespaced_custom_object(GROUP, VERSION, namespace, PLURALS[kind], name)

    def condition(self, kind: str, namespace: str, name: str, type_: str) -> dict[str, Any] | None:
        status = self.get(kind, namespace, name).get("status") or {}
        return next((c for c in status.get("conditions") or [] if c["type"] == type_), None)

    def wait_ready(self, kind: str, namespace: str, name: str, timeout: float = 60.0) -> dict[str, Any]:
        def ready() -> dict[str, Any] | None:
            obj = self.get(kind, namespace, name)
            status = obj.get("status") or {}
            ok = status.get("phase") == "Ready" and status.get("observedGeneration") == obj["metadata"]["generation"]
            return obj if ok else None

        return wait_for(ready, timeout, what=f"{kind} {namespace}/{name} Ready")

    def writes_since(self, offset: int, namespace: str, agents: tuple[str, ...] = ("ragops/", "kopf/")) -> list[dict]:
        """Write requests in the audit log after byte `offset`, by the operator's user agents, in `namespace`."""
        writes = []
        with self.audit_log.open() as log:
            log.seek(offset)
            for line in log:
                event = json.loads(line)
                ref = event.get("objectRef") or {}
                if ref.get("namespace") == namespace and str(event.get("userAgent", "")).startswith(agents):
                    writes.append(event)
        return writes

    def audit_offset(self) -> int:
        return self.audit_log.stat().st_size


class Operator:
    """`ragops run` as a subprocess watching one namespace: killable, restartable, with its log kept."""

    def __init__(
        self,
        cluster: Cluster,
        namespace: str,
        log_path: Path,
        resync_seconds: float = 300.0,
        *,
        source: str = "",
        kubeconfig: str = "",
    ) -> None:
        self.cluster = cluster
        self.namespace = namespace
        self.log_path = log_path
        self.resync_seconds = resync_seconds
        self.source = source  # another checkout's operator/ directory (before/after comparisons)
        self.kubeconfig = kubeconfig or cluster.kubeconfig  # e.g. through a faulty proxy
        self.metrics_port = free_port()
        self.health_port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Operator:
        env = {**os.environ, "KUBECONFIG": self.kubeconfig, "RAGOPS_IMAGE": "ragops:test"}
        if self.source:
            env["PYTHONPATH"] = self.source
        log = self.log_path.open("ab")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "ragops.cli",
                "run",
                "--namespace",
                self.namespace,
                "--standalone",
                "--metrics-port",
                str(self.metrics_port),
                "--health-port",
                str(self.health_port),
                "--resync-seconds",
                str(self.resync_seconds),
            ],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=REPO,
        )
        wait_for(self._metrics_up, 30, what="operator metrics endpoint")
        return self

    def stop(self) -> None:
        terminate(self.process)

    def kill(self) -> None:
        """SIGKILL: no cleanup, as in an OOM kill or node loss."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def reconciles(self, result: str | None = None) -> float:
        """Reconcile passes so far (only those that ended in `result`: ok, waiting, invalid, error), from the
        operator's own metrics."""
        return sum(
            float(line.rsplit(" ", 1)[1])
            for line in self._scrape().splitlines()
            if line.startswith("ragops_reconcile_total{") and (result is None or f'result="{result}"' in line)
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def health(self, path: str = "/healthz") -> tuple[int, dict[str, Any]]:
        """The operator's own health endpoint: (HTTP status, JSON body)."""
        url = f"http://127.0.0.1:{self.health_port}{path}"
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def _metrics_up(self) -> bool:
        assert self.process is not None
        if self.process.poll() is not None:
            raise AssertionError(f"operator exited with {self.process.returncode}:\n{self.log()[-3000:]}")
        try:
            self._scrape()
            return True
        except OSError:
            return False

    def _scrape(self) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5) as response:
            return response.read().decode()  # type: ignore[no-any-return]
