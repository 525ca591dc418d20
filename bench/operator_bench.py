"""`make bench`: how fast the operator converges, what it costs idle, and how it scales.

Starts the local control plane, runs the operator as a subprocess watching every namespace and prints a
table; the same figures go to bench/RESULTS.md with the machine and versions.

- Latency: one VectorStore + one RagPipeline, until every child exists and until both are Ready.
- Scale: N of each, against the floor: a bare client server-side-applying the same children (rendered by
  the operator's own builders) with the same concurrency as the operator's workers.
- Idle: after a restart with everything in place, the writes the cold start makes, then the writes and CPU
  of one resync period over unchanged resources.
- Memory: the operator's peak RSS (VmHWM) after each N.
- Churn: a profile change on all N, until all are Ready again.

Every wait polls a condition; what the cluster holds is followed with watches (metadata only for children),
so measuring does not load the API server the operator is competing for.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from kubernetes import client, config  # noqa: E402
from tests.integration.cluster import Cluster, Operator, kubectl_binary, wait_for  # noqa: E402

from ragops.reconcile.context import OperatorSettings  # noqa: E402
from ragops.reconcile.kube import KINDS, KubeClient, load_api_client  # noqa: E402
from ragops.render import render_objects  # noqa: E402

CLUSTER = "ragops-bench"
WORKERS = 8
# kwok nodes (32 CPUs each): room for every pod the benchmark asks for; medium stacks at N=200 need ~1600 CPUs.
NODES = 80
# ClusterIPs: the default service range (/24) holds 254, the benchmark's Services need ~1000.
SERVICE_CIDR = {"apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR", "metadata": {"name": "ragops-bench"},
                "spec": {"cidrs": ["10.128.0.0/16"]}}
MANAGED_BY = "app.kubernetes.io/managed-by"
PART_OF_SELECTOR = "app.kubernetes.io/part-of=ragops"
# The floor's objects carry another managed-by value: the operator neither watches nor caches them.
FLOOR_MANAGED_BY = "ragops-bench-floor"
METADATA_WATCH = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"
PARENT_KINDS = ("VectorStore", "RagPipeline")
Handler = Callable[[str, str, dict[str, Any]], None]  # kind, event type, object


def stack(i: int, profile: str = "small") -> list[dict[str, Any]]:
    return [
        {"apiVersion": "ragops.dev/v1alpha1", "kind": "VectorStore", "metadata": {"name": f"s{i}"},
         "spec": {"profile": profile, "collections": [{"name": "docs", "vectorSize": 384}]}},
        {"apiVersion": "ragops.dev/v1alpha1", "kind": "RagPipeline", "metadata": {"name": f"p{i}"},
         "spec": {"profile": profile, "vectorStoreRef": {"name": f"s{i}"}, "collection": "docs",
                  "embedding": {"provider": "hash", "dimensions": 384}, "llm": {"provider": "none"}}},
    ]


def rendered(namespace: str, stacks: Iterable[int]) -> list[dict[str, Any]]:
    docs = [d for i in stacks for d in stack(i)]
    for doc in docs:
        doc["metadata"]["namespace"] = namespace
    return render_objects(docs, OperatorSettings())


STACK_CHILDREN = rendered("x", [0])
CHILDREN_PER_STACK = len(STACK_CHILDREN)
CHILD_KINDS = sorted({obj["kind"] for obj in STACK_CHILDREN})


class Watcher:
    """Cluster-wide watches: which children exist per namespace, and the state of every parent."""

    def __init__(self, api: client.ApiClient) -> None:
        self._api = api
        self._lock = threading.Lock()
        self._children: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))  # ns -> kind -> names
        # ns -> (kind, name) -> (generation, observedGeneration, phase)
        self._parents: dict[str, dict[tuple[str, str], tuple[int, int, str]]] = defaultdict(dict)

    def start(self) -> Watcher:
        for kind in CHILD_KINDS:
            self._thread(kind, PART_OF_SELECTOR, METADATA_WATCH, self._child)
        for kind in PARENT_KINDS:
            self._thread(kind, "", "application/json", self._parent)
        return self

    def children(self, namespace: str) -> int:
        with self._lock:
            return sum(len(names) for names in self._children[namespace].values())

    def ready(self, namespace: str, minimum_generation: dict[tuple[str, str], int] | None = None) -> int:
        """Parents that are Ready for their current generation (at least `minimum_generation` when given)."""
        wanted = minimum_generation or {}
        with self._lock:
            return sum(
                1
                for key, (generation, observed, phase) in self._parents[namespace].items()
                if phase == "Ready" and observed == generation and generation >= wanted.get(key, 1)
            )

    def _child(self, kind: str, event_type: str, obj: dict[str, Any]) -> None:
        meta = obj["metadata"]
        with self._lock:
            names = self._children[meta["namespace"]][kind]
            if event_type == "DELETED":
                names.discard(meta["name"])
            else:
                names.add(meta["name"])

    def _parent(self, kind: str, event_type: str, obj: dict[str, Any]) -> None:
        meta, status = obj["metadata"], obj.get("status") or {}
        with self._lock:
            parents = self._parents[meta["namespace"]]
            if event_type == "DELETED":
                parents.pop((kind, meta["name"]), None)
            else:
                parents[(kind, meta["name"])] = (
                    int(meta.get("generation") or 0),
                    int(status.get("observedGeneration") or 0),
                    str(status.get("phase") or ""),
                )

    def _thread(self, kind: str, selector: str, accept: str, handle: Handler) -> None:
        threading.Thread(target=self._run, args=(kind, selector, accept, handle), daemon=True).start()

    def _run(self, kind: str, selector: str, accept: str, handle: Handler) -> None:
        version = ""
        while True:
            query = [("watch", "true"), ("allowWatchBookmarks", "true"), ("timeoutSeconds", "290")]
            if selector:
                query.append(("labelSelector", selector))
            if version:
                query.append(("resourceVersion", version))
            try:
                for event in self._events(KINDS[kind].path(None), query, accept):
                    if event["type"] == "ERROR":  # 410 Gone: start over from the current state
                        version = ""
                        break
                    version = event["object"]["metadata"].get("resourceVersion", version)
                    if event["type"] != "BOOKMARK":
                        handle(kind, event["type"], event["object"])
            except Exception:  # a dropped connection: resume from the last version seen
                time.sleep(0.2)

    def _events(self, path: str, query: list[tuple[str, str]], accept: str) -> Iterator[dict[str, Any]]:
        method, url, headers, _, _ = self._api.param_serialize(
            "GET", path, query_params=query, header_params={"Accept": accept}, auth_settings=["BearerToken"]
        )
        response = self._api.call_api(method, url, header_params=headers, _request_timeout=(10, 330))
        for line in response.response:
            if line.strip():
                yield json.loads(line)


class BenchOperator(Operator):
    """`ragops run --all-namespaces` (the benchmark spreads over many namespaces), same process handling."""

    source = ""  # another checkout's operator/ directory, for before/after comparisons

    def start(self) -> BenchOperator:
        env = {**os.environ, "KUBECONFIG": self.cluster.kubeconfig}
        if self.source:
            env["PYTHONPATH"] = self.source
        self.process = subprocess.Popen(
            [sys.executable, "-m", "ragops.cli", "run", "--all-namespaces", "--standalone", "--metrics-port",
             str(self.metrics_port), "--health-port", "0", "--resync-seconds", str(self.resync_seconds),
             "--workers", str(WORKERS)],
            env=env, stdout=self.log_path.open("ab"), stderr=subprocess.STDOUT, cwd=REPO,
        )
        wait_for(self._metrics_up, 60, what="operator metrics endpoint")
        return self

    @property
    def pid(self) -> int:
        assert self.process is not None
        return self.process.pid

    def requests(self) -> Counter[str]:
        """API requests the operator sent so far, by HTTP method."""
        counts: Counter[str] = Counter()
        for line in self._scrape().splitlines():
            if line.startswith("ragops_api_requests_total{"):
                method = line.split('method="', 1)[1].split('"', 1)[0]
                counts[method] += int(float(line.rsplit(" ", 1)[1]))
        return counts

    def queue_empty(self) -> bool:
        return any(line == "ragops_queue_depth 0.0" for line in self._scrape().splitlines())

    def rss_mb(self) -> float:
        """Peak resident set size of the operator process (VmHWM), MB."""
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
        return 0.0

    def cpu_seconds(self) -> float:
        fields = Path(f"/proc/{self.pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Bench:
    def __init__(self, cluster: Cluster, watcher: Watcher) -> None:
        self.cluster = cluster
        self.watcher = watcher
        self.kube = KubeClient(load_api_client(cluster.kubeconfig, pool_size=WORKERS * 2))

    def namespace(self, name: str) -> str:
        self.cluster.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=name)))
        return name

    def create_parents(self, namespace: str, stacks: Iterable[int]) -> None:
        def create(doc: dict[str, Any]) -> None:
            self.cluster.create(namespace, doc)

        with ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(create, [d for i in stacks for d in stack(i)]))

    def until_children(self, namespace: str, count: int, start: float, timeout: float = 600) -> float:
        wait_for(lambda: self.watcher.children(namespace) >= count, timeout, interval=0.005,
                 what=f"{count} children in {namespace}")
        return time.monotonic() - start

    def until_ready(self, namespace: str, count: int, start: float, timeout: float = 900,
                    generations: dict[tuple[str, str], int] | None = None) -> float:
        wait_for(lambda: self.watcher.ready(namespace, generations) >= count, timeout, interval=0.01,
                 what=f"{count} Ready in {namespace}")
        return time.monotonic() - start

    def floor(self, n: int) -> float:
        """A bare client server-side-applying the same children, same concurrency, until the watch sees them."""
        namespace = self.namespace(f"floor-{n}")
        objects = rendered(namespace, range(n))
        for obj in objects:
            obj["metadata"].pop("ownerReferences", None)  # no owners exist here; GC would collect them
            obj["metadata"]["labels"][MANAGED_BY] = FLOOR_MANAGED_BY
        start = time.monotonic()
        with ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(self.kube.apply, objects))
        return self.until_children(namespace, n * CHILDREN_PER_STACK, start)


def operator_writes(audit_log: Path, offset: int) -> Counter[str]:
    """Write requests by the operator's user agents after byte `offset` of the audit log, by verb and resource."""
    writes: Counter[str] = Counter()
    with audit_log.open() as log:
        log.seek(offset)
        for line in log:
            event = json.loads(line)
            if str(event.get("userAgent", "")).startswith(("ragops/", "kopf/")):
                writes[f"{event['verb']} {(event.get('objectRef') or {}).get('resource')}"] += 1
    return writes


def requests_text(before: Counter[str], after: Counter[str]) -> str:
    delta = after - before
    return ", ".join(f"{method} {delta[method]}" for method in sorted(delta)) or "none"


def run(args: argparse.Namespace, cluster: Cluster, rows: list[tuple[str, str, str]]) -> None:
    sizes = [int(s) for s in args.sizes.split(",")]
    watcher = Watcher(config.new_client_from_config(config_file=cluster.kubeconfig)).start()
    bench = Bench(cluster, watcher)
    operator = BenchOperator(cluster, "", Path(args.log), resync_seconds=300.0).start()
    parents = 0
    try:
        # 1. Latency of one stack.
        children_times, ready_times = [], []
        for run_index in range(args.latency_runs):
            namespace = bench.namespace(f"lat-{run_index}")
            start = time.monotonic()
            bench.create_parents(namespace, [0])
            children_times.append(bench.until_children(namespace, CHILDREN_PER_STACK, start, 60))
            ready_times.append(bench.until_ready(namespace, 2, start, 120))
            parents += 2
        rows.append((f"latency: 1 VectorStore + 1 RagPipeline, all {CHILDREN_PER_STACK} children exist (median of "
                     f"{args.latency_runs})", f"{statistics.median(children_times):.2f} s", "< 1 s"))
        rows.append(("latency: both Ready (median)", f"{statistics.median(ready_times):.2f} s", ""))

        # 2. Scale against the floor, 4. memory.
        for n in sizes:
            floor = bench.floor(n)
            namespace = bench.namespace(f"scale-{n}")
            requests, passes, cpu = operator.requests(), operator.reconciles(), operator.cpu_seconds()
            start = time.monotonic()
            bench.create_parents(namespace, range(n))
            converge = bench.until_children(namespace, n * CHILDREN_PER_STACK, start)
            ready = bench.until_ready(namespace, 2 * n, start)
            parents += 2 * n
            rows.append((f"scale N={n}: all {n * CHILDREN_PER_STACK} children exist / floor (bare client, "
                         f"{WORKERS} concurrent)", f"{converge:.1f} s / {floor:.1f} s = {converge / floor:.2f}x",
                         "<= 1.5x at 200" if n == sizes[-1] else ""))
            rows.append((f"scale N={n}: all Ready; until then: operator API requests, reconciles, CPU",
                         f"{ready:.1f} s; {requests_text(requests, operator.requests())}; "
                         f"{operator.reconciles() - passes:.0f}; {operator.cpu_seconds() - cpu:.1f} s", ""))
            rows.append((f"memory: operator peak RSS after N={n}", f"{operator.rss_mb():.0f} MB",
                         "< 150 MB at 200" if n == sizes[-1] else ""))

        # 5. Churn on the largest N.
        n = sizes[-1]
        namespace = f"scale-{n}"
        generations: dict[tuple[str, str], int] = {}
        patch = {"spec": {"profile": "medium"}}

        def churn(key: tuple[str, str]) -> None:
            generations[key] = int(cluster.patch(*key[:1], namespace, key[1], patch)["metadata"]["generation"])

        start = time.monotonic()
        with ThreadPoolExecutor(WORKERS) as pool:
            list(pool.map(churn, [(kind, f"{prefix}{i}") for i in range(n)
                                  for kind, prefix in (("VectorStore", "s"), ("RagPipeline", "p"))]))
        churned = bench.until_ready(namespace, 2 * n, start, generations=generations)
        rows.append((f"churn: profile small -> medium on all N={n}, all Ready again", f"{churned:.1f} s", ""))
        rows.append(("memory: operator peak RSS overall", f"{operator.rss_mb():.0f} MB", "< 150 MB"))
    finally:
        operator.stop()

    # 3. Idle: a restart with everything in place (cold cache), then one resync period.
    offset = cluster.audit_offset()
    operator = BenchOperator(cluster, "", Path(args.log), resync_seconds=args.idle_resync)
    start = time.monotonic()
    operator.start()
    try:
        wait_for(lambda: operator.reconciles() >= parents and operator.queue_empty(), 300, interval=0.1,
                 what="a first pass over everything after the restart")
        first_pass = time.monotonic() - start
        writes = operator_writes(cluster.audit_log, offset)
        rows.append((f"restart with {parents} resources in place: first pass over all; writes",
                     f"{first_pass:.1f} s; {sum(writes.values())} {dict(writes) or ''}".strip(), "0 writes"))
        offset, cpu, passes, requests = (cluster.audit_offset(), operator.cpu_seconds(), operator.reconciles(),
                                         operator.requests())
        wait_for(lambda: operator.reconciles() >= passes + parents, args.idle_resync * 3 + 120, interval=0.2,
                 what="one resync pass")
        writes = operator_writes(cluster.audit_log, offset)
        rows.append((f"idle: one resync period ({args.idle_resync:.0f} s, {parents} reconciles): writes",
                     f"{sum(writes.values())} {dict(writes) or ''}".strip(), "0"))
        rows.append(("idle: operator CPU and API requests over that period",
                     f"{operator.cpu_seconds() - cpu:.1f} s; {requests_text(requests, operator.requests())}", ""))
        rows.append((f"memory: operator peak RSS after a restart with {parents} resources",
                     f"{operator.rss_mb():.0f} MB", "< 150 MB"))
    finally:
        operator.stop()
    rows.append(("memory: Qdrant collections client (REST, httpx), loaded once a Qdrant answers (in cluster)",
                 f"+{collections_client_mb():.0f} MB", ""))


def collections_client_mb() -> float:
    """What the Qdrant collections client adds to an operator process (measured in a fresh interpreter): it
    loads only in a cluster, where a Qdrant answers, so the runs above never include it."""
    code = (
        "import ragops.handlers\n"
        "def hwm():\n"
        "    return next(int(l.split()[1]) for l in open('/proc/self/status') if l.startswith('VmHWM:'))\n"
        "before = hwm()\n"
        "import ragops.qdrant.collections, ragops.qdrant.rest, httpx\n"
        "print((hwm() - before) / 1024)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    return float(out.stdout.strip())


def hack(*args: str, env: dict[str, str] | None = None) -> str:
    out = subprocess.run(["bash", str(REPO / "hack" / "cluster.sh"), *args], capture_output=True, text=True,
                         check=True, env=env)
    lines = out.stdout.strip().splitlines()
    return lines[-1] if lines else ""


def kubectl(kubeconfig: str, *args: str, stdin: str | None = None) -> None:
    subprocess.run([kubectl_binary(), "--kubeconfig", kubeconfig, *args], check=True, capture_output=True,
                   input=stdin, text=True)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--sizes", default="10,50,200", help="numbers of stacks, ascending")
    parser.add_argument("--latency-runs", type=int, default=5)
    parser.add_argument("--idle-resync", type=float, default=20.0, help="resync period of the idle measurement (s)")
    parser.add_argument("--nodes", type=int, default=NODES, help="kwok nodes")
    parser.add_argument("--log", default="/tmp/ragops-bench-operator.log", help="the operator's log")
    parser.add_argument("--keep-cluster", action="store_true")
    parser.add_argument("--no-results", action="store_true", help="print the table only, leave RESULTS.md alone")
    parser.add_argument("--operator-source", default="", help="run the operator from this operator/ directory")
    args = parser.parse_args()
    BenchOperator.source = args.operator_source

    began = time.monotonic()
    Path(args.log).unlink(missing_ok=True)
    env = {**os.environ, "RAGOPS_NODES": str(args.nodes)}
    hack("down", CLUSTER, env=env)
    kubeconfig = hack("up", CLUSTER, env=env)
    rows: list[tuple[str, str, str]] = []
    try:
        kubectl(kubeconfig, "apply", "--server-side", "-f", str(REPO / "crds"))
        kubectl(kubeconfig, "apply", "-f", "-", stdin=json.dumps(SERVICE_CIDR))
        kubectl(kubeconfig, "wait", "--for=condition=Established", "--timeout=60s", "crd/vectorstores.ragops.dev",
                "crd/ragpipelines.ragops.dev")
        kubectl(kubeconfig, "wait", "--for=condition=Ready", "--timeout=60s", "servicecidr/ragops-bench")
        cluster = Cluster(CLUSTER, kubeconfig, Path(hack("audit-log", CLUSTER)),
                          config.new_client_from_config(config_file=kubeconfig))
        run(args, cluster, rows)
    finally:
        if not args.keep_cluster:
            hack("down", CLUSTER, env=env)
    report(rows, args, time.monotonic() - began)
    return 0


def report(rows: list[tuple[str, str, str]], args: argparse.Namespace, seconds: float) -> None:
    width = max(len(r[0]) for r in rows)
    value_width = max(len(r[1]) for r in rows)
    lines = [f"| {'measure':<{width}} | {'result':<{value_width}} | target |",
             f"|{'-' * (width + 2)}|{'-' * (value_width + 2)}|---|"]
    lines += [f"| {name:<{width}} | {value:<{value_width}} | {target} |" for name, value, target in rows]
    table = "\n".join(lines)
    print(table)
    print(f"benchmark wall time: {seconds / 60:.1f} min (cluster start included)")
    if args.no_results:
        return
    pins = (REPO / "hack" / "versions.env").read_text()
    machine = (f"{platform.machine()}, {os.cpu_count()} cores, "
               f"{os.sysconf('SC_PAGE_SIZE') * os.sysconf('SC_PHYS_PAGES') / 2**30:.0f} GiB, "
               f"Python {platform.python_version()}, {platform.platform()}")
    (REPO / "bench" / "RESULTS.md").write_text(
        "# Benchmark results\n\nWritten by `make bench` (bench/operator_bench.py); do not edit by hand.\n\n"
        f"- Date: {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}\n- Machine: {machine}\n"
        f"- Control plane: etcd, kube-apiserver, controller-manager, scheduler on this machine, {args.nodes} kwok "
        f"nodes; versions:\n\n```\n{pins.strip()}\n```\n\n"
        f"- Operator: a subprocess watching all namespaces, {WORKERS} reconcile workers, resync 300 s (idle rows: "
        f"{args.idle_resync:.0f} s). Floor: a bare client server-side-applying the same objects (rendered by the "
        f"operator's builders) with {WORKERS} threads, timed until a watch sees them all, as the operator is.\n"
        f"- Wall time of the benchmark: {seconds / 60:.1f} min, cluster start included.\n\n{table}\n"
    )


if __name__ == "__main__":
    sys.exit(main())
