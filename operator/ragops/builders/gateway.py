"""Gateway children of a RagPipeline: Deployment, Service, HPA, ConfigMap, API-key Secret, PDB, NetworkPolicy,
ServiceMonitor."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import yaml

from ragops import API_VERSION
from ragops.builders import names
from ragops.builders.meta import CONFIG_HASH_ANNOTATION, STORE_CLIENT_LABEL, content_hash, metadata, selector_labels
from ragops.builders.pod import b64, http_probe
from ragops.builders.qdrant import OPERATOR_APP
from ragops.builders.security import container_security_context, pod_security_context
from ragops.models.ragpipeline import RagPipelineSpec
from ragops.models.resolved import ResolvedPipeline
from ragops.models.resource import Resource

APP = "ragops-gateway"
COMPONENT = "gateway"
CONFIG_DIR = "/etc/ragops"
PIPELINE_FILE = "pipeline.yaml"
# The gateway's keys, one file each, from their Secrets (a projected volume the kubelet updates on rotation).
KEYS_DIR = "/etc/ragops-keys"
# Owner root, group the pod's fsGroup (65532, the gateway's own group): readable by the gateway only.
KEYS_MODE = 0o440
NAMESPACE_LABEL = "kubernetes.io/metadata.name"
SPREAD_KEYS = ("topology.kubernetes.io/zone", "kubernetes.io/hostname")


@dataclass(frozen=True)
class PipelineInputs:
    """What a RagPipeline's builders need beyond the resource itself, gathered by reconcile."""

    resolved: ResolvedPipeline
    operator_image: str
    # The bound VectorStore's API-key Secret (name, key).
    store_api_key: tuple[str, str]
    # Value of the operator-generated gateway API key (None when the user brings the Secret).
    gateway_api_key: str | None = None
    # Where the operator runs: the NetworkPolicy admits its health check of the gateway (/health).
    operator_namespace: str = field(kw_only=True)


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


@dataclass(frozen=True)
class KeyFile:
    """One key the gateway reads from a file: the variable naming the file, and the Secret key it holds."""

    env: str  # the gateway reads `<env>_FILE` (ragops.gateway.config)
    file: str
    secret: str
    key: str

    @property
    def path(self) -> str:
        return f"{KEYS_DIR}/{self.file}"


def key_files(resource: Resource[RagPipelineSpec], inputs: PipelineInputs) -> list[KeyFile]:
    """Every key of the gateway pod: its own API key, the store's, and the providers' that have one."""
    spec = resource.spec
    files = [
        KeyFile("RAGOPS_GATEWAY_API_KEY", "gateway-api-key", *gateway_api_key_ref(resource)),
        KeyFile("RAGOPS_QDRANT_API_KEY", "qdrant-api-key", *inputs.store_api_key),
    ]
    if spec.embedding.api_key_secret_ref is not None:
        ref = spec.embedding.api_key_secret_ref
        files.append(KeyFile("RAGOPS_EMBEDDING_API_KEY", "embedding-api-key", ref.name, ref.key))
    if spec.llm is not None and spec.llm.api_key_secret_ref is not None:  # no llm: retrieval only
        ref = spec.llm.api_key_secret_ref
        files.append(KeyFile("RAGOPS_LLM_API_KEY", "llm-api-key", ref.name, ref.key))
    return files


def keys_volume(files: list[KeyFile]) -> dict[str, Any]:
    """The keys as files, not environment variables: not in `kubectl describe`, the process's environment or
    crash dumps, and updated in place when a Secret rotates (environment variables never are)."""
    sources = [{"secret": {"name": f.secret, "items": [{"key": f.key, "path": f.file}]}} for f in files]
    return {"name": "keys", "projected": {"defaultMode": KEYS_MODE, "sources": sources}}


def build_deployment(resource: Resource[RagPipelineSpec], inputs: PipelineInputs) -> dict[str, Any]:
    spec = resource.spec
    scratch = inputs.resolved.scratch
    files = key_files(resource, inputs)
    env: list[dict[str, Any]] = [
        {"name": "RAGOPS_QDRANT_URL", "value": names.qdrant_url(spec.vector_store_ref.name, resource.namespace)},
        *({"name": f"{f.env}_FILE", "value": f.path} for f in files),
        {"name": "RAGOPS_WORKERS", "value": str(inputs.resolved.workers)},
    ]
    resources = inputs.resolved.resources.as_k8s()
    resources["requests"]["ephemeral-storage"] = scratch.request
    resources["limits"]["ephemeral-storage"] = scratch.limit
    container = {
        "name": "gateway",
        "image": spec.gateway.image or inputs.operator_image,
        "imagePullPolicy": "IfNotPresent",
        "args": ["gateway", "--pipeline", f"{CONFIG_DIR}/{PIPELINE_FILE}", "--port", str(names.GATEWAY_PORT)],
        "ports": [{"name": "http", "containerPort": names.GATEWAY_PORT, "protocol": "TCP"}],
        "env": env,
        "resources": resources,
        "startupProbe": http_probe("/healthz", period=5, timeout=5, failures=24),
        "readinessProbe": http_probe("/readyz", period=10, timeout=10, failures=3),
        "livenessProbe": http_probe("/healthz", period=30, timeout=10, failures=3),
        "securityContext": container_security_context(),
        "volumeMounts": [
            {"name": "config", "mountPath": CONFIG_DIR, "readOnly": True},
            {"name": "keys", "mountPath": KEYS_DIR, "readOnly": True},
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
                    # One node or zone going away takes only part of the API down. Preferred, not required:
                    # a small cluster (one node, no zone labels) still runs every replica.
                    "topologySpreadConstraints": [
                        {
                            "maxSkew": 1,
                            "topologyKey": key,
                            "whenUnsatisfiable": "ScheduleAnyway",
                            "labelSelector": {"matchLabels": selector_labels(resource, APP, COMPONENT)},
                        }
                        for key in SPREAD_KEYS
                    ],
                    "volumes": [
                        {"name": "config", "configMap": {"name": names.gateway(resource.name)}},
                        keys_volume(files),
                        {"name": "tmp", "emptyDir": {"sizeLimit": scratch.size_limit}},
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


def build_pod_disruption_budget(resource: Resource[RagPipelineSpec], inputs: PipelineInputs) -> dict[str, Any] | None:
    """Only for gateways that keep two pods or more: a drain then evicts one at a time, the others serve.
    With one pod a budget would block drains (or allow everything), so there is none, and a lower minimum
    prunes it."""
    if not inputs.resolved.highly_available:
        return None
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(resource, names.gateway(resource.name), APP, COMPONENT),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": selector_labels(resource, APP, COMPONENT)},
            # Gateway pods hold no state: one that is not ready (a bad provider key, say) must not block a drain.
            "unhealthyPodEvictionPolicy": "AlwaysAllow",
        },
    }


def build_network_policy(resource: Resource[RagPipelineSpec], inputs: PipelineInputs) -> dict[str, Any] | None:
    """Ingress to the gateway port from the pipeline's declared clients only; egress stays open (providers are
    outside the cluster, at addresses a policy cannot know). Probes come from the node, which NetworkPolicy
    implementations admit."""
    network = resource.spec.gateway.network_policy
    if not network.enabled:
        return None
    clients: list[dict[str, Any]] = [
        {
            "namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: inputs.operator_namespace}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": OPERATOR_APP}},
        }
    ]
    if network.allow_same_namespace:
        clients.append({"podSelector": {}})
    namespaces = [*network.allowed_namespaces]
    if resource.spec.monitoring.prometheus_namespace:
        namespaces.append(resource.spec.monitoring.prometheus_namespace)
    clients += [{"namespaceSelector": {"matchLabels": {NAMESPACE_LABEL: namespace}}} for namespace in namespaces]
    for pods in network.allowed_pods:
        peer: dict[str, Any] = {"podSelector": {"matchLabels": dict(pods.match_labels)}}
        if pods.namespace and pods.namespace != resource.namespace:
            peer["namespaceSelector"] = {"matchLabels": {NAMESPACE_LABEL: pods.namespace}}
        clients.append(peer)
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(resource, names.gateway(resource.name), APP, COMPONENT),
        "spec": {
            "podSelector": {"matchLabels": selector_labels(resource, APP, COMPONENT)},
            "policyTypes": ["Ingress"],
            "ingress": [{"from": clients, "ports": [{"protocol": "TCP", "port": names.GATEWAY_PORT}]}],
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
