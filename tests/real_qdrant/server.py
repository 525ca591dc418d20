"""Real Qdrant servers on loopback, started the way the operator's StatefulSet starts its pods.

Nothing here spells Qdrant's configuration or arguments: a VectorStore goes through the operator's own
builders, and each "pod" gets
- the ConfigMap's production.yaml at config/production.yaml under its directory (the image's working
  directory is /qdrant and sets RUN_MODE=production, so Qdrant reads config/production.yaml);
- the container's env, with secretKeyRefs resolved from the API-key Secret the builders made;
- the container's command and args, run by bash with HOSTNAME set to the pod's name, `./entrypoint.sh`
  being a shim that execs the binary.
What a pod gets from Kubernetes rather than from the builders is played by the harness: each volume mount
(paths under /qdrant/) becomes a directory under the pod's directory, each pod its own loopback address
(127.x.y.<ordinal+1>, so every node keeps the ports 6333/6334/6335 the builders declare; Qdrant binds
`service.host`, set to that address as a pod's own network namespace would give it), and the cluster DNS
names (`<pod>.<headless>.<ns>.svc`) are rewritten to those addresses, in the arguments by the shim and in
job arguments by `rewrite`.

The binary comes from RAGOPS_QDRANT_BINARY; nothing of Qdrant is part of this repository.
"""

from __future__ import annotations

import base64
import os
import random
import shlex
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from ragops.builders import StoreInputs, names
from ragops.builders.qdrant import build_api_key_secret, build_config_map, build_statefulset
from ragops.models import parse_resource, resolve_vectorstore
from ragops.models.resource import Resource
from ragops.models.vectorstore import VectorStoreSpec

BINARY_ENV = "RAGOPS_QDRANT_BINARY"
SKIP_REASON = f"real-Qdrant tier: set {BINARY_ENV} to the path of a Qdrant server binary (1.18.x) to run it"
POD_ROOT = "/qdrant/"  # the image's working directory; every mount path of the StatefulSet is under it
NAMESPACE = "search"
API_KEY = "real-qdrant-key-4b1f"
READ_ONLY_KEY = "real-qdrant-ro-key-77c2"
START_SECONDS = 90.0
RESTARTS = 5


def binary() -> str | None:
    path = os.environ.get(BINARY_ENV)
    return path if path and Path(path).is_file() and os.access(path, os.X_OK) else None


def store(name: str = "docs", replicas: int = 1, **spec: Any) -> Resource[VectorStoreSpec]:
    body = {
        "apiVersion": "ragops.dev/v1alpha1",
        "kind": "VectorStore",
        "metadata": {"name": name, "namespace": NAMESPACE, "uid": f"uid-{name}"},
        "spec": {"profile": "small", "qdrant": {"replicas": replicas}, **spec},
    }
    resource: Resource[VectorStoreSpec] = parse_resource(body)
    return resource


def inputs(resource: Resource[VectorStoreSpec]) -> StoreInputs:
    return StoreInputs(resolve_vectorstore(resource.spec), "ragops:test", "ragops-system", API_KEY, READ_ONLY_KEY)


@dataclass
class Node:
    ordinal: int
    pod: str
    address: str
    directory: Path
    argv: list[str]
    env: dict[str, str]
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0  # by the harness, as the kubelet restarts an exited container (restartPolicy Always)

    @property
    def url(self) -> str:
        return f"http://{self.address}:{names.QDRANT_HTTP_PORT}"

    @property
    def log(self) -> Path:
        return self.directory / "qdrant.log"

    def start(self) -> None:
        with self.log.open("ab") as log:
            self.process = subprocess.Popen(
                self.argv,
                cwd=self.directory,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)

    def tail(self, lines: int = 30) -> str:
        text = self.log.read_text(errors="replace") if self.log.exists() else ""
        return "\n".join(text.splitlines()[-lines:])


@dataclass
class Cluster:
    resource: Resource[VectorStoreSpec]
    nodes: list[Node]
    dns: dict[str, str] = field(default_factory=dict)  # "<pod>.<headless>.<ns>.svc" -> loopback address

    @property
    def urls(self) -> list[str]:
        return [node.url for node in self.nodes]

    def rewrite(self, text: str) -> str:
        """A URL or argument as it resolves on this machine (the cluster DNS's job in Kubernetes)."""
        for host, address in self.dns.items():
            text = text.replace(host, address)
        return text

    def logs(self) -> str:
        return "\n".join(f"--- {n.pod} ---\n{n.tail()}" for n in self.nodes)

    def grep(self, needle: str) -> list[str]:
        """Log lines of every node containing `needle` (Qdrant's own account of what went wrong)."""
        return [
            f"{node.pod}: {line}"
            for node in self.nodes
            if node.log.exists()
            for line in node.log.read_text(errors="replace").splitlines()
            if needle in line
        ]


def pods(resource: Resource[VectorStoreSpec], root: Path, qdrant: str, subnet: str) -> Cluster:
    """The StatefulSet's pods as local processes (not started): see the module docstring."""
    built = inputs(resource)
    config = build_config_map(resource, built)["data"]["production.yaml"]
    secret = build_api_key_secret(resource, built) or {"data": {}}
    statefulset = build_statefulset(resource, built)
    template = statefulset["spec"]["template"]["spec"]
    [container] = template["containers"]
    headless = f"{names.qdrant_headless(resource.name)}.{resource.namespace}.svc"
    replicas = statefulset["spec"]["replicas"]
    cluster = Cluster(resource, [])
    for ordinal in range(replicas):
        pod = f"{statefulset['metadata']['name']}-{ordinal}"
        cluster.dns[f"{pod}.{headless}"] = f"{subnet}.{ordinal + 1}"
    for ordinal in range(replicas):
        pod = f"{statefulset['metadata']['name']}-{ordinal}"
        directory = root / pod
        directory.mkdir(parents=True)
        for mount in container["volumeMounts"]:
            target = _local(directory, mount["mountPath"])
            if mount.get("subPath"):
                target.parent.mkdir(parents=True, exist_ok=True)
                assert mount["subPath"] == "production.yaml"
                target.write_text(_localise(config, directory))
            else:
                target.mkdir(parents=True, exist_ok=True)
        # The image's entrypoint.sh runs ./qdrant with the arguments; here it also resolves peer names.
        shim = directory / "entrypoint.sh"
        shim.write_text(
            "#!/bin/bash\n"
            "args=()\n"
            'for arg in "$@"; do\n'
            + "".join(f'  arg="${{arg//{host}/{address}}}"\n' for host, address in cluster.dns.items())
            + '  args+=("$arg")\n'
            "done\n"
            f'exec {shlex.quote(qdrant)} "${{args[@]}}"\n'
        )
        shim.chmod(0o755)
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "HOSTNAME": pod,
            "RUN_MODE": "production",  # the image's ENV
            "QDRANT__SERVICE__HOST": cluster.dns[f"{pod}.{headless}"],  # the pod's own address
        }
        for variable in container.get("env", []):
            value = _env_value(variable, secret)
            if value is not None:
                env[variable["name"]] = _localise(value, directory)
        # The start script names peers by their DNS names and reads pod paths: both as this machine sees them.
        command = [*container.get("command", []), *container.get("args", [])] or ["./entrypoint.sh"]
        argv = [_localise(cluster.rewrite(part), directory) for part in command]
        cluster.nodes.append(Node(ordinal, pod, cluster.dns[f"{pod}.{headless}"], directory, argv, env))
    return cluster


def subnet() -> str:
    """A loopback /24 no other test run on this shared machine is likely to use."""
    for _ in range(50):
        candidate = f"127.{random.randint(20, 250)}.{random.randint(0, 255)}"
        if all(_free(f"{candidate}.{i}", port) for i in (1, 2, 3, 4) for port in names_ports()):
            return candidate
    raise RuntimeError("no free loopback subnet for Qdrant's ports")


def names_ports() -> tuple[int, int, int]:
    return names.QDRANT_HTTP_PORT, names.QDRANT_GRPC_PORT, names.QDRANT_P2P_PORT


@contextmanager
def running(
    resource: Resource[VectorStoreSpec], root: Path, qdrant: str, network: str | None = None
) -> Iterator[Cluster]:
    cluster = pods(resource, root, qdrant, network or subnet())
    try:
        # podManagementPolicy: Parallel: every pod starts at once.
        for node in cluster.nodes:
            node.start()
        wait_ready(cluster)
        yield cluster
    finally:
        for node in cluster.nodes:
            node.stop()


def wait_ready(cluster: Cluster, timeout: float = START_SECONDS) -> None:
    """Every node answers /readyz (the StatefulSet's readiness probe) and, on a cluster, sees every peer."""
    headers = {"api-key": API_KEY}
    expected = len(cluster.nodes)

    def ready(node: Node) -> bool:
        if node.process is not None and node.process.poll() is not None:
            # The kubelet would restart the container (with a back-off); so does the harness, a few times.
            if node.restarts >= RESTARTS:
                raise RuntimeError(f"{node.pod} exited with {node.process.returncode}:\n{node.tail()}")
            node.restarts += 1
            node.start()
            return False
        try:
            if httpx.get(node.url + "/readyz", timeout=2).status_code != 200:
                return False
            if expected == 1:
                return True
            info = httpx.get(node.url + "/cluster", headers=headers, timeout=2).json()["result"]
            return len(info.get("peers", {})) == expected and info["raft_info"].get("leader") is not None
        except httpx.HTTPError:
            return False

    # Every node is looked at on every round (no short-circuit): an exited one must be restarted.
    wait_for(lambda: all([ready(node) for node in cluster.nodes]), timeout, lambda: cluster.logs())


def wait_for(condition: Callable[[], bool], timeout: float, describe: Callable[[], str] = lambda: "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(f"condition not met within {timeout:.0f}s\n{describe()}")
        time.sleep(0.2)


def _local(directory: Path, pod_path: str) -> Path:
    assert pod_path.startswith(POD_ROOT), pod_path
    return directory / pod_path.removeprefix(POD_ROOT)


def _localise(text: str, directory: Path) -> str:
    # Pod paths (mount points) -> the pod's directory on this machine.
    return text.replace(POD_ROOT, f"{directory}/")


def _env_value(variable: dict[str, Any], secret: dict[str, Any]) -> str | None:
    if "value" in variable:
        return str(variable["value"])
    ref = variable.get("valueFrom", {}).get("secretKeyRef")
    if ref is None:
        raise AssertionError(f"env {variable['name']}: only values and secretKeyRefs are simulated")
    data = secret.get("data", {})
    if ref["key"] not in data:
        assert ref.get("optional"), f"env {variable['name']}: key {ref['key']} missing from the Secret"
        return None
    return base64.b64decode(data[ref["key"]]).decode()


def _free(address: str, port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind((address, port))
        except OSError:
            return False
    return True
