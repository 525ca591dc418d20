"""Child object names, in one place so builders, reconcile and docs agree."""

from __future__ import annotations

import hashlib

QDRANT_HTTP_PORT = 6333
QDRANT_GRPC_PORT = 6334
QDRANT_P2P_PORT = 6335
GATEWAY_PORT = 8080


def qdrant(store: str) -> str:
    """StatefulSet, client Service, PDB, NetworkPolicy, ServiceMonitor."""
    return f"{store}-qdrant"


def qdrant_headless(store: str) -> str:
    return f"{store}-qdrant-headless"


def qdrant_config(store: str) -> str:
    return f"{store}-qdrant-config"


def qdrant_api_key(store: str) -> str:
    return f"{store}-qdrant-api-key"


def backup(store: str) -> str:
    """CronJob and backup PVC."""
    return f"{store}-backup"


def backup_now_job(store: str, request: str) -> str:
    return f"{store}-backup-now-{_short(request)}"


def restore_job(store: str, backup_name: str) -> str:
    return f"{store}-restore-{_short(backup_name)}"


def gateway(pipeline: str) -> str:
    """Deployment, Service, HPA, ConfigMap, ServiceMonitor."""
    return f"{pipeline}-gateway"


def gateway_api_key(pipeline: str) -> str:
    return f"{pipeline}-gateway-api-key"


def qdrant_url(store: str, namespace: str) -> str:
    return f"http://{qdrant(store)}.{namespace}.svc:{QDRANT_HTTP_PORT}"


def qdrant_grpc_url(store: str, namespace: str) -> str:
    return f"http://{qdrant(store)}.{namespace}.svc:{QDRANT_GRPC_PORT}"


def qdrant_node_url(store: str, namespace: str, ordinal: int) -> str:
    return f"http://{qdrant(store)}-{ordinal}.{qdrant_headless(store)}.{namespace}.svc:{QDRANT_HTTP_PORT}"


def gateway_url(pipeline: str, namespace: str) -> str:
    return f"http://{gateway(pipeline)}.{namespace}.svc:{GATEWAY_PORT}"


def _short(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()[:8]
