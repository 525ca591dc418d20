"""Pure functions: a validated resource and its inputs in, Kubernetes objects (dicts) out."""

from __future__ import annotations

from typing import Any

from ragops.builders import backup, gateway, qdrant
from ragops.builders.gateway import PipelineInputs
from ragops.builders.meta import labels
from ragops.builders.prometheus_rule import build_prometheus_rule
from ragops.builders.qdrant import StoreInputs
from ragops.models.ragpipeline import RagPipelineSpec
from ragops.models.resource import Resource
from ragops.models.vectorstore import VectorStoreSpec

__all__ = ["PipelineInputs", "StoreInputs", "build_pipeline_children", "build_vectorstore_children"]


def build_vectorstore_children(resource: Resource[VectorStoreSpec], inputs: StoreInputs) -> list[dict[str, Any]]:
    """Every object a VectorStore wants, in apply order (config and Secret before the pods that read them)."""
    candidates = [
        qdrant.build_config_map(resource, inputs),
        qdrant.build_api_key_secret(resource, inputs),
        qdrant.build_headless_service(resource, inputs),
        qdrant.build_client_service(resource, inputs),
        qdrant.build_statefulset(resource, inputs),
        qdrant.build_pod_disruption_budget(resource, inputs),
        qdrant.build_network_policy(resource, inputs),
        qdrant.build_service_monitor(resource, inputs),
        backup.build_backup_pvc(resource, inputs),
        backup.build_cronjob(resource, inputs),
    ]
    return [obj for obj in candidates if obj is not None]


def build_pipeline_children(resource: Resource[RagPipelineSpec], inputs: PipelineInputs) -> list[dict[str, Any]]:
    """Every object a RagPipeline wants, in apply order."""
    candidates = [
        gateway.build_config_map(resource, inputs),
        gateway.build_api_key_secret(resource, inputs),
        gateway.build_network_policy(resource, inputs),  # before the pods it guards
        gateway.build_service(resource, inputs),
        gateway.build_deployment(resource, inputs),
        gateway.build_hpa(resource, inputs),
        gateway.build_pod_disruption_budget(resource, inputs),
        gateway.build_service_monitor(resource, inputs),
        build_prometheus_rule(resource, labels(resource, gateway.APP, gateway.COMPONENT))
        if resource.spec.monitoring.prometheus_rule
        else None,
    ]
    return [obj for obj in candidates if obj is not None]
