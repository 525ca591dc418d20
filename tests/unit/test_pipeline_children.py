"""A RagPipeline's children as its spec changes: the disruption budget follows the gateway's minimum."""

from __future__ import annotations

from typing import Any

from tests.unit import fakes
from tests.unit.fakes import FakeKube
from tests.unit.samples import pipeline, store

from ragops.reconcile.children import ChildCache
from ragops.reconcile.ragpipeline import reconcile_pipeline

PDB = ("PodDisruptionBudget", "search", "bot-gateway")


def test_the_budget_appears_with_a_minimum_of_two_and_is_pruned_below_it() -> None:
    kube = FakeKube()
    cache = ChildCache()
    parents: dict[tuple[str, str, str], Any] = {("VectorStore", "search", "docs"): store()}
    ctx = fakes.context(kube, cache, lambda *key: parents.get(key))

    reconcile_pipeline(ctx, pipeline("medium"))  # HPA minimum 2
    assert PDB in kube.objects
    assert ("NetworkPolicy", "search", "bot-gateway") in kube.objects

    reconcile_pipeline(ctx, pipeline("medium", gateway={"autoscaling": {"minReplicas": 1}}))
    assert PDB not in kube.objects
    assert ("DELETE", "PodDisruptionBudget", "bot-gateway") in kube.requests
    assert ("Deployment", "search", "bot-gateway") in kube.objects  # the rest stays


def test_turning_the_network_policy_off_removes_it() -> None:
    kube = FakeKube()
    cache = ChildCache()
    parents: dict[tuple[str, str, str], Any] = {("VectorStore", "search", "docs"): store()}
    ctx = fakes.context(kube, cache, lambda *key: parents.get(key))

    reconcile_pipeline(ctx, pipeline())
    reconcile_pipeline(ctx, pipeline(gateway={"networkPolicy": {"enabled": False}}))
    assert ("NetworkPolicy", "search", "bot-gateway") not in kube.objects
