"""What the e2e suite needs around it: a cluster (a KUBECONFIG, nothing else), helm, kubectl and the operator.

Two ways to run the operator, chosen by RAGOPS_E2E_OPERATOR:
- `cluster` (kind, or the local control plane's real node): the chart's own Deployment runs the image under test;
- `local` (the local control plane, where kwok only pretends to run pods): the chart is installed as usual
  and the operator runs on this machine with exactly the chart's arguments and environment, authenticated
  by a token of the chart's ServiceAccount, so the chart's RBAC is what it gets.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import yaml
from tests.integration.cluster import REPO, Operator, free_port, terminate, wait_for

RELEASE = "ragops"
OPERATOR_NAMESPACE = "ragops-system"
CHART = REPO / "charts" / "ragops"
SAMPLES = REPO / "manifests" / "samples"
RESTRICTED = {"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/warn": "restricted"}


@dataclass(frozen=True)
class Settings:
    """The suite's knobs, from the environment (hack/e2e.sh sets them)."""

    kubeconfig: str
    operator_mode: str  # local | cluster
    image: str  # repository:tag for the chart; empty: the chart's default
    scope: str  # all: the chart's default (ClusterRole) | namespaces: watchNamespaces (Roles) with two replicas
    #           | node: the real node (pods really run; two replicas, the small sample, Qdrant image below)
    samples: tuple[str, ...]  # samples applied and driven to Ready
    ready_timeout: float
    # On kind Qdrant really runs; the medium profile's 3 x (2 CPU, 8Gi) does not fit a laptop, so there the
    # profile change is checked on the children only.
    ready_after_profile_change: bool
    # The real node (hack/node.sh): every pod runs for real; VectorStores run this Qdrant image (the real
    # server from RAGOPS_QDRANT_BINARY, else the project's stand-in: qdrant_kind says which).
    real_node: bool = False
    qdrant_image: str = ""
    qdrant_kind: str = ""

    @classmethod
    def from_env(cls) -> Settings:
        kubeconfig = os.environ.get("KUBECONFIG", "")
        if not kubeconfig:
            raise RuntimeError("the e2e suite needs KUBECONFIG (make e2e or make e2e-kind set it)")
        mode = os.environ.get("RAGOPS_E2E_OPERATOR", "cluster")
        if mode not in ("local", "cluster"):
            raise RuntimeError(f"RAGOPS_E2E_OPERATOR must be local or cluster, not {mode!r}")
        samples = os.environ.get("RAGOPS_E2E_SAMPLES", "small,medium,large,full")
        scope = os.environ.get("RAGOPS_E2E_SCOPE", "all")
        if scope not in ("all", "namespaces", "node"):
            raise RuntimeError(f"RAGOPS_E2E_SCOPE must be all, namespaces or node, not {scope!r}")
        return cls(
            kubeconfig=kubeconfig,
            operator_mode=mode,
            image=os.environ.get("RAGOPS_E2E_IMAGE", ""),
            scope=scope,
            samples=tuple(s for s in samples.split(",") if s),
            ready_timeout=float(os.environ.get("RAGOPS_E2E_READY_TIMEOUT", "240")),
            ready_after_profile_change=mode == "local",
            real_node=scope == "node",
            qdrant_image=os.environ.get("RAGOPS_E2E_QDRANT_IMAGE", ""),
            qdrant_kind=os.environ.get("RAGOPS_E2E_QDRANT_KIND", ""),
        )


def tool(name: str) -> str:
    """A CLI: $HELM / $KUBECTL (hack/e2e.sh points them at the pinned local build), else the one on PATH."""
    found = os.environ.get(name.upper()) or shutil.which(name)
    if not found:
        raise RuntimeError(f"{name} not found: set ${name.upper()} or put it on PATH")
    return found


class Cli:
    """helm and kubectl against the suite's cluster; a failure raises with the command's own words."""

    def __init__(self, kubeconfig: str) -> None:
        self.kubeconfig = kubeconfig
        self.helm_bin = tool("helm")
        self.kubectl_bin = tool("kubectl")

    def helm(self, *args: str, stdin: str | None = None) -> str:
        return self._run([self.helm_bin, "--kubeconfig", self.kubeconfig, *args], stdin)

    def kubectl(self, *args: str, stdin: str | None = None) -> str:
        return self._run([self.kubectl_bin, "--kubeconfig", self.kubeconfig, *args], stdin)

    def kubectl_json(self, *args: str) -> Any:
        return json.loads(self.kubectl(*args, "-o", "json"))

    @staticmethod
    def _run(cmd: list[str], stdin: str | None) -> str:
        result = subprocess.run(cmd, input=stdin, capture_output=True, text=True, timeout=600)
        if result.returncode != 0:
            shown = " ".join(Path(cmd[0]).name if i == 0 else part for i, part in enumerate(cmd))
            raise AssertionError(f"`{shown}` exited {result.returncode}:\n{result.stderr[-4000:]}")
        return result.stdout


def render_chart(cli: Cli, values: dict[str, Any], release: str = RELEASE) -> list[dict[str, Any]]:
    """Every object `helm template` renders for these values, CRDs included."""
    with tempfile.NamedTemporaryFile("w", suffix=".yaml") as file:
        yaml.safe_dump(values, file)
        file.flush()
        text = cli.helm("template", release, str(CHART), "--namespace", OPERATOR_NAMESPACE, "--include-crds",
                        "-f", file.name)
    return [doc for doc in yaml.safe_load_all(text) if doc]


def sample_manifest(settings: Settings, sample: str) -> str:
    """A sample's YAML as applied: on the real node its VectorStores run the locally built Qdrant image."""
    text = (SAMPLES / f"{sample}.yaml").read_text()
    if not settings.qdrant_image:
        return text
    documents = [doc for doc in yaml.safe_load_all(text) if doc]
    for doc in documents:
        if doc["kind"] == "VectorStore":
            doc["spec"].setdefault("qdrant", {})["image"] = settings.qdrant_image
    return yaml.safe_dump_all(documents, sort_keys=False)


def ensure_namespace(cli: Cli, name: str) -> None:
    """A namespace that enforces the restricted Pod Security Standard, as docs/install.md recommends."""
    namespace = {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": RESTRICTED}}
    cli.kubectl("apply", "--server-side", "--field-manager=ragops-e2e", "-f", "-", stdin=json.dumps(namespace))


class OperatorProcess(Protocol):
    def start(self) -> object: ...

    def stop(self) -> None: ...

    def log(self) -> str: ...


@dataclass
class InClusterOperator:
    """The chart's Deployment is the operator (kind)."""

    cli: Cli
    deployment: str

    def start(self) -> None:
        self.cli.kubectl("rollout", "status", f"deployment/{self.deployment}", "-n", OPERATOR_NAMESPACE,
                         "--timeout=300s")

    def stop(self) -> None:
        pass

    def log(self) -> str:
        return self.cli.kubectl("logs", f"deployment/{self.deployment}", "-n", OPERATOR_NAMESPACE, "--tail=-1")


class LocalOperator(Operator):
    """`ragops run` on this machine with the chart Deployment's args and env and its ServiceAccount's token.

    Stopping, the log and the wait for the metrics endpoint are the integration tests' `Operator`'s."""

    def __init__(self, cli: Cli, deployment: str, log_path: Path) -> None:
        self.cli = cli
        self.deployment = deployment
        self.log_path = log_path
        self.process = None

    def start(self) -> LocalOperator:
        live = self.cli.kubectl_json("get", "deployment", self.deployment, "-n", OPERATOR_NAMESPACE)
        pod = live["spec"]["template"]["spec"]
        container = next(c for c in pod["containers"] if c["name"] == "operator")
        kubeconfig = self.log_path.with_name("operator-kubeconfig.yaml")
        kubeconfig.write_text(yaml.safe_dump(self._service_account_kubeconfig(pod["serviceAccountName"])))
        kubeconfig.chmod(0o600)
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("KUBERNETES_SERVICE")},
            **_container_env(container, pod_name=f"{self.deployment}-local"),
            "KUBECONFIG": str(kubeconfig),
        }
        args, self.metrics_port = _local_ports(container["args"])
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ragops.cli", *args],
            env=env, stdout=self.log_path.open("ab"), stderr=subprocess.STDOUT, cwd=REPO,
        )
        wait_for(self._metrics_up, 60, interval=0.5, what="the local operator's metrics endpoint")
        return self

    def stop(self) -> None:
        terminate(self.process, grace=20)

    def _service_account_kubeconfig(self, service_account: str) -> dict[str, Any]:
        """The admin kubeconfig's server and CA, with the ServiceAccount's token as the only credential."""
        admin = self.cli.kubectl_json("config", "view", "--raw", "--minify", "--flatten")
        token = self.cli.kubectl("create", "token", service_account, "-n", OPERATOR_NAMESPACE,
                                 "--duration=2h").strip()
        cluster = admin["clusters"][0]
        user = f"system:serviceaccount:{OPERATOR_NAMESPACE}:{service_account}"
        return {
            "apiVersion": "v1",
            "kind": "Config",
            "clusters": [{"name": cluster["name"], "cluster": cluster["cluster"]}],
            "users": [{"name": user, "user": {"token": token}}],
            "contexts": [{"name": "operator", "context": {"cluster": cluster["name"], "user": user}}],
            "current-context": "operator",
        }


def _container_env(container: dict[str, Any], pod_name: str) -> dict[str, str]:
    """The container's env, with the downward-API fields a pod would get."""
    env: dict[str, str] = {}
    for var in container.get("env") or []:
        if "value" in var:
            env[var["name"]] = var["value"]
        elif (var.get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath") == "metadata.namespace":
            env[var["name"]] = OPERATOR_NAMESPACE
        elif (var.get("valueFrom") or {}).get("fieldRef", {}).get("fieldPath") == "metadata.name":
            env[var["name"]] = pod_name
    return env


def _local_ports(args: list[str]) -> tuple[list[str], int]:
    """The chart's args with free local ports instead of the pod's 9090/8081; and the metrics port."""
    out = list(args)
    for flag in ("--metrics-port", "--health-port"):
        out[out.index(flag) + 1] = str(free_port())
    return out, int(out[out.index("--metrics-port") + 1])


def forbidden_lines(log: str) -> list[str]:
    """Log lines where the API server refused the operator (a missing RBAC rule)."""
    return [line for line in log.splitlines() if re.search(r"\bforbidden\b|\b403\b", line, re.IGNORECASE)]


@contextmanager
def port_forward(cli: Cli, namespace: str, target: str, port: int) -> Iterator[int]:
    """`kubectl port-forward` to a Service; yields the local port."""
    process = subprocess.Popen(
        [cli.kubectl_bin, "--kubeconfig", cli.kubeconfig, "port-forward", "-n", namespace, target, f"0:{port}"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )
    try:
        assert process.stdout is not None
        line = process.stdout.readline()
        match = re.search(r"127\.0\.0\.1:(\d+)", line)
        if not match:
            raise AssertionError(f"port-forward to {namespace}/{target} failed: {line}{process.stdout.read()[:2000]}")
        yield int(match.group(1))
    finally:
        process.terminate()
        process.wait(10)
