"""What a user reads in status when the API server refuses a child or does not serve its kind."""

from __future__ import annotations

from typing import Any

from ragops.reconcile import report
from ragops.reconcile.children import ChildCache
from ragops.reconcile.context import Context, OperatorSettings
from ragops.reconcile.kube import KubeError

BODY = {"apiVersion": "ragops.dev/v1alpha1", "kind": "VectorStore",
        "metadata": {"name": "docs", "namespace": "search", "generation": 2, "uid": "u1"}, "status": {}}


class StatusRecorder:
    """Keeps the status patches and Events a report writes."""

    def __init__(self) -> None:
        self.statuses: list[dict[str, Any]] = []
        self.events: list[tuple[str, str]] = []

    def patch_status(self, kind: str, namespace: str, name: str, status: dict[str, Any]) -> None:
        self.statuses.append(status)

    def event(self, involved: dict[str, Any], event_type: str, reason: str, message: str) -> None:
        self.events.append((reason, message))


def context(kube: StatusRecorder) -> Context:
    return Context(kube, ChildCache(), OperatorSettings(), lambda *_: None, lambda *_: None)  # type: ignore[arg-type]


def children_applied(status: dict[str, Any]) -> dict[str, Any]:
    return next(c for c in status["conditions"] if c["type"] == "ChildrenApplied")


def test_a_forbidden_child_asks_for_the_permission_not_a_spec_change() -> None:
    kube = StatusRecorder()
    error = KubeError(403, "Forbidden", 'networkpolicies "docs-qdrant" is forbidden: User "system:serviceaccount:x:y"')
    outcome = report.apply_failed(context(kube), BODY, 2, [(("NetworkPolicy", "search", "docs-qdrant"), error)])
    condition = children_applied(kube.statuses[-1])
    assert condition["reason"] == "Forbidden"
    assert "Grant the operator's ServiceAccount the permission" in condition["message"]
    assert "Change the spec" not in condition["message"]
    assert outcome.result == "invalid" and outcome.requeue_after is None  # no retry loop; the timer looks again


def test_an_invalid_child_asks_for_a_spec_change() -> None:
    kube = StatusRecorder()
    error = KubeError(422, "Invalid", "spec.selector: field is immutable")
    report.apply_failed(context(kube), BODY, 2, [(("StatefulSet", "search", "docs-qdrant"), error)])
    condition = children_applied(kube.statuses[-1])
    assert condition["reason"] == "ApplyRejected" and "Change the spec" in condition["message"]


def test_unserved_monitoring_kinds_name_the_fields_to_turn_off() -> None:
    note = report.unserved_kinds([("PrometheusRule", "search", "bot-gateway"), ("ServiceMonitor", "search", "bot")])
    assert note is not None and note.is_problem and note.reason == "KindNotServed"
    assert "spec.monitoring.prometheusRule and spec.monitoring.serviceMonitor" in note.message
    assert "Prometheus Operator" in note.message
    assert report.unserved_kinds([]) is None
