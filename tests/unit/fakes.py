"""A fake API server for reconcile tests: objects by key, and every request it was sent."""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

from ragops.reconcile.children import Key, key_of
from ragops.reconcile.conditions import Observation
from ragops.reconcile.context import CollectionsChecker, Context, GatewayHealthChecker, OperatorSettings
from ragops.reconcile.kube import KubeError

# The children of the sample stack (tests/unit/samples.py), as the operator watches them.
CHILD_KINDS = [
    "StatefulSet",
    "Deployment",
    "Service",
    "ConfigMap",
    "Secret",
    "NetworkPolicy",
    "HorizontalPodAutoscaler",
]
SELECTOR = "app.kubernetes.io/managed-by=ragops"


class FakeKube:
    """Requests are recorded as (method, kind, name); LIST is a list, PATCH an apply or a status write."""

    def __init__(self, refuse_list: dict[str, int] | None = None) -> None:
        self.objects: dict[Key, dict[str, Any]] = {}
        self.requests: list[tuple[str, str, str]] = []
        self.refuse_list = refuse_list or {}
        self.gone: set[Key] = set()  # deleted by someone else: writes to them answer 404
        self._version = 0

    def add(self, obj: Mapping[str, Any]) -> dict[str, Any]:
        """An object that exists before the test (created by someone, or by an earlier operator)."""
        stored = copy.deepcopy(dict(obj))
        stored["metadata"].setdefault("resourceVersion", self._next_version())
        self.objects[key_of(stored)] = stored
        return copy.deepcopy(stored)

    def vanish(self, key: Key) -> None:
        """Someone deleted the object (no event reaches the operator)."""
        self.objects.pop(key, None)
        self.gone.add(key)

    def body(self, kind: str, namespace: str, name: str) -> dict[str, Any]:
        return copy.deepcopy(self.objects[(kind, namespace, name)])

    def writes(self) -> list[tuple[str, str, str]]:
        return [r for r in self.requests if r[0] not in ("GET", "LIST")]

    def reads(self) -> list[tuple[str, str, str]]:
        return [r for r in self.requests if r[0] == "GET"]

    def get(self, kind: str, namespace: str, name: str) -> dict[str, Any] | None:
        self.requests.append(("GET", kind, name))
        found = self.objects.get((kind, namespace, name))
        return copy.deepcopy(found) if found else None

    def list_names(self, kind: str, namespace: str | None, label_selector: str = "") -> list[tuple[str, str]]:
        self.requests.append(("LIST", kind, namespace or ""))
        if kind in self.refuse_list:
            raise KubeError(self.refuse_list[kind], "Refused", "refused")
        return [(k[1], k[2]) for k in self.objects if k[0] == kind and namespace in (None, k[1])]

    def list_objects(self, kind: str, namespace: str, label_selector: str) -> list[dict[str, Any]]:
        self.requests.append(("LIST", kind, namespace))
        return []

    def apply(self, obj: dict[str, Any]) -> dict[str, Any]:
        key = key_of(obj)
        self.requests.append(("PATCH", key[0], key[2]))
        live = self.objects.get(key)
        merged = copy.deepcopy(obj)
        merged["metadata"]["uid"] = live["metadata"]["uid"] if live else f"uid-{key[2]}-{key[0]}"
        merged["metadata"]["resourceVersion"] = self._next_version()
        self.objects[key] = merged
        return copy.deepcopy(merged)

    def delete(self, kind: str, namespace: str, name: str, uid: str | None = None) -> None:
        self.requests.append(("DELETE", kind, name))
        self.objects.pop((kind, namespace, name), None)

    def patch_status(self, kind: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.requests.append(("PATCH", f"{kind}/status", name))
        if (kind, namespace, name) in self.gone:
            raise KubeError(404, "NotFound", f'{kind} "{name}" not found')
        stored = self.objects.get((kind, namespace, name))
        if stored is not None:
            stored["status"] = copy.deepcopy(status)
            stored["metadata"]["resourceVersion"] = self._next_version()

    def patch_annotations(self, kind: str, namespace: str, name: str, annotations: dict[str, str | None]) -> None:
        self.requests.append(("PATCH", kind, name))

    def event(self, involved: dict[str, Any], event_type: str, reason: str, message: str) -> None:
        self.requests.append(("POST", "Event", reason))

    def _next_version(self) -> str:
        self._version += 1
        return str(self._version)


def unreachable(resource: Any, api_key: str | None, nodes: int) -> Observation | None:
    return Observation("CollectionsReady", None, "QdrantUnreachable", "not from here")


def gateway_unreachable(resource: Any) -> Observation | None:
    return Observation("ProvidersReady", None, "GatewayUnreachable", "not from here")


def context(
    kube: FakeKube,
    cache: Any,
    lookup: Any = None,
    collections: CollectionsChecker = unreachable,
    gateway_health: GatewayHealthChecker = gateway_unreachable,
) -> Context:
    parents: Mapping[tuple[str, str, str], Any] = {}
    return Context(
        kube,  # type: ignore[arg-type]
        cache,
        OperatorSettings(),
        lookup or (lambda *key: parents.get(key)),
        collections,
        gateway_health,
    )
