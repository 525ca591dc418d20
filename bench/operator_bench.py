"""`make bench`: how fast the operator converges, what it costs idle, and how it scales.

Starts the local control plane, runs the operator as a subprocess and prints a table; the same figures
go to bench/RESULTS.md with the machine and versions. The floor is the time a bare client needs to
server-side-apply the same objects (rendered by the operator's own builders) with the same concurrency.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kubernetes import client, config  # noqa: E402
from tests.integration.cluster import Cluster, Operator, free_port, wait_for  # noqa: E402

from ragops.reconcile.context import OperatorSettings  # noqa: E402
from ragops.reconcile.kube import KubeClient, load_api_client  # noqa: E402
from ragops.render import render_objects  # noqa: E402

CLUSTER = "ragops-bench"
WORKERS = 8
CHILD_KINDS = ["configmaps", "secrets", "services", "statefulsets", "deployments", "networkpolicies",
               "horizontalpodautoscalers"]


def hack(*args: str) -> str:
    out = subprocess.run(["bash", str(REPO / "hack" / "cluster.sh"), *args], capture_output=True, text=True, check=True)
    lines = out.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def stack(i: int, profile: str = "small") -> list[dict[str, Any]]:
    return [
        {"apiVersion": "ragops.dev/v1alpha1", "kind": "VectorStore", "metadata": {"name": f"s{i}"},
         "spec": {"profile": profile, "collections": [{"name": "docs", "vectorSize": 384}]}},
        {"apiVersion": "ragops.dev/v1alpha1", "kind": "RagPipeline", "metadata": {"name": f"p{i}"},
         "spec": {"profile": profile, "vectorStoreRef": {"name": f"s{i}"}, "collection": "docs",
                  "embedding": {"provider": "hash", "dimensions": 384}, "llm": {"provider": "none"}}},
    ]


CHILDREN_PER_STACK = len(render_objects(stack(0), OperatorSettings()))


class Bench:
    def __init__(self, cluster: Cluster) -> None:
        self.cluster = cluster
        self.kube = KubeClient(load_api_client(cluster.kubeconfig, pool_size=WORKERS * 2))

    def namespace(self, name: str) -> str:
        try:
            self.cluster.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        except client.ApiException as error:
            if error.status != 409:
                raise
        return name

    def children(self, namespace: str) -> int:
        selector = "app.kubernetes.io/managed-by=ragops"
        return sum(len(self.kube.list_objects(kind, namespace, selector)) for kind in
                   ("ConfigMap", "Secret", "Service", "StatefulSet", "Deployment", "NetworkPolicy",
                    "HorizontalPodAutoscaler"))

    def ready(self, namespace: str, count: int) -> bool:
        for plural in ("vectorstores", "ragpipelines"):
            items = self.cluster.custom.list_namespaced_custom_object("ragops.dev", "v1alpha1", namespace, plural)
            ready = [i for i in items["items"] if (i.get("status") or {}).get("phase") == "Ready"
                     and i["status"].get("observedGeneration") == i["metadata"]["generation"]]
            if len(ready) < count:
                return False
        return True

    def apply_all(self, namespace: str, docs: Iterable[dict[str, Any]]) -> None:
        def create(doc: dict[str, Any]) -> None:
            doc = {**doc, "metadata": {**doc["metadata"], "namespace": namespace}}
            plural = "vectorstores" if doc["kind"] == "VectorStore" else "ragpipelines"
            self.cluster.custom.create_namespaced_custom_object("ragops.dev", "v1alpha1", namespace, plural, doc)

        with ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(create, docs))

    def floor(self, namespace: str, n: int) -> float:
        """A bare client server-side-applying the same children, same concurrency."""
        docs = [d for i in range(n) for d in stack(i)]
        for d in docs:
            d["metadata"]["namespace"] = namespace
        objects = render_objects(docs, OperatorSettings())
        for obj in objects:
            obj["metadata"].pop("ownerReferences", None)  # no owners exist here; GC would collect them
        start = time.monotonic()
        with ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(self.kube.apply, objects))
        return time.monotonic() - start


def timed(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> float:
    start = time.monotonic()
    wait_for(predicate, timeout, interval=interval)
    return time.monotonic() - start


def rss_mb(pid: int, field: str = "VmHWM") -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) / 1024
    return 0.0


def cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--sizes", default="10,50,200")
    parser.add_argument("--latency-runs", type=int, default=5)
    parser.add_argument("--idle-seconds", type=float, default=30.0)
    parser.add_argument("--keep-cluster", action="store_true")
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]

    hack("down", CLUSTER)
    kubeconfig = hack("up", CLUSTER)
    subprocess.run([hack_bin("kubectl"), "--kubeconfig", kubeconfig, "apply", "--server-side", "-f",
                    str(REPO / "crds")], check=True, capture_output=True)
    subprocess.run([hack_bin("kubectl"), "--kubeconfig", kubeconfig, "wait", "--for=condition=Established",
                    "crd/vectorstores.ragops.dev", "crd/ragpipelines.ragops.dev"], check=True, capture_output=True)
    cluster = Cluster(CLUSTER, kubeconfig, Path(hack("audit-log", CLUSTER)),
                      config.new_client_from_config(config_file=kubeconfig))
    bench = Bench(cluster)
    rows: list[tuple[str, str, str]] = []
    operator = Operator(cluster, "", Path("/tmp/ragops-bench-operator.log"), resync_seconds=args.idle_seconds)
    operator.metrics_port = free_port()
    start_all_namespaces(operator)
    pid = operator.process.pid  # type: ignore[union-attr]
    try:
        # 1. Latency of one stack.
        children_times, ready_times = [], []
        for run in range(args.latency_runs):
            ns = bench.namespace(f"lat-{run}")
            t0 = time.monotonic()
            bench.apply_all(ns, stack(0))
            wait_for(lambda ns=ns: bench.children(ns) >= CHILDREN_PER_STACK, 30, interval=0.01)
            children_times.append(time.monotonic() - t0)
            wait_for(lambda ns=ns: bench.ready(ns, 1), 60, interval=0.02)
            ready_times.append(time.monotonic() - t0)
        rows.append(("latency: 1 VectorStore + 1 RagPipeline, all children exist (median)",
                     f"{statistics.median(children_times):.2f} s", "< 1 s"))
        rows.append(("latency: both Ready (median)", f"{statistics.median(ready_times):.2f} s", ""))

        # 2. Scale against the floor, 4. memory, 3. idle cost at the largest N, 5. churn.
        for n in sizes:
            floor = bench.floor(bench.namespace(f"floor-{n}"), n)
            ns = bench.namespace(f"scale-{n}")
            t0 = time.monotonic()
            bench.apply_all(ns, [d for i in range(n) for d in stack(i)])
            wait_for(lambda ns=ns, n=n: bench.children(ns) >= n * CHILDREN_PER_STACK, 600, interval=0.2)
            converge = time.monotonic() - t0
            wait_for(lambda ns=ns, n=n: bench.ready(ns, n), 600, interval=0.5)
            ready = time.monotonic() - t0
            rows.append((f"scale N={n}: children exist / floor (bare client, {WORKERS} concurrent)",
                         f"{converge:.1f} s / {floor:.1f} s = {converge / floor:.2f}x", "<= 1.5x at 200"))
            rows.append((f"scale N={n}: all Ready", f"{ready:.1f} s", ""))
            rows.append((f"memory: operator peak RSS after N={n}", f"{rss_mb(pid):.0f} MB", "< 150 MB at 200"))
        n = sizes[-1]
        ns = f"scale-{n}"
        before_reconciles = operator.reconciles()
        wait_for(lambda: operator.reconciles() >= before_reconciles + 2 * n, 600, interval=1)  # settle
        offset, cpu0, r0 = cluster.audit_offset(), cpu_seconds(pid), operator.reconciles()
        wait_for(lambda: operator.reconciles() >= r0 + 2 * n * 2, 600, interval=1)  # two full timer passes
        writes = cluster.writes_since(offset, ns)
        rows.append((f"idle: writes over two resync passes, N={n}", str(len(writes)), "0"))
        rows.append((f"idle: operator CPU over two resync passes ({2 * 2 * n} reconciles)",
                     f"{cpu_seconds(pid) - cpu0:.1f} s", ""))
        t0 = time.monotonic()
        patch = {"spec": {"profile": "medium"}}

        def churn(i: int) -> None:
            cluster.patch("VectorStore", ns, f"s{i}", patch)
            cluster.patch("RagPipeline", ns, f"p{i}", patch)

        with ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(churn, range(n)))
        wait_for(lambda: bench.ready(ns, n), 900, interval=1)
        rows.append((f"churn: profile small -> medium on all N={n}, back to Ready", f"{time.monotonic() - t0:.1f} s",
                     ""))
        rows.append(("memory: operator peak RSS overall", f"{rss_mb(pid):.0f} MB", "< 150 MB"))
    finally:
        operator.stop()
        if not args.keep_cluster:
            hack("down", CLUSTER)

    report(rows)
    return 0


def hack_bin(name: str) -> str:
    out = subprocess.run(["bash", str(REPO / "hack" / "build-control-plane.sh")], capture_output=True, text=True,
                         check=True)
    return f"{out.stdout.strip().splitlines()[-1]}/{name}"


def start_all_namespaces(operator: Operator) -> None:
    """Like Operator.start, but watching every namespace (the benchmark creates many)."""
    env = {**os.environ, "KUBECONFIG": operator.cluster.kubeconfig}
    operator.process = subprocess.Popen(
        [sys.executable, "-m", "ragops.cli", "run", "--all-namespaces", "--standalone", "--metrics-port",
         str(operator.metrics_port), "--health-port", "0", "--resync-seconds", str(operator.resync_seconds),
         "--workers", str(WORKERS)],
        env=env, stdout=operator.log_path.open("wb"), stderr=subprocess.STDOUT, cwd=REPO,
    )
    wait_for(operator._metrics_up, 30)


def report(rows: list[tuple[str, str, str]]) -> None:
    width = max(len(r[0]) for r in rows)
    lines = [f"| {'measure':<{width}} | result | target |", f"|{'-' * (width + 2)}|---|---|"]
    lines += [f"| {name:<{width}} | {value} | {target} |" for name, value, target in rows]
    table = "\n".join(lines)
    print(table)
    pins = (REPO / "hack" / "versions.env").read_text()
    machine = (f"{platform.machine()}, {os.cpu_count()} cores, "
               f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
               f"Python {platform.python_version()}, {platform.platform()}")
    (REPO / "bench" / "RESULTS.md").write_text(
        "# Benchmark results\n\nWritten by `make bench` (bench/operator_bench.py); do not edit by hand.\n\n"
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n- Machine: {machine}\n"
        f"- Control plane: kwok fake nodes, versions:\n\n```\n{pins.strip()}\n```\n\n"
        f"- Operator: {WORKERS} reconcile workers; floor: a bare client doing server-side apply of the same "
        f"objects with {WORKERS} threads.\n\n{table}\n"
    )


if __name__ == "__main__":
    sys.exit(main())
