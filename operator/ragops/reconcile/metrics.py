"""Operator metrics (prometheus-client), registered on a registry the runtime owns."""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class OperatorMetrics:
    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        self.reconciles = Counter(
            "ragops_reconcile_total", "Reconcile passes by kind and result", ["kind", "result"], registry=self.registry
        )
        self.duration = Histogram(
            "ragops_reconcile_duration_seconds",
            "Duration of one reconcile pass",
            ["kind"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=self.registry,
        )
        self.managed = Gauge(
            "ragops_managed_resources", "VectorStores and RagPipelines being managed", ["kind"], registry=self.registry
        )
        self.children = Gauge("ragops_managed_children", "Child objects the operator tracks", registry=self.registry)
        self.api_requests = Counter(
            "ragops_api_requests_total",
            "Requests to the Kubernetes API by HTTP method",
            ["method"],
            registry=self.registry,
        )
        self.throttled = Counter(
            "ragops_reconcile_throttled_total",
            "Passes put off because the resource was reconciled too often in the last minute (a storm)",
            ["kind"],
            registry=self.registry,
        )
        self.queue_depth = Gauge("ragops_queue_depth", "Resources waiting for a reconcile", registry=self.registry)
