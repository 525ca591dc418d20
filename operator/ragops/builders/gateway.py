"""Gateway children of a RagPipeline: Deployment, Service, HPA, ConfigMap, API-key Secret, ServiceMonitor."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from ragops import API_VERSION
from ragops.builders import names
from ragops.builders.meta import CONFIG_HASH_ANNOTATION, STORE_CLIENT_LABEL, content_hash, metadata, selector_labels
from ragops.builders.pod import b64, http_probe, secret_env
from ragops.builders.security import container_security_context, pod_security_context
from ragops.models.ragpipeline import RagPipelineSpec
from ragops.models.resolved import ResolvedPipeline
from ragops.models.resource import Resource

APP = "ragops-gateway"
COMPONENT = "gateway"
CONFIG_DIR = "/etc/ragops"
PIPELINE_FILE = "pipeline.yaml"


@dataclass(frozen=True)
class PipelineInputs:
    """What a RagPipeline's builders need beyond the resource itself, gathered by reconcile."""

    resolved: ResolvedPipeline
    operator_image: str
    # The bound VectorStore's API-key Secret (name, key).
    store_api_key: tuple[str, str]
    # Value of the operator-generated gateway API key (None when the user brings the Secret).
    gateway_api_key: str | None = None


def gateway_api_key_ref(resource: Resource[RagPipelineSpec]) -> tuple[str, str]:
    ref = resource.spec.gateway.auth.api_key_secret_ref
    return (ref.name or names.gateway_api_key(resource.name)), ref.key


def pipeline_manifest(resource: Resource[RagPipelineSpec]) -> dict[str, Any]:
    """The manifest the gateway reads (`ragops gateway --pipeline`): the same shape a user writes."""
    return {
        "apiVersion": API_VERSION,
        "kind": "RagPipeline",
        "metadata": {"name": resource.name, "namespace": resource.namespace},
        "spec": resource.spec.wire(),
    }


def build_config_map(resource: Resource[RagPipelineSpec], inputs: PipelineInputs) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(resource, names.gateway(resource.name), APP, COMPONENT),
        "data": {PIPELINE_FILE: yaml.safe_dump(pipeline_manifest(resource), sort_keys=True)},
    }


def build_api_key_secret(resource: Resource[RagPipelineSpec], inputs: PipelineInputs) -> dict[str, Any] | None:
    if resource.spec.gateway.auth.api_key_secret_ref.name or inputs.gateway_api_key is None:
        return None
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(resource, names.gateway_api_key(resource.name), APP, COMPONENT),
        "type": "Opaque",
        "data": {resource.spec.gateway.auth.api_key_secret_ref.key: b64(inputs.gateway_api_key)},
    }


def build_deployment(resource: Resource[RagPipelineSpec], inputs: PipelineInputs) -> dict[str, Any]:
    spec = resource.spec
    gateway_secret, gateway_key = gateway_api_key_ref(resource)
    store_secret, store_key = inputs.store_api_key
    env: list[dict[str, Any]] = [
        {"name": "RAGOPS_QDRANT_URL", "value": names.qdrant_url(spec.vector_store_ref.name, resource.namespace)},
        secret_env("RAGOPS_QDRANT_API_KEY", store_secret, store_key),
        secret_env("RAGOPS_GATEWAY_API_KEY", gateway_secret, gateway_key),
        {"name": "RAGOPS_WORKERS", "value": str(inputs.resolved.workers)},
    ]
    if spec.embedding.api_key_secret_ref is not None:
        ref = spec.embedding.api_key_secret_ref
        env.append(secret_env("RAGOPS_EMBEDDING_API_KEY", ref.name, ref.key))
    if spec.llm is not None and spec.llm.api_key_secret_ref is not None:  # no llm: retrieval only
        ref = spec.llm.api_key_secret_ref
        env.append(secret_env("RAGOPS_LLM_API_KEY", ref.name, ref.key))
    container = {
        "name": "gateway",
        "image": spec.gateway.image or inputs.operator_image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["gateway", "--pipeline", f"{CONFIG_DIR}/{PIPELINE_FILE}", "--port", str(names.GATEWAY_PORT)],
        "ports": [{"name": "http", "containerPort": names.GATEWAY_PORT, "protocol": "TCP"}],
        "env": env,
        "resources": inputs.resolved.resources.as_k8s(),
        "startupProbe": http_probe("/healthz", period=5, timeout=5, failures=24),
        "readinessProbe": http_probe("/readyz", period=10, timeout=10, failures=3),
        "livenessProbe": http_probe("/healthz", period=30, timeout=10, failures=3),
        "securityContext": container_security_context(),
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "tmp", "mountPath": "/tmp"},
        ],
    }
    pod_labels = {
        **metadata(resource, "", APP, COMPONENT)["labels"],
        STORE_CLIENT_LABEL: spec.vector_store_ref.name,
    }
    return {
        "apiVersion": "apps/v1",
        "kind": "Deployment",
        "metadata": metadata(resource, names.gateway(resource.name), APP, COMPONENT),
        # No `replicas`: the HPA owns it, and writing it here would fight the autoscaler.
        "spec": {
            "selector": {"matchLabels": selector_labels(resource, APP, COMPONENT)},
            "strategy": {"type": "RollingUpdate", "rollingUpdate": {"maxUnavailable": 0, "maxSurge": 1}},
            "template": {
                "metadata": {
                    "labels": pod_labels,
                    "annotations": {CONFIG_HASH_ANNOTATION: content_hash(pipeline_manifest(resource))},
                },
                "spec": {
                    "automountServiceAccountToken": False,
                    "enableServiceLinks": False,
                    "securityContext": pod_security_context(),
                    "terminationGracePeriodSeconds": 30,
                    "containers": [container],
                    "volumes": [
                        {"name": "config", "configMap": {"name": names.gateway(resource.name)}},
                        {"name": "tmp", "emptyDir": {}},
                    ],
                },
            },
        },
    }


def build_service(resource: Resource[RagPipelineSpec], inputs: PipelineInputs) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(resource, names.gateway(resource.name), APP, COMPONENT),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(resource, APP, COMPONENT),
            "ports": [{"name": "http", "port": names.GATEWAY_PORT, "targetPort": "http", "protocol": "TCP"}],
        },
    }


def build_hpa(resource: Resource[RagPipelineSpec], inputs: PipelineInputs) -> dict[str, Any]:
    return {
        "apiVersion": "autoscaling/v2",
        "kind": "HorizontalPodAutoscaler",
        "metadata": metadata(resource, names.gateway(resource.name), APP, COMPONENT),
        "spec": {
            "scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": names.gateway(resource.name)},
            "minReplicas": inputs.resolved.min_replicas,
            "maxReplicas": inputs.resolved.max_replicas,
            "metrics": [
                {
                    "type": "Resource",
                    "resource": {
                        "name": "cpu",
                        "target": {
                            "type": "Utilization",
                            "averageUtilization": resource.spec.gateway.autoscaling.target_cpu_utilization,
                        },
                    },
                }
            ],
        },
    }


def build_service_monitor(resource: Resource[RagPipelineSpec], inputs: PipelineInputs) -> dict[str, Any] | None:
    if not resource.spec.monitoring.service_monitor:
        return None
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": metadata(resource, names.gateway(resource.name), APP, COMPONENT),
        "spec": {
            "selector": {"matchLabels": selector_labels(resource, APP, COMPONENT)},
            "endpoints": [{"port": "http", "path": "/metrics", "interval": "30s"}],
        },
    }
