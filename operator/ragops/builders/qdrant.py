"""Qdrant children of a VectorStore: StatefulSet, Services, config, API-key Secret, PDB, NetworkPolicy."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from ragops.builders import names
from ragops.builders.meta import (
    CONFIG_HASH_ANNOTATION,
    STORE_CLIENT_LABEL,
    content_hash,
    metadata,
    selector_labels,
)
from ragops.builders.pod import b64, http_probe, secret_env
from ragops.builders.security import QDRANT_UID, container_security_context, pod_security_context
from ragops.models.resolved import ResolvedVectorStore
from ragops.models.resource import Resource
from ragops.models.vectorstore import VectorStoreSpec

APP = "qdrant"
COMPONENT = "qdrant"
STORAGE_PATH = "/qdrant/storage"
SNAPSHOTS_PATH = "/qdrant/snapshots"
CONFIG_PATH = "/qdrant/config/production.yaml"
INIT_DIR = "/qdrant/init"
OPERATOR_APP = "ragops"


@dataclass(frozen=True)
class StoreInputs:
    """What a VectorStore's builders need beyond the resource itself, gathered by reconcile."""

    resolved: ResolvedVectorStore
    operator_image: str
    operator_namespace: str
    # Values of the operator-generated API keys (None when the user brings the Secret).
    api_key: str | None = None
    read_only_api_key: str | None = None
    # The storage size of an existing StatefulSet's volumeClaimTemplate, which is immutable.
    live_template_size: str | None = None


def api_key_ref(resource: Resource[VectorStoreSpec]) -> tuple[str, str]:
    """(secret name, key) of the store's API key, whether user-supplied or generated."""
    ref = resource.spec.security.api_key_secret_ref
    return (ref.name or names.qdrant_api_key(resource.name)), ref.key


def qdrant_config(resource: Resource[VectorStoreSpec], resolved: ResolvedVectorStore) -> dict[str, Any]:
    """Qdrant's production.yaml as data."""
    config: dict[str, Any] = {
        "service": {
            "http_port": names.QDRANT_HTTP_PORT,
            "grpc_port": names.QDRANT_GRPC_PORT,
            "enable_tls": False,
        },
        "storage": {"storage_path": STORAGE_PATH, "snapshots_path": SNAPSHOTS_PATH},
        "telemetry_disabled": True,
        "cluster": {"enabled": resolved.distributed},
    }
    if resolved.distributed:
        config["cluster"].update({"p2p": {"port": names.QDRANT_P2P_PORT}, "consensus": {"tick_period_ms": 100}})
    return config


def build_config_map(resource: Resource[VectorStoreSpec], inputs: StoreInputs) -> dict[str, Any]:
    config = qdrant_config(resource, inputs.resolved)
    return {
        "apiVersion": "v1",
        "kind": "ConfigMap",
        "metadata": metadata(resource, names.qdrant_config(resource.name), APP, COMPONENT),
        "data": {"production.yaml": yaml.safe_dump(config, sort_keys=True)},
    }


def build_api_key_secret(resource: Resource[VectorStoreSpec], inputs: StoreInputs) -> dict[str, Any] | None:
    """The generated API-key Secret; None when the user references their own Secret."""
    if resource.spec.security.api_key_secret_ref.name or inputs.api_key is None:
        return None
    key = resource.spec.security.api_key_secret_ref.key
    data = {key: b64(inputs.api_key)}
    if resource.spec.security.read_only_api_key and inputs.read_only_api_key:
        data["readOnlyApiKey"] = b64(inputs.read_only_api_key)
    return {
        "apiVersion": "v1",
        "kind": "Secret",
        "metadata": metadata(resource, names.qdrant_api_key(resource.name), APP, COMPONENT),
        "type": "Opaque",
        "data": data,
    }


def build_headless_service(resource: Resource[VectorStoreSpec], inputs: StoreInputs) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(resource, names.qdrant_headless(resource.name), APP, COMPONENT),
        "spec": {
            "clusterIP": "None",
            # Peers must find each other before they are Ready, or the cluster never forms.
            "publishNotReadyAddresses": True,
            "selector": selector_labels(resource, APP, COMPONENT),
            "ports": _ports(include_p2p=True),
        },
    }


def build_client_service(resource: Resource[VectorStoreSpec], inputs: StoreInputs) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": metadata(resource, names.qdrant(resource.name), APP, COMPONENT),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(resource, APP, COMPONENT),
            "ports": _ports(include_p2p=False),
        },
    }


def build_statefulset(resource: Resource[VectorStoreSpec], inputs: StoreInputs) -> dict[str, Any]:
    spec = resource.spec
    resolved = inputs.resolved
    name = names.qdrant(resource.name)
    secret_name, secret_key = api_key_ref(resource)
    env: list[dict[str, Any]] = [
        {"name": "QDRANT_INIT_FILE_PATH", "value": f"{INIT_DIR}/.qdrant-initialized"},
        secret_env("QDRANT__SERVICE__API_KEY", secret_name, secret_key),
    ]
    if spec.security.read_only_api_key:
        env.append(secret_env("QDRANT__SERVICE__READ_ONLY_API_KEY", secret_name, "readOnlyApiKey", optional=True))
    container: dict[str, Any] = {
        "name": "qdrant",
        "image": spec.qdrant.image,
        "imagePullPolicy": "IfNotPresent",
        "ports": [
            {"name": "http", "containerPort": names.QDRANT_HTTP_PORT, "protocol": "TCP"},
            {"name": "grpc", "containerPort": names.QDRANT_GRPC_PORT, "protocol": "TCP"},
            {"name": "p2p", "containerPort": names.QDRANT_P2P_PORT, "protocol": "TCP"},
        ],
        "env": env,
        "resources": resolved.resources.as_k8s(),
        # Startup allows large collections to load (up to 10 minutes) before liveness takes over.
        "startupProbe": http_probe("/readyz", period=10, timeout=5, failures=60),
        "readinessProbe": http_probe("/readyz", period=10, timeout=5, failures=3),
        "livenessProbe": http_probe("/livez", period=30, timeout=10, failures=3),
        "securityContext": container_security_context(),
        "volumeMounts": [
            {"name": "storage", "mountPath": STORAGE_PATH},
            {"name": "snapshots", "mountPath": SNAPSHOTS_PATH},
            {"name": "init", "mountPath": INIT_DIR},
            {"name": "config", "mountPath": CONFIG_PATH, "subPath": "production.yaml", "readOnly": True},
        ],
    }
    if resolved.distributed:
        # Pod 0 founds the cluster; the others join through it. Each announces its stable DNS name.
        headless = f"{names.qdrant_headless(resource.name)}.{resource.namespace}.svc"
        container["command"] = ["/bin/bash", "-c"]
        container["args"] = [
            f'uri="http://${{HOSTNAME}}.{headless}:{names.QDRANT_P2P_PORT}"; '
            f'if [ "${{HOSTNAME##*-}}" = "0" ]; then exec ./entrypoint.sh --uri "$uri"; '
            f'else exec ./entrypoint.sh --bootstrap "http://{name}-0.{headless}:{names.QDRANT_P2P_PORT}" '
            f'--uri "$uri"; fi'
        ]
    pod_spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security_context(QDRANT_UID),
        "terminationGracePeriodSeconds": 60,
        "containers": [container],
        "volumes": [
            {"name": "snapshots", "emptyDir": {}},
            {"name": "init", "emptyDir": {}},
            {"name": "config", "configMap": {"name": names.qdrant_config(resource.name)}},
        ],
    }
    if resolved.distributed:
        pod_spec["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": key,
                # Prefer spreading but still schedule on small clusters rather than stay Pending.
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": {"matchLabels": selector_labels(resource, APP, COMPONENT)},
            }
            for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
        ]
    claim_spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": inputs.live_template_size or resolved.storage_size}},
    }
    if spec.storage.storage_class_name:
        claim_spec["storageClassName"] = spec.storage.storage_class_name
    config_hash = content_hash(qdrant_config(resource, resolved))
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(resource, name, APP, COMPONENT),
        "spec": {
            "serviceName": names.qdrant_headless(resource.name),
            "replicas": resolved.replicas,
            "podManagementPolicy": "Parallel",
            "updateStrategy": {"type": "RollingUpdate"},
            "selector": {"matchLabels": selector_labels(resource, APP, COMPONENT)},
            "persistentVolumeClaimRetentionPolicy": {
                "whenDeleted": "Retain" if spec.storage.retain_on_delete else "Delete",
                # Scaling down never deletes a node's data.
                "whenScaled": "Retain",
            },
            "template": {
                "metadata": {
                    "labels": metadata(resource, name, APP, COMPONENT)["labels"],
                    "annotations": {CONFIG_HASH_ANNOTATION: config_hash},
                },
                "spec": pod_spec,
            },
            "volumeClaimTemplates": [
                {
                    "metadata": {"name": "storage", "labels": selector_labels(resource, APP, COMPONENT)},
                    "spec": claim_spec,
                }
            ],
        },
    }


def build_pod_disruption_budget(resource: Resource[VectorStoreSpec], inputs: StoreInputs) -> dict[str, Any] | None:
    if not inputs.resolved.distributed:
        return None
    return {
        "apiVersion": "policy/v1",
        "kind": "PodDisruptionBudget",
        "metadata": metadata(resource, names.qdrant(resource.name), APP, COMPONENT),
        "spec": {
            "maxUnavailable": 1,
            "selector": {"matchLabels": selector_labels(resource, APP, COMPONENT)},
        },
    }


def build_network_policy(resource: Resource[VectorStoreSpec], inputs: StoreInputs) -> dict[str, Any]:
    """Only the store's own pods (p2p), its gateways and backup jobs, the operator and allowed namespaces."""
    client_ports = [
        {"protocol": "TCP", "port": names.QDRANT_HTTP_PORT},
        {"protocol": "TCP", "port": names.QDRANT_GRPC_PORT},
    ]
    peers = {"podSelector": {"matchLabels": selector_labels(resource, APP, COMPONENT)}}
    clients: list[dict[str, Any]] = [
        {"podSelector": {"matchLabels": {STORE_CLIENT_LABEL: resource.name}}},
        {
            "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": inputs.operator_namespace}},
            "podSelector": {"matchLabels": {"app.kubernetes.io/name": OPERATOR_APP}},
        },
    ]
    clients += [
        {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": namespace}}}
        for namespace in resource.spec.security.allowed_namespaces
    ]
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(resource, names.qdrant(resource.name), APP, COMPONENT),
        "spec": {
            "podSelector": {"matchLabels": selector_labels(resource, APP, COMPONENT)},
            "policyTypes": ["Ingress"],
            "ingress": [
                {
                    "from": [peers],
                    "ports": [*client_ports, {"protocol": "TCP", "port": names.QDRANT_P2P_PORT}],
                },
                {"from": clients, "ports": client_ports},
            ],
        },
    }


def build_service_monitor(resource: Resource[VectorStoreSpec], inputs: StoreInputs) -> dict[str, Any] | None:
    if not resource.spec.monitoring.service_monitor:
        return None
    secret_name, secret_key = api_key_ref(resource)
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": metadata(resource, names.qdrant(resource.name), APP, COMPONENT),
        "spec": {
            "selector": {"matchLabels": selector_labels(resource, APP, COMPONENT)},
            "endpoints": [
                {
                    "port": "http",
                    "path": "/metrics",
                    "interval": "30s",
                    "authorization": {"type": "Bearer", "credentials": {"name": secret_name, "key": secret_key}},
                }
            ],
        },
    }


def _ports(*, include_p2p: bool) -> list[dict[str, Any]]:
    ports = [
        {"name": "http", "port": names.QDRANT_HTTP_PORT, "targetPort": "http", "protocol": "TCP"},
        {"name": "grpc", "port": names.QDRANT_GRPC_PORT, "targetPort": "grpc", "protocol": "TCP"},
    ]
    if include_p2p:
        ports.append({"name": "p2p", "port": names.QDRANT_P2P_PORT, "targetPort": "p2p", "protocol": "TCP"})
    return ports
