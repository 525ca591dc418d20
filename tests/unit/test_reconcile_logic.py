"""Pure parts of the reconcile layer: drift comparison, Job outcomes, condition bookkeeping."""

from __future__ import annotations

from ragops.models.status import ResourceStatus
from ragops.reconcile.compare import is_subset
from ragops.reconcile.conditions import Observation, merge_conditions, status_changed, status_payload
from ragops.reconcile.jobs import latest_backup


def test_live_object_with_server_defaults_and_user_labels_needs_no_apply() -> None:
    desired = {
        "metadata": {"labels": {"a": "1"}},
        "spec": {"replicas": 1, "resources": {"memory": "1024Mi"}, "ports": [{"port": 80}]},
    }
    live = {
        "metadata": {"labels": {"a": "1", "team": "x"}, "uid": "u"},
        "spec": {"replicas": 1, "resources": {"memory": "1Gi"}, "ports": [{"port": 80, "protocol": "TCP"}]},
        "status": {"ready": 1},
    }
    assert is_subset(desired, live)


def test_changed_owned_field_or_missing_item_needs_apply() -> None:
    live = {"spec": {"replicas": 4, "ports": [{"port": 80}]}}
    assert not is_subset({"spec": {"replicas": 1}}, live)
    assert not is_subset({"spec": {"ports": [{"port": 80}, {"port": 81}]}}, live)
    assert not is_subset({"spec": {"resources": {"memory": "2Gi"}}}, {"spec": {"resources": {"memory": "1Gi"}}})


def job(name: str, condition: str | None, time: str = "") -> dict:
    status = {"conditions": [{"type": condition, "status": "True", "lastTransitionTime": time}]} if condition else {}
    if condition == "Complete":
        status["completionTime"] = time
    return {"metadata": {"name": name, "labels": {"app.kubernetes.io/component": "backup"}}, "status": status}


def test_latest_finished_backup_wins_and_running_ones_are_ignored() -> None:
    record = latest_backup(
        [
            job("b1", "Complete", "2026-01-01T02:00:00Z"),
            job("b2", "Failed", "2026-01-02T02:00:00Z"),
            job("b3", None),
        ]
    )
    assert record is not None and (record.name, record.result) == ("b2", "Failed")
    assert latest_backup([job("b3", None)]) is None


def test_unchanged_conditions_keep_their_transition_time_and_cause_no_write() -> None:
    first = merge_conditions([], [Observation("Ready", True, "Ready", "ok")], 1)
    status = ResourceStatus(observed_generation=1, conditions=first)
    previous = status_payload(status)
    again = ResourceStatus(
        observed_generation=1,
        conditions=merge_conditions(previous["conditions"], [Observation("Ready", True, "Ready", "ok")], 1),
    )
    assert again.conditions[0].last_transition_time == first[0].last_transition_time
    assert not status_changed(previous, again)
    flipped = ResourceStatus(
        observed_generation=1,
        conditions=merge_conditions(previous["conditions"], [Observation("Ready", False, "X", "down")], 1),
    )
    assert status_changed(previous, flipped)
