"""kopf registration: what the operator asks kopf to do per watch event."""

from __future__ import annotations

import kopf

from ragops.handlers import EventsOnlyDiffBase, build_registry, configure
from ragops.reconcile.context import OperatorSettings


def test_no_change_detecting_handlers_so_kopf_needs_no_diff_base() -> None:
    registry = build_registry(OperatorSettings(), workers=1)
    # kopf's diff base feeds on.create/update/delete/resume/field handlers and daemons; skipping its deep
    # copy of every body is only right while there are none.
    assert registry._changing.get_all_handlers() == []
    assert registry._spawning.get_all_handlers() == []
    assert registry._watching.get_all_handlers()

    settings = kopf.OperatorSettings()
    configure(settings)
    assert isinstance(settings.persistence.diffbase_storage, EventsOnlyDiffBase)
    body = kopf.Body({"metadata": {"name": "x", "managedFields": [{"manager": "m"}]}, "spec": {"a": 1}})
    assert settings.persistence.diffbase_storage.build(body=body) == {}


def test_namespace_patterns_are_recognised() -> None:
    from ragops.handlers import _is_pattern

    assert [_is_pattern(ns) for ns in ("team-*", "!kube-system", "a,b", "default")] == [True, True, True, False]
