"""Qdrant children of a VectorStore: StatefulSet, Services, config, API-key Secret, PDB, NetworkPolicy."""

from __future__ import annotations

import math
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
from ragops.models.base import quantity
from ragops.models.qdrant_config import merged
from ragops.models.resolved import ResolvedVectorStore
from ragops.models.resource import Resource
from ragops.models.scheduling import SpreadPolicy
from ragops.models.vectorstore import VectorStoreSpec

APP = "qdrant"
COMPONENT = "qdrant"
STORAGE_PATH = "/qdrant/storage"
SNAPSHOTS_PATH = "/qdrant/snapshots"
CONFIG_PATH = "/qdrant/config/production.yaml"
INIT_DIR = "/qdrant/init"
OPERATOR_APP = "ragops"
# The pod-template annotation that carries a hash of the API keys' values (never the values): a rotated key
# in a user's Secret changes it, and the StatefulSet rolls the pods one at a time to load the new key.
API_KEY_HASH_ANNOTATION = "ragops.dev/api-key-hash"
# The label that tells the client Service from the headless one: the ServiceMonitor selects only it, so each
# pod is scraped once.
METRICS_SERVICE_LABEL = "ragops.dev/metrics"
# Startup: Qdrant answers /livez only once it has loaded its collections from disk, which grows with the data.
STARTUP_BASE_SECONDS = 600
STARTUP_SECONDS_PER_GIB = 6  # ~170 MiB/s of segment loading; 1Ti gets ~1 h 52 min
STARTUP_PERIOD_SECONDS = 10
# Services stop routing to a terminating pod a moment after it is marked terminating; keep serving meanwhile.
PRESTOP_DELAY_SECONDS = 5
INIT_VOLUME_LIMIT = "16Mi"  # the initialisation marker file only
EPHEMERAL_REQUEST = "1Gi"  # logs and what a snapshot emptyDir holds between backups (usually nothing)


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
    # A hash of the API keys' current values (reconcile reads them), for the pod template.
    api_key_hash: str | None = None
    # Whether a user-supplied Secret holds a `readOnlyApiKey` (a generated Secret always does when enabled).
    read_only_key_in_secret: bool = False


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
    user = resource.spec.qdrant.config
    return merged(config, user.as_qdrant()) if user is not None else config


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
        "metadata": _with_labels(
            metadata(resource, names.qdrant(resource.name), APP, COMPONENT), {METRICS_SERVICE_LABEL: "true"}
        ),
        "spec": {
            "type": "ClusterIP",
            "selector": selector_labels(resource, APP, COMPONENT),
            "ports": _ports(include_p2p=False),
        },
    }


def startup_failures(storage_size: str) -> int:
    """Startup probe attempts: 10 minutes, plus time to load each GiB a node may hold."""
    gib = float(quantity(storage_size) or 0) / 2**30
    return math.ceil((STARTUP_BASE_SECONDS + STARTUP_SECONDS_PER_GIB * gib) / STARTUP_PERIOD_SECONDS)


def start_script(resource: Resource[VectorStoreSpec], resolved: ResolvedVectorStore) -> str:
    """The container's shell: raise the open-file limit (Qdrant never does, and many segments need it),
    then start Qdrant; in a cluster, pod 0 founds it and the others join through pod 0."""
    script = 'ulimit -n "$(ulimit -Hn)" || echo "ragops: could not raise the open-file limit" >&2; '
    if not resolved.distributed:
        return script + "exec ./entrypoint.sh"
    name = names.qdrant(resource.name)
    headless = f"{names.qdrant_headless(resource.name)}.{resource.namespace}.svc"
    founder = f"{name}-0.{headless}"
    port = names.QDRANT_P2P_PORT
    # A first join waits for pod 0's p2p port (pods start in parallel: Qdrant tries its bootstrap peer once
    # and exits). A node that already joined has the cluster in its raft state and needs no bootstrap peer.
    return script + (
        f'uri="http://${{HOSTNAME}}.{headless}:{port}"; '
        f'if [ "${{HOSTNAME##*-}}" = "0" ]; then exec ./entrypoint.sh --uri "$uri"; fi; '
        f"if [ ! -e {STORAGE_PATH}/raft_state.json ]; then "
        f"until (exec 3<>/dev/tcp/{founder}/{port}) 2>/dev/null; do "
        f'echo "ragops: waiting for {founder}:{port} to join the cluster"; sleep 2; done; fi; '
        f'exec ./entrypoint.sh --bootstrap "http://{founder}:{port}" --uri "$uri"'
    )


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
    storage_size = inputs.live_template_size or resolved.storage_size
    resources = resolved.resources.as_k8s()
    resources["requests"]["ephemeral-storage"] = EPHEMERAL_REQUEST
    container: dict[str, Any] = {
        "name": "qdrant",
        "image": spec.qdrant.image,
        "imagePullPolicy": "IfNotPresent",
        "command": ["/bin/bash", "-c"],
        "args": [start_script(resource, resolved)],
        "ports": [
            {"name": "http", "containerPort": names.QDRANT_HTTP_PORT, "protocol": "TCP"},
            {"name": "grpc", "containerPort": names.QDRANT_GRPC_PORT, "protocol": "TCP"},
            {"name": "p2p", "containerPort": names.QDRANT_P2P_PORT, "protocol": "TCP"},
        ],
        "env": env,
        "resources": resources,
        # /readyz waits for consensus and every local shard to recover: right for routing, wrong for restarts
        # (a big node recovering would be killed and start its transfers again). Startup and liveness only ask
        # whether the process serves (/livez), with a startup budget that grows with the node's storage.
        "startupProbe": http_probe(
            "/livez", period=STARTUP_PERIOD_SECONDS, timeout=5, failures=startup_failures(storage_size)
        ),
        "readinessProbe": http_probe("/readyz", period=10, timeout=5, failures=3),
        "livenessProbe": http_probe("/livez", period=30, timeout=10, failures=3),
        "lifecycle": {"preStop": {"exec": {"command": ["sleep", str(PRESTOP_DELAY_SECONDS)]}}},
        "securityContext": container_security_context(),
        "volumeMounts": [
            {"name": "storage", "mountPath": STORAGE_PATH},
            {"name": "snapshots", "mountPath": SNAPSHOTS_PATH},
            {"name": "init", "mountPath": INIT_DIR},
            {"name": "config", "mountPath": CONFIG_PATH, "subPath": "production.yaml", "readOnly": True},
        ],
    }
    pod_spec: dict[str, Any] = {
        "automountServiceAccountToken": False,
        "enableServiceLinks": False,
        "securityContext": pod_security_context(QDRANT_UID),
        "terminationGracePeriodSeconds": 60,
        "containers": [container],
        "volumes": [
            _snapshot_volume(resource, storage_size),
            {"name": "init", "emptyDir": {"sizeLimit": INIT_VOLUME_LIMIT}},
            {"name": "config", "configMap": {"name": names.qdrant_config(resource.name)}},
        ],
        **_scheduling(resource, resolved),
    }
    claim_spec: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": storage_size}},
    }
    if spec.storage.storage_class_name:
        claim_spec["storageClassName"] = spec.storage.storage_class_name
    annotations = {CONFIG_HASH_ANNOTATION: content_hash(qdrant_config(resource, resolved))}
    if inputs.api_key_hash:
        annotations[API_KEY_HASH_ANNOTATION] = inputs.api_key_hash
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": metadata(resource, name, APP, COMPONENT),
        "spec": {
            "serviceName": names.qdrant_headless(resource.name),
            "replicas": resolved.replicas,
            "podManagementPolicy": "Parallel",
            # One pod at a time (the default partition and maxUnavailable): an image, config or key change
            # never takes more than one replica away.
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
                    "annotations": annotations,
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


def _snapshot_volume(resource: Resource[VectorStoreSpec], storage_size: str) -> dict[str, Any]:
    """Where Qdrant writes snapshots: a per-pod ephemeral PVC when asked for, else a bounded emptyDir."""
    wanted = resource.spec.storage.snapshot_volume
    if wanted is None:
        # Bounded by the node's own data: a full snapshot of it fits, a runaway one is evicted, not the node.
        return {"name": "snapshots", "emptyDir": {"sizeLimit": storage_size}}
    claim: dict[str, Any] = {
        "accessModes": ["ReadWriteOnce"],
        "resources": {"requests": {"storage": wanted.size or storage_size}},
    }
    if wanted.storage_class_name:
        claim["storageClassName"] = wanted.storage_class_name
    return {
        "name": "snapshots",
        "ephemeral": {
            "volumeClaimTemplate": {
                "metadata": {"labels": selector_labels(resource, APP, "snapshots")},
                "spec": claim,
            }
        },
    }


def _scheduling(resource: Resource[VectorStoreSpec], resolved: ResolvedVectorStore) -> dict[str, Any]:
    """nodeSelector, tolerations, priority and affinity from the spec, plus how the peers spread."""
    qdrant = resource.spec.qdrant
    out: dict[str, Any] = {}
    if qdrant.node_selector:
        out["nodeSelector"] = dict(qdrant.node_selector)
    if qdrant.tolerations:
        out["tolerations"] = [toleration.as_k8s() for toleration in qdrant.tolerations]
    if qdrant.priority_class_name:
        out["priorityClassName"] = qdrant.priority_class_name
    affinity = {section: value for section, value in qdrant.affinity.items()}
    peers = {"matchLabels": selector_labels(resource, APP, COMPONENT)}
    if resolved.distributed and qdrant.spread == SpreadPolicy.REQUIRED:
        anti = dict(affinity.get("podAntiAffinity") or {})
        required = list(anti.get("requiredDuringSchedulingIgnoredDuringExecution") or [])
        required.append({"labelSelector": peers, "topologyKey": "kubernetes.io/hostname"})
        anti["requiredDuringSchedulingIgnoredDuringExecution"] = required
        affinity["podAntiAffinity"] = anti
    if affinity:
        out["affinity"] = affinity
    if resolved.distributed:
        out["topologySpreadConstraints"] = [
            {
                "maxSkew": 1,
                "topologyKey": key,
                # Preferred: spread but still schedule on small clusters rather than stay Pending. Required
                # is enforced by the anti-affinity above (one pod per node), zones stay a preference.
                "whenUnsatisfiable": "ScheduleAnyway",
                "labelSelector": peers,
            }
            for key in ("topology.kubernetes.io/zone", "kubernetes.io/hostname")
        ]
    return out


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
    ingress: list[dict[str, Any]] = [
        {
            "from": [peers],
            "ports": [*client_ports, {"protocol": "TCP", "port": names.QDRANT_P2P_PORT}],
        },
        {"from": clients, "ports": client_ports},
    ]
    prometheus = resource.spec.monitoring.prometheus_namespace
    if prometheus:
        # Metrics only: the scraper's namespace reaches the HTTP port, not gRPC or p2p.
        ingress.append(
            {
                "from": [{"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": prometheus}}}],
                "ports": [{"protocol": "TCP", "port": names.QDRANT_HTTP_PORT}],
            }
        )
    return {
        "apiVersion": "networking.k8s.io/v1",
        "kind": "NetworkPolicy",
        "metadata": metadata(resource, names.qdrant(resource.name), APP, COMPONENT),
        "spec": {
            "podSelector": {"matchLabels": selector_labels(resource, APP, COMPONENT)},
            "policyTypes": ["Ingress"],
            "ingress": ingress,
        },
    }


def build_service_monitor(resource: Resource[VectorStoreSpec], inputs: StoreInputs) -> dict[str, Any] | None:
    if not resource.spec.monitoring.service_monitor:
        return None
    secret_name, secret_key = api_key_ref(resource)
    if resource.spec.security.read_only_api_key and (inputs.read_only_api_key or inputs.read_only_key_in_secret):
        secret_key = "readOnlyApiKey"  # metrics are a read: the scraper never holds the write key
    return {
        "apiVersion": "monitoring.coreos.com/v1",
        "kind": "ServiceMonitor",
        "metadata": metadata(resource, names.qdrant(resource.name), APP, COMPONENT),
        "spec": {
            # The client Service only: the headless one selects the same pods, and would scrape each twice.
            "selector": {"matchLabels": {**selector_labels(resource, APP, COMPONENT), METRICS_SERVICE_LABEL: "true"}},
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


def _with_labels(meta: dict[str, Any], extra: dict[str, str]) -> dict[str, Any]:
    return {**meta, "labels": {**meta["labels"], **extra}}


def _ports(*, include_p2p: bool) -> list[dict[str, Any]]:
    ports = [
        {"name": "http", "port": names.QDRANT_HTTP_PORT, "targetPort": "http", "protocol": "TCP"},
        {"name": "grpc", "port": names.QDRANT_GRPC_PORT, "targetPort": "grpc", "protocol": "TCP"},
    ]
    if include_p2p:
        ports.append({"name": "p2p", "port": names.QDRANT_P2P_PORT, "targetPort": "p2p", "protocol": "TCP"})
    return ports
