"""What a reconcile pass gets to work with, and what it tells the runtime afterwards."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from ragops.models.ragpipeline import RagPipelineSpec
from ragops.models.resource import Resource
from ragops.models.vectorstore import VectorStoreSpec
from ragops.reconcile.children import ChildCache
from ragops.reconcile.conditions import Observation
from ragops.reconcile.kube import KubeClient

DEFAULT_IMAGE = "ghcr.io/ragops-dev/ragops:0.1.0"


@dataclass(frozen=True)
class OperatorSettings:
    """Operator-wide settings from the command line and environment."""

    image: str = DEFAULT_IMAGE  # default for gateways and backup jobs: the operator's own image
    namespace: str = "ragops-system"  # where the operator runs (NetworkPolicies admit it)
    resync_seconds: float = 300.0


class CollectionsChecker(Protocol):
    """Ensures a store's declared collections through Qdrant's API (swappable in tests); None: no answer yet."""

    def __call__(self, resource: Resource[VectorStoreSpec], api_key: str | None, nodes: int) -> Observation | None: ...


class GatewayHealthChecker(Protocol):
    """Reads a pipeline's per-component health from its gateway (swappable in tests); None: no answer yet."""

    def __call__(self, resource: Resource[RagPipelineSpec]) -> Observation | None: ...


def unchecked(resource: Resource[RagPipelineSpec]) -> Observation | None:
    """For contexts that never reach a gateway (tools, tests): Unknown, which changes nothing else."""
    return Observation("ProvidersReady", None, "NotChecked", "the gateway's health is not checked here")


@dataclass
class Context:
    kube: KubeClient
    children: ChildCache
    settings: OperatorSettings
    # The latest watched body of a VectorStore/RagPipeline: (kind, namespace, name) -> body.
    lookup: Callable[[str, str, str], Mapping[str, Any] | None]
    collections: CollectionsChecker
    gateway_health: GatewayHealthChecker = unchecked


@dataclass(frozen=True)
class Outcome:
    """`result` feeds the metrics; `requeue_after` asks for another pass (transient problems, waiting)."""

    result: str  # ok | waiting | invalid | error
    requeue_after: float | None = None
