"""`make chaos`: the operator against the faults a production cluster deals it, with figures.

Many stacks (small and medium) on the local control plane, one operator watching their namespace. Round by
round it injects a fault, then waits until every stack is Ready at its current generation and checks what a
user would check: each child exactly once (against what the builders render for the spec), hand edits
reverted, no PersistentVolumeClaim lost, generated API keys unchanged, then zero writes over two idle resync
periods. The last line sums it up; the exit code is 1 when any check failed.

    python -m chaos.run [--stacks 6] [--outage 65] [--rounds kill,outage,...] [--operator-source DIR]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kubernetes import client, config
from tests.integration.cluster import REPO, Cluster, Operator, free_port, kubectl_binary, wait_for
from tests.integration.faults import ControlPlane
from tests.integration.manifests import ragpipeline, vectorstore

from chaos.proxy import FaultyProxy
from ragops.builders import names
from ragops.models.resource import SpecError
from ragops.reconcile.context import OperatorSettings
from ragops.render import render_objects

CLUSTER = "ragops-chaos"
NAMESPACE = "chaos"
RESYNC = 10.0
CONVERGE_TIMEOUT = 240.0
MANAGED = "app.kubernetes.io/managed-by=ragops"
# Kinds the operator owns in the namespace, with the API that lists them.
OWNED_KINDS = ["ConfigMap", "Secret", "Service", "StatefulSet", "Deployment", "PodDisruptionBudget",
               "NetworkPolicy", "HorizontalPodAutoscaler", "CronJob"]
ROUNDS = ["kill", "outage", "apiserver", "edits", "qdrant-pod", "deleted-while-down", "faulty-api"]


@dataclass
class Tally:
    faults: int = 0
    repair: list[float] = field(default_factory=list)  # until every child is right (the operator's part)
    convergence: list[float] = field(default_factory=list)  # until every stack is also Ready (pods included)
    pvcs_lost: int = 0
    duplicates: int = 0
    edits_not_reverted: int = 0
    idle_writes: int = 0
    keys_changed: int = 0
    failures: list[str] = field(default_factory=list)

    def line(self, stacks: int) -> str:
        worst = max(self.convergence, default=0.0)
        return (
            f"chaos: {self.faults} faults injected, {stacks} stacks, children repaired in max "
            f"{max(self.repair, default=0.0):.1f}s, convergence max {worst:.1f}s "
            f"(mean {sum(self.convergence) / max(1, len(self.convergence)):.1f}s), {self.pvcs_lost} PVCs lost, "
            f"{self.duplicates} duplicates, {self.edits_not_reverted} edits not reverted, "
            f"{self.keys_changed} keys changed, {self.idle_writes} idle writes"
        )


class Suite:
    def __init__(self, cluster: Cluster, operator: Operator, stacks: int, outage: float) -> None:
        self.cluster = cluster
        self.operator = operator
        self.outage = outage
        self.names = [f"s{i}" for i in range(stacks)]
        self.tally = Tally()
        self.random = random.Random(11)
        self.pvcs: dict[str, str] = {}  # name -> uid, taken once everything first converged
        self.keys: dict[str, Any] = {}  # generated key Secret -> data
        self.edits: list[tuple[str, Callable[[], bool]]] = []  # (what was edited, has it been reverted?)
        self.baseline: set[tuple[str, str]] | None = None  # children at the first convergence

    # -- the stacks ---------------------------------------------------------------------------

    def create(self) -> None:
        for i, name in enumerate(self.names):
            profile = "small" if i % 2 == 0 else "medium"
            self.cluster.create(NAMESPACE, vectorstore(name=name, profile=profile))
            self.cluster.create(NAMESPACE, ragpipeline(name=f"{name}-bot", store=name, profile=profile))

    def resources(self) -> list[dict[str, Any]]:
        found = []
        for plural in ("vectorstores", "ragpipelines"):
            listing = self.cluster.custom.list_namespaced_custom_object("ragops.dev", "v1alpha1", NAMESPACE, plural)
            found += listing["items"]
        return found

    def children(self) -> list[Any]:
        api = self.cluster.api
        found = []
        for kind in OWNED_KINDS:
            method, api_class = _lister(kind)
            items = getattr(api_class(api), method)(NAMESPACE, label_selector=MANAGED).items
            found += [(kind, item) for item in items]
        return found

    # -- checks --------------------------------------------------------------------------------

    def unconverged(self, *, children_only: bool = False) -> list[str]:
        """What still differs from a converged namespace (empty: converged). `children_only`: only what the
        operator makes (children, reverted edits), not readiness, which waits for pods and controllers."""
        problems = []
        resources = self.resources()
        for obj in resources if not children_only else []:
            status = obj.get("status") or {}
            if status.get("phase") != "Ready" or status.get("observedGeneration") != obj["metadata"]["generation"]:
                problems.append(f"{obj['kind']} {obj['metadata']['name']} {status.get('phase')}")
        try:
            rendered = render_objects(resources, OperatorSettings())
            expected = {(o["kind"], o["metadata"]["name"]) for o in rendered if o["kind"] in OWNED_KINDS}
        except SpecError:
            # An older operator under test (--operator-source) whose CRDs default fields these models no longer
            # know: compare with the children it had made when everything first converged.
            if self.baseline is None:
                return ["no baseline yet (an older operator's specs)"] if not self.children() else []
            expected = {key for key in self.baseline if key[1].split("-")[0] in self.names}
        actual = [(kind, item.metadata.name) for kind, item in self.children()]
        missing = expected - set(actual)
        problems += [f"missing {kind}/{name}" for kind, name in sorted(missing)]
        problems += [f"extra {kind}/{name}" for kind, name in sorted(set(actual) - expected)]
        problems += [f"edit not reverted: {what}" for what, reverted in self.edits if not reverted()]
        return problems

    def settle(self, started: float, label: str) -> None:
        """Wait for convergence, then count what did not come right and the idle writes."""
        repaired = -1.0
        try:
            wait_for(lambda: not self.unconverged(children_only=True), CONVERGE_TIMEOUT, interval=0.5,
                     what=f"children after {label}")
            repaired = time.monotonic() - started
            self.tally.repair.append(repaired)
        except AssertionError:
            pass  # counted below, with readiness
        try:
            wait_for(lambda: not self.unconverged(), CONVERGE_TIMEOUT, interval=1.0, what=f"convergence after {label}")
        except AssertionError:
            problems = self.unconverged()
            self.tally.failures.append(f"{label}: not converged in {CONVERGE_TIMEOUT:.0f}s: {problems[:8]}")
            self.tally.duplicates += sum(1 for p in problems if p.startswith("extra "))
            self.tally.edits_not_reverted += sum(1 for p in problems if p.startswith("edit not reverted"))
        took = time.monotonic() - started
        self.tally.convergence.append(took)
        self.edits.clear()
        lost = [name for name, uid in self.pvcs.items() if self._pvc_uid(name) != uid]
        self.tally.pvcs_lost += len(lost)
        changed = [name for name, data in self.keys.items() if self._secret_data(name) not in (data, None)]
        self.tally.keys_changed += len(changed)
        if lost or changed:
            self.tally.failures.append(f"{label}: PVCs lost {lost}, keys changed {changed}")
        # Idle: two resync periods, no write by the operator.
        time.sleep(1.0)
        offset = self.cluster.audit_offset()
        time.sleep(2 * RESYNC + 1)
        writes = self.cluster.writes_since(offset, NAMESPACE)
        self.tally.idle_writes += len(writes)
        if writes:
            detail = [(w["verb"], (w.get("objectRef") or {}).get("resource"), (w.get("objectRef") or {}).get("name"),
                       (w.get("objectRef") or {}).get("subresource")) for w in writes[:8]]
            self.tally.failures.append(f"{label}: {len(writes)} idle writes, e.g. {detail}")
            print(f"  {label}: idle writes {detail}", flush=True)
        print(f"  {label}: children right after {repaired:.1f}s, "
              f"Ready after {took:.1f}s, {len(writes)} idle writes", flush=True)

    def remember(self) -> None:
        """What must survive every fault: the data volumes and the generated keys."""
        self.baseline = {(kind, item.metadata.name) for kind, item in self.children()}
        for pvc in self.cluster.core.list_namespaced_persistent_volume_claim(NAMESPACE).items:
            self.pvcs[pvc.metadata.name] = pvc.metadata.uid
        for secret in self.cluster.core.list_namespaced_secret(NAMESPACE, label_selector=MANAGED).items:
            if secret.metadata.name.endswith("-api-key"):
                self.keys[secret.metadata.name] = secret.data

    def _pvc_uid(self, name: str) -> str | None:
        try:
            return str(self.cluster.core.read_namespaced_persistent_volume_claim(name, NAMESPACE).metadata.uid)
        except client.ApiException as error:
            if error.status == 404:
                return None
            raise

    def _secret_data(self, name: str) -> Any:
        try:
            return self.cluster.core.read_namespaced_secret(name, NAMESPACE).data
        except client.ApiException as error:
            if error.status == 404:
                return None  # its owner was deleted on purpose (deleted-while-down): not a changed key
            raise

    # -- the rounds ----------------------------------------------------------------------------

    def flip_profiles(self, count: int) -> None:
        """Profile changes: a small store grows to medium (a distributed store never shrinks by itself: that
        is refused with a condition), a pipeline flips either way."""
        for name in self.random.sample(self.names, count):
            if self.cluster.get("VectorStore", NAMESPACE, name)["spec"]["profile"] == "small":
                self.cluster.patch("VectorStore", NAMESPACE, name, {"spec": {"profile": "medium"}})
            pipeline = f"{name}-bot"
            current = self.cluster.get("RagPipeline", NAMESPACE, pipeline)["spec"]["profile"]
            new = "medium" if current == "small" else "small"
            self.cluster.patch("RagPipeline", NAMESPACE, pipeline, {"spec": {"profile": new}})

    def kill(self) -> None:
        for _ in range(3):
            self.flip_profiles(2)
            time.sleep(self.random.uniform(0.2, 1.0))  # mid-change: reconciles in flight
            self.operator.kill()
            self.tally.faults += 1
            self.operator.start()

    def outage_round(self) -> None:
        plane = ControlPlane(self.cluster.name)
        plane.stop()
        self.tally.faults += 1
        time.sleep(self.outage)  # the fault: the whole control plane away, the operator running
        plane.start()
        # Right after it is back, before the watches caught up: changes the operator must not miss.
        self._delete_children(2)
        self.flip_profiles(1)

    def apiserver(self) -> None:
        ControlPlane(self.cluster.name).restart_api_server()
        self.tally.faults += 1
        self._delete_children(1)

    def edits_round(self) -> None:
        # Edits first, deletions after: a deletion may hit an edited child (then it comes back unedited, which
        # counts as reverted), while editing after the deletions could race the repair of a deleted one.
        victim = self.random.choice(self.names)
        config_name = names.gateway(f"{victim}-bot")
        cm = self.cluster.core.read_namespaced_config_map(config_name, NAMESPACE)
        original = dict(cm.data or {})
        self.cluster.core.patch_namespaced_config_map(
            config_name, NAMESPACE, {"data": {k: "edited by hand" for k in original}}
        )
        self.edits.append((f"ConfigMap {config_name} data", lambda: self._configmap(config_name) == original))
        service = names.qdrant(victim)
        selector = dict(self.cluster.core.read_namespaced_service(service, NAMESPACE).spec.selector or {})
        # A value the operator owns (a key a user adds would be the user's own field, and is kept).
        edited = {**selector, "app.kubernetes.io/instance": "edited-by-hand"}
        self.cluster.core.patch_namespaced_service(service, NAMESPACE, {"spec": {"selector": edited}})
        self.edits.append((f"Service {service} selector", lambda: self._selector(service) == selector))
        self.tally.faults += 2
        self._delete_children(3)

    def qdrant_pod(self) -> None:
        pods = self.cluster.core.list_namespaced_pod(NAMESPACE, label_selector="app.kubernetes.io/component=qdrant")
        for pod in pods.items:
            if pod.metadata.name.endswith("-0"):
                self.cluster.core.delete_namespaced_pod(pod.metadata.name, NAMESPACE)
                self.tally.faults += 1

    def deleted_while_down(self) -> None:
        self.operator.stop()
        victim = self.names.pop()
        self.cluster.delete("RagPipeline", NAMESPACE, f"{victim}-bot")
        self.cluster.delete("VectorStore", NAMESPACE, victim)
        self.tally.faults += 2
        self.keys = {k: v for k, v in self.keys.items() if not k.startswith(f"{victim}-")}
        self.operator.start()

    def faulty_api(self, proxy: FaultyProxy) -> None:
        self.operator.stop()
        proxy.faults.latency, proxy.faults.error_rate = 0.2, 0.3
        self.operator.kubeconfig = proxy.kubeconfig(self.operator.log_path.with_suffix(".faulty-kubeconfig"))
        self.operator.start()
        self.flip_profiles(2)
        self._delete_children(2)
        time.sleep(30)  # the fault: 30 s of a slow API server answering 30% of requests with 503/429
        proxy.faults.latency, proxy.faults.error_rate = 0.0, 0.0
        self.tally.faults += 1
        print(f"  faulty-api: proxy answered {proxy.faults.answered}", flush=True)

    def _delete_children(self, count: int) -> None:
        candidates = [(kind, item.metadata.name) for kind, item in self.children()
                      if kind in ("ConfigMap", "Service", "Deployment", "NetworkPolicy", "HorizontalPodAutoscaler")]
        for kind, name in self.random.sample(candidates, min(count, len(candidates))):
            method, api_class = _deleter(kind)
            try:
                getattr(api_class(self.cluster.api), method)(name, NAMESPACE)
                self.tally.faults += 1
            except client.ApiException as error:
                if error.status != 404:
                    raise

    def _configmap(self, name: str) -> dict[str, str]:
        return dict(self.cluster.core.read_namespaced_config_map(name, NAMESPACE).data or {})

    def _selector(self, name: str) -> dict[str, str]:
        return dict(self.cluster.core.read_namespaced_service(name, NAMESPACE).spec.selector or {})


def _lister(kind: str) -> tuple[str, Any]:
    return _api_method("list_namespaced_", kind)


def _deleter(kind: str) -> tuple[str, Any]:
    return _api_method("delete_namespaced_", kind)


def _api_method(prefix: str, kind: str) -> tuple[str, Any]:
    apis = {
        "ConfigMap": (client.CoreV1Api, "config_map"),
        "Secret": (client.CoreV1Api, "secret"),
        "Service": (client.CoreV1Api, "service"),
        "StatefulSet": (client.AppsV1Api, "stateful_set"),
        "Deployment": (client.AppsV1Api, "deployment"),
        "PodDisruptionBudget": (client.PolicyV1Api, "pod_disruption_budget"),
        "NetworkPolicy": (client.NetworkingV1Api, "network_policy"),
        "HorizontalPodAutoscaler": (client.AutoscalingV2Api, "horizontal_pod_autoscaler"),
        "CronJob": (client.BatchV1Api, "cron_job"),
    }
    api_class, noun = apis[kind]
    return prefix + noun, api_class


def hack(*args: str) -> str:
    result = subprocess.run(["bash", str(REPO / "hack" / "cluster.sh"), *args], capture_output=True, text=True,
                            cwd=REPO)
    if result.returncode != 0:
        raise RuntimeError(f"hack/cluster.sh {' '.join(args)} failed:\n{result.stderr[-3000:]}")
    return result.stdout.strip().splitlines()[-1] if result.stdout.strip() else ""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--stacks", type=int, default=6)
    parser.add_argument("--outage", type=float, default=65.0, help="seconds the control plane stays away")
    parser.add_argument("--rounds", default=",".join(ROUNDS))
    parser.add_argument("--operator-source", default="", help="run the operator from this operator/ directory")
    parser.add_argument("--log", default="/tmp/ragops-chaos/operator.log", help="the operator's log")
    args = parser.parse_args()
    rounds = [r for r in args.rounds.split(",") if r]
    unknown = set(rounds) - set(ROUNDS)
    if unknown:
        parser.error(f"unknown rounds {sorted(unknown)}; known: {ROUNDS}")

    began = time.monotonic()
    hack("down", CLUSTER)
    kubeconfig = hack("up", CLUSTER)
    audit = Path(hack("audit-log", CLUSTER))
    kubectl = kubectl_binary()
    # The CRDs that go with the operator under test (an older checkout's for a before/after comparison).
    crds = Path(args.operator_source).parent / "crds" if args.operator_source else REPO / "crds"
    subprocess.run([kubectl, "--kubeconfig", kubeconfig, "apply", "--server-side", "-f", str(crds)],
                   check=True, capture_output=True)
    subprocess.run([kubectl, "--kubeconfig", kubeconfig, "wait", "--for=condition=Established", "crd", "--all",
                    "--timeout=60s"], check=True, capture_output=True)
    api = config.new_client_from_config(config_file=kubeconfig)
    cluster = Cluster(CLUSTER, kubeconfig, audit, api)
    cluster.core.create_namespace(client.V1Namespace(metadata=client.V1ObjectMeta(name=NAMESPACE)))
    log_path = Path(args.log)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    log_path.unlink(missing_ok=True)
    operator = Operator(cluster, NAMESPACE, log_path, resync_seconds=RESYNC, source=args.operator_source).start()
    proxy = FaultyProxy(kubeconfig, free_port())
    proxy.start()
    suite = Suite(cluster, operator, args.stacks, args.outage)
    print(f"chaos: {args.stacks} stacks, rounds {rounds}, operator log {log_path}", flush=True)
    try:
        started = time.monotonic()
        suite.create()
        suite.settle(started, "create")
        suite.remember()
        actions: dict[str, Callable[[], None]] = {
            "kill": suite.kill,
            "outage": suite.outage_round,
            "apiserver": suite.apiserver,
            "edits": suite.edits_round,
            "qdrant-pod": suite.qdrant_pod,
            "deleted-while-down": suite.deleted_while_down,
            "faulty-api": lambda: suite.faulty_api(proxy),
        }
        for name in rounds:
            print(f"round {name}", flush=True)
            actions[name]()
            suite.settle(time.monotonic(), name)
            if operator.process is None or operator.process.poll() is not None:
                suite.tally.failures.append(f"{name}: the operator exited")
                operator.start()
        status, body = operator.health("/readyz")
        if status != 200:
            suite.tally.failures.append(f"/readyz answers {status} at the end: {body}")
    finally:
        operator.stop()
        proxy.stop()
        api.close()
        hack("down", CLUSTER)
    for failure in suite.tally.failures:
        print(f"FAILED {failure}", flush=True)
    print(f"chaos took {time.monotonic() - began:.0f}s", flush=True)
    print(suite.tally.line(args.stacks), flush=True)
    return 1 if suite.tally.failures else 0


if __name__ == "__main__":
    sys.exit(main())
