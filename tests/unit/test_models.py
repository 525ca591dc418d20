"""Profiles resolve to the design's table, explicit fields win, invalid specs name the field."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.samples import pipeline, store

from ragops.models import (
    PROFILES,
    Profile,
    ResolutionError,
    SpecError,
    parse_resource,
    resolve_pipeline,
    resolve_vectorstore,
)

# DESIGN.md section 2, copied here on purpose: the test pins the table the code must implement.
TABLE = {
    "small": (1, ("500m", "2Gi", "2", "4Gi"), "10Gi", (1, 3), ("250m", "512Mi", "1", "1Gi"), 4),
    "medium": (3, ("2", "8Gi", "4", "8Gi"), "100Gi", (2, 6), ("1", "2Gi", "2", "4Gi"), 16),
    "large": (3, ("8", "32Gi", "16", "32Gi"), "1Ti", (2, 20), ("4", "8Gi", "8", "16Gi"), 32),
}


@pytest.mark.parametrize("profile", list(TABLE))
def test_profile_resolves_to_the_design_table(profile: str) -> None:
    replicas, qdrant, storage, (hpa_min, hpa_max), gateway, workers = TABLE[profile]
    vs = resolve_vectorstore(parse_resource(store(profile)).spec)
    rp = resolve_pipeline(parse_resource(pipeline(profile)).spec)
    r = vs.resources
    assert (vs.replicas, (r.request_cpu, r.request_memory, r.limit_cpu, r.limit_memory), vs.storage_size) == (
        replicas,
        qdrant,
        storage,
    )
    g = rp.resources
    assert (rp.min_replicas, rp.max_replicas, rp.workers) == (hpa_min, hpa_max, workers)
    assert (g.request_cpu, g.request_memory, g.limit_cpu, g.limit_memory) == gateway
    assert set(PROFILES) == {Profile(p) for p in TABLE}


def test_explicit_fields_override_the_profile() -> None:
    vs = resolve_vectorstore(
        parse_resource(
            store("large", qdrant={"replicas": 5, "resources": {"limits": {"memory": "48Gi"}}}, storage={"size": "2Ti"})
        ).spec
    )
    assert vs.replicas == 5 and vs.storage_size == "2Ti"
    assert vs.resources.limit_memory == "48Gi" and vs.resources.limit_cpu == "16" and vs.resources.request_cpu == "8"
    rp = resolve_pipeline(
        parse_resource(
            pipeline(
                "medium",
                gateway={"workers": 7, "autoscaling": {"maxReplicas": 9}, "resources": {"requests": {"cpu": "3"}}},
            )
        ).spec
    )
    assert (rp.min_replicas, rp.max_replicas, rp.workers, rp.resources.request_cpu) == (2, 9, 7, "3")
    assert rp.resources.request_memory == "2Gi"


def test_override_clashing_with_the_profile_names_both_fields() -> None:
    with pytest.raises(ResolutionError, match=r"spec\.gateway\.autoscaling.*maxReplicas 1.*minReplicas 2"):
        resolve_pipeline(parse_resource(pipeline("large", gateway={"autoscaling": {"maxReplicas": 1}})).spec)


INVALID: list[tuple[dict[str, Any], str]] = [
    (store(profile="huge"), "spec.profile"),
    (store(collections=[{"name": "a", "vectorSize": 0}]), "spec.collections.0.vectorSize"),
    (store(collections=[{"name": "a", "vectorSize": 65537}]), "spec.collections.0.vectorSize"),
    (store(collections=[{"name": "a", "vectorSize": 3}, {"name": "a", "vectorSize": 3}]), "duplicate names ['a']"),
    (store(collections=[{"name": "a", "vectorSize": 3, "distance": "Hamming"}]), "spec.collections.0.distance"),
    (store(backup={"schedule": "daily"}), "spec.backup.schedule"),
    (store(backup={"retention": "30 days"}), "spec.backup.retention"),
    (store(backup={"destination": {}}), "spec.backup.destination"),
    (store(qdrant={"replicas": 0}), "spec.qdrant.replicas"),
    (store(storage={"size": "big"}), "spec.storage.size"),
    (store(replicaz=1), "spec.replicaz"),
    (pipeline(collection=""), "spec.collection"),
    (pipeline(chunking={"size": 10, "overlap": 10}), "spec.chunking"),
    (pipeline(gateway={"autoscaling": {"minReplicas": 4, "maxReplicas": 2}}), "spec.gateway.autoscaling"),
    (pipeline(llm={"temperature": 5}), "spec.llm.temperature"),
    (pipeline(embedding={"provider": "cohere"}), "spec.embedding.provider"),
    (pipeline(resilience={"backoffBaseMs": 500, "backoffMaxMs": 100}), "spec.resilience"),
    (pipeline(retrieval={"topK": 0}), "spec.retrieval.topK"),
]


@pytest.mark.parametrize(("body", "field"), INVALID, ids=[f for _, f in INVALID])
def test_invalid_spec_names_the_field(body: dict[str, Any], field: str) -> None:
    with pytest.raises(SpecError) as raised:
        parse_resource(body)
    assert field in str(raised.value)


def test_a_spec_with_only_required_fields_gets_the_design_defaults() -> None:
    rp = parse_resource(pipeline()).spec
    assert (rp.chunking.strategy, rp.chunking.size, rp.chunking.overlap) == ("recursive", 800, 100)
    assert (rp.resilience.timeout_seconds, rp.resilience.retries, rp.resilience.circuit_breaker.failure_threshold) == (
        60,
        3,
        5,
    )
    vs = parse_resource(store(backup={})).spec
    assert vs.backup is not None
    assert (vs.backup.schedule, vs.backup.retention, vs.backup.destination.pvc is not None) == (
        "0 2 * * *",
        "30d",
        True,
    )
