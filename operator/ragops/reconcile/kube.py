"""The operator's access to the Kubernetes API: server-side apply, reads, deletes, status, Events.

The only module of the reconcile layer that sends requests. Thread-safe: reconciles run in worker threads.
"""

from __future__ import annotations

import datetime
import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubernetes import client, config
from kubernetes.client.exceptions import ApiException

from ragops import API_VERSION, FIELD_MANAGER, __version__

log = logging.getLogger(__name__)

LIST_PAGE = 500
# Lists of metadata only (PartialObjectMetadataList): names without specs, a fraction of the bytes.
METADATA_LIST = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1, application/json"


@dataclass(frozen=True)
class Kind:
    api_version: str
    kind: str
    plural: str

    def path(self, namespace: str | None, name: str | None = None) -> str:
        """The object's URL path; the kind's cluster-wide collection when `namespace` is None."""
        group_path = f"/api/{self.api_version}" if "/" not in self.api_version else f"/apis/{self.api_version}"
        if namespace is None:
            return f"{group_path}/{self.plural}"
        path = f"{group_path}/namespaces/{namespace}/{self.plural}"
        return f"{path}/{name}" if name else path


KINDS: dict[str, Kind] = {
    k.kind: k
    for k in [
        Kind("v1", "ConfigMap", "configmaps"),
        Kind("v1", "Secret", "secrets"),
        Kind("v1", "Service", "services"),
        Kind("v1", "PersistentVolumeClaim", "persistentvolumeclaims"),
        Kind("v1", "Pod", "pods"),
        Kind("apps/v1", "StatefulSet", "statefulsets"),
        Kind("apps/v1", "Deployment", "deployments"),
        Kind("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets"),
        Kind("networking.k8s.io/v1", "NetworkPolicy", "networkpolicies"),
        Kind("batch/v1", "CronJob", "cronjobs"),
        Kind("batch/v1", "Job", "jobs"),
        Kind("autoscaling/v2", "HorizontalPodAutoscaler", "horizontalpodautoscalers"),
        Kind("monitoring.coreos.com/v1", "ServiceMonitor", "servicemonitors"),
        Kind("monitoring.coreos.com/v1", "PrometheusRule", "prometheusrules"),
        Kind("storage.k8s.io/v1", "StorageClass", "storageclasses"),  # cluster-scoped: get_cluster_scoped
        Kind(API_VERSION, "VectorStore", "vectorstores"),
        Kind(API_VERSION, "RagPipeline", "ragpipelines"),
    ]
}


class KubeError(Exception):
    """An API request failed; `status` is the HTTP status (0 when no answer came)."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(message)

    @property
    def not_found(self) -> bool:
        return self.status == 404

    @property
    def invalid(self) -> bool:
        """The request itself was refused (validation, immutable field, forbidden): retrying won't help."""
        return self.status in (400, 403, 422)


def load_api_client(kubeconfig: str | None = None, pool_size: int = 16) -> client.ApiClient:
    """An ApiClient from in-cluster credentials, else the kubeconfig (KUBECONFIG or the given path)."""
    configuration = client.Configuration()
    try:
        config.load_incluster_config(client_configuration=configuration)  # type: ignore[no-untyped-call]
    except config.ConfigException:
        config.load_kube_config(config_file=kubeconfig, client_configuration=configuration)  # type: ignore[no-untyped-call]
    configuration.connection_pool_maxsize = pool_size
    api_client = client.ApiClient(configuration)
    # Audit logs and apiserver metrics attribute requests by user agent.
    api_client.user_agent = f"ragops/{__version__}"
    return api_client


class KubeClient:
    """Typed-enough access to the few endpoints the operator uses.

    `on_request` is told the HTTP method of every request sent (the operator counts them in its metrics)."""

    def __init__(self, api_client: client.ApiClient, on_request: Callable[[str], None] | None = None) -> None:
        self._api = api_client
        self._on_request = on_request

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        try:
            return self._call("GET", KINDS[kind].path(namespace, name))
        except KubeError as error:
            if error.not_found:
                return None
            raise

    def get_cluster_scoped(self, kind: str, name: str) -> dict[str, Any] | None:
        """A cluster-scoped object (a StorageClass); None when it does not exist."""
        try:
            return self._call("GET", f"{KINDS[kind].path(None)}/{name}")
        except KubeError as error:
            if error.not_found:
                return None
            raise

    def list_objects(self, kind: str, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        result = self._call("GET", KINDS[kind].path(namespace), query=[("labelSelector", label_selector)])
        return list(result.get("items") or [])

    def list_names(self, kind: str, namespace: str | None, label_selector: str = "") -> list[tuple[str, str]]:
        """(namespace, name) of every matching object, in pages of metadata only (small, bounded responses)."""
        names: list[tuple[str, str]] = []
        token = ""
        while True:
            query = [("limit", str(LIST_PAGE))] + ([("labelSelector", label_selector)] if label_selector else [])
            if token:
                query.append(("continue", token))
            page = self._call("GET", KINDS[kind].path(namespace), query=query, accept=METADATA_LIST)
            names += [(item["metadata"]["namespace"], item["metadata"]["name"]) for item in page.get("items") or []]
            token = (page.get("metadata") or {}).get("continue") or ""
            if not token:
                return names

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        """Server-side apply with the operator's single field manager, taking over conflicting fields."""
        meta = obj["metadata"]
        return self._call(
            "PATCH",
            KINDS[obj["kind"]].path(meta["namespace"], meta["name"]),
            body=obj,
            content_type="application/apply-patch+yaml",
            query=[("fieldManager", FIELD_MANAGER), ("force", "true")],
        )

    def delete(self, kind: str, namespace: str, name: str, uid: str | None = None) -> None:
        body: dict[str, Any] = {"propagationPolicy": "Background"}
        if uid:
            # Only delete the object we decided about, not a newer one with the same name.
            body["preconditions"] = {"uid": uid}
        try:
            self._call("DELETE", KINDS[kind].path(namespace, name), body=body)
        except KubeError as error:
            if not error.not_found and error.status != 409:
                raise

    def patch_status(self, kind: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        self._call(
            "PATCH",
            KINDS[kind].path(namespace, name) + "/status",
            body={"status": status},
            content_type="application/merge-patch+json",
            query=[("fieldManager", FIELD_MANAGER)],
        )

    def patch_annotations(self, kind: str, namespace: str, name: str, annotations: dict[str, str | None]) -> None:
        self._call(
            "PATCH",
            KINDS[kind].path(namespace, name),
            body={"metadata": {"annotations": annotations}},
            content_type="application/merge-patch+json",
            query=[("fieldManager", FIELD_MANAGER)],
        )

    def event(self, involved: dict[str, Any], event_type: str, reason: str, message: str) -> None:
        """An Event on a VectorStore/RagPipeline; failures are logged, never raised (events are best effort)."""
        meta = involved["metadata"]
        now = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        body = {
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": {"generateName": f"{meta['name']}-", "namespace": meta["namespace"]},
            "eventTime": now,
            "type": event_type,
            "reason": reason,
            "action": "Reconcile",
            "note": message[:1024],
            "reportingController": "ragops.dev/operator",
            "reportingInstance": "ragops",
            "regarding": {
                "apiVersion": involved.get("apiVersion", API_VERSION),
                "kind": involved["kind"],
                "name": meta["name"],
                "namespace": meta["namespace"],
                "uid": meta.get("uid", ""),
                "resourceVersion": meta.get("resourceVersion", ""),
            },
        }
        try:
            self._call("POST", f"/apis/events.k8s.io/v1/namespaces/{meta['namespace']}/events", body=body)
        except KubeError as error:
            log.warning("could not post event %s on %s/%s: %s", reason, meta["namespace"], meta["name"], error)

    def _call(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        content_type: str = "application/json",
        query: list[tuple[str, str]] | None = None,
        accept: str = "application/json",
    ) -> dict[str, Any]:
        if self._on_request is not None:
            self._on_request(method)
        try:
            method, url, headers, body, post_params = self._api.param_serialize(
                method,
                path,
                query_params=query or [],
                header_params={"Content-Type": content_type, "Accept": accept},
                body=body,
                auth_settings=["BearerToken"],
            )
            response = self._api.call_api(method, url, header_params=headers, body=body, post_params=post_params)
            response.read()  # type: ignore[no-untyped-call]
        except ApiException as error:
            raise _as_kube_error(error) from None
        except Exception as error:  # connection refused, TLS, timeouts
            raise KubeError(0, "Unreachable", f"{method} {path}: {error}") from None
        if not 200 <= response.status < 300:
            raise _as_kube_error(ApiException(http_resp=response))
        data = response.data
        return json.loads(data) if data else {}


def _as_kube_error(error: ApiException) -> KubeError:
    message = str(error.reason)
    reason = str(error.reason)
    if error.body:
        try:
            payload = json.loads(error.body)
            message = payload.get("message", message)
            reason = payload.get("reason", reason)
        except ValueError:
            pass
    return KubeError(int(error.status or 0), reason, message)
