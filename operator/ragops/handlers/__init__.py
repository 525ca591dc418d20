"""kopf registration only: watch events go to the runtime, which does the work."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from typing import Any

import kopf
from prometheus_client import start_http_server

from ragops import GROUP, VERSION
from ragops.handlers import streams
from ragops.health import Health, serve
from ragops.reconcile.collections import QdrantCollections
from ragops.reconcile.context import Context, OperatorSettings
from ragops.reconcile.gateway_health import GatewayHealth
from ragops.reconcile.kube import KINDS, KubeClient, load_api_client
from ragops.reconcile.runtime import Runtime
from ragops.reconcile.watches import DEFAULT_DEAD_AFTER

log = logging.getLogger(__name__)

MANAGED = {"app.kubernetes.io/managed-by": "ragops"}
# Every kind the operator creates and watches (PVCs are made by the StatefulSet controller, not watched).
CHILD_KINDS = [
    "StatefulSet",
    "Deployment",
    "Service",
    "ConfigMap",
    "Secret",
    "PodDisruptionBudget",
    "NetworkPolicy",
    "CronJob",
    "Job",
    "HorizontalPodAutoscaler",
    "ServiceMonitor",
    "PrometheusRule",
]


def _group_version(kind: str) -> tuple[str, str]:
    api_version = KINDS[kind].api_version
    group, _, version = api_version.rpartition("/")
    return group, version


def build_registry(
    settings: OperatorSettings,
    *,
    metrics_port: int | None = None,
    workers: int = 8,
    kubeconfig: str | None = None,
    make_context: Any = None,
    namespaces: Sequence[str] | None = None,
    health_port: int | None = None,
    dead_after: float | None = None,
    on_fatal: Callable[[str], None] | None = None,
) -> kopf.OperatorRegistry:
    """A registry with every handler; `make_context` lets tests swap the Qdrant access.

    `namespaces` are the watched ones (None: cluster-wide); the child cache is primed from them.
    `health_port` serves /healthz and /readyz; `on_fatal` is called when the watches stay dead (the caller
    stops the operator with a non-zero exit), after `dead_after` seconds of failing liveness."""
    registry = kopf.OperatorRegistry()
    streams.install()

    def default_context(runtime: Runtime) -> Context:
        requests = runtime.metrics.api_requests
        kube = KubeClient(
            load_api_client(kubeconfig, pool_size=workers * 2), on_request=lambda m: requests.labels(method=m).inc()
        )
        collections = QdrantCollections(on_late_answer=lambda ns, name: runtime.wake(("VectorStore", ns, name)))
        gateway_health = GatewayHealth(on_late_answer=lambda ns, name: runtime.wake(("RagPipeline", ns, name)))
        return Context(kube, runtime.children, settings, runtime.lookup, collections, gateway_health)

    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        # In-cluster ServiceAccount token or the kubeconfig, as the kubernetes client library reads them.
        return kopf.login_via_client(**kwargs)

    @kopf.on.startup(registry=registry)
    async def startup(settings: kopf.OperatorSettings, memo: kopf.Memo, **_: Any) -> None:
        configure(settings)
        runtime = Runtime(
            make_context or default_context,
            workers=workers,
            on_fatal=on_fatal,
            dead_after=dead_after if dead_after is not None else DEFAULT_DEAD_AFTER,
        )
        memo["runtime"] = runtime
        streams.attach(settings, runtime)
        if metrics_port:
            start_http_server(metrics_port, registry=runtime.metrics.registry)
        if health_port:
            health = Health(runtime.watches, started=lambda: runtime.ready, heartbeat=lambda: runtime.heartbeat)
            memo["health_server"] = serve(health, health_port)
        # Startup handlers finish before kopf starts watching: list everything once, before any event. Not
        # with namespace patterns: what kopf will watch is not known here (misses then read one by one).
        if namespaces is None or not any(_is_pattern(ns) for ns in namespaces):
            selector = ",".join(f"{k}={v}" for k, v in MANAGED.items())
            await asyncio.get_running_loop().run_in_executor(None, runtime.prime, CHILD_KINDS, namespaces, selector)
        runtime.start(resync_seconds=runtime.context.settings.resync_seconds)

    @kopf.on.cleanup(registry=registry)
    async def cleanup(memo: kopf.Memo, **_: Any) -> None:
        runtime = memo.get("runtime")
        if runtime is not None:
            await runtime.stop()
        server = memo.get("health_server")
        if server is not None:
            server.shutdown()

    @kopf.on.event(GROUP, VERSION, "vectorstores", registry=registry)
    @kopf.on.event(GROUP, VERSION, "ragpipelines", registry=registry)
    async def parent_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
        memo["runtime"].observe_parent(event.get("type"), event["object"])

    for kind in CHILD_KINDS:
        group, version = _group_version(kind)

        @kopf.on.event(group, version, KINDS[kind].plural, labels=MANAGED, registry=registry)
        async def child_event(event: kopf.RawEvent, memo: kopf.Memo, **_: Any) -> None:
            memo["runtime"].observe_child(event.get("type"), event["object"])

    return registry


def _matches(group: str, plural: str) -> Callable[[Any], bool]:
    def check(resource: Any) -> bool:
        return bool(resource.group == group and resource.plural == plural)

    return check


def _is_pattern(namespace: str) -> bool:
    """kopf accepts globs, negations and lists as namespaces."""
    return any(c in namespace for c in "*?[!,")


class EventsOnlyDiffBase(kopf.AnnotationsDiffBaseStorage):
    """kopf builds a diff base (a deep copy of the whole body, managedFields included) on every event, for
    change-detecting handlers (on.create/update/...). This operator registers none: skip the copy, which was
    the largest single cost of the operator's CPU while converging."""

    def build(self, *, body: kopf.Body, extra_fields: Any = None) -> kopf.BodyEssence:
        return kopf.BodyEssence()


def configure(settings: kopf.OperatorSettings) -> None:
    """kopf's own bookkeeping, set explicitly (DESIGN.md): annotations under ragops.dev, no handler Events."""
    settings.persistence.progress_storage = kopf.AnnotationsProgressStorage(prefix=GROUP)
    settings.persistence.diffbase_storage = EventsOnlyDiffBase(prefix=GROUP, key="last-handled-configuration")
    settings.persistence.finalizer = f"{GROUP}/finalizer"
    # The runtime posts its own Events on transitions; kopf's per-handler Events would be idle writes.
    settings.posting.enabled = False
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
    settings.watching.connect_timeout = 10
    settings.networking.request_timeout = 60
    # Memory (docs/architecture.md, Performance): the handlers only hand bodies to the runtime, so kopf's
    # per-object workers need not idle for seconds holding the last body, and listings come in pages.
    settings.queueing.worker_limit = 1000
    settings.queueing.idle_timeout = 0.5
    settings.watching.chunk_size = 200
    # Children are filtered by the API server, not after the fact: the operator never receives (nor holds in
    # memory, nor needs RBAC to read) other people's ConfigMaps, Secrets, Services...
    selector = ",".join(f"{k}={v}" for k, v in MANAGED.items())
    for kind in CHILD_KINDS:
        group, _ = _group_version(kind)
        plural = KINDS[kind].plural
        settings.watching.label_selectors[_matches(group, plural)] = selector
    # Every watch event would log "Handler succeeded" at INFO; our own logs say what matters.
    logging.getLogger("kopf.objects").setLevel(logging.WARNING)
