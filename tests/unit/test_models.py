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
from ragops.models.resource import name_problem

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
                gateway={"workers": 7, "autoscaling": {"maxReplicas": 9}, "resources": {"requests": {"cpu": "1500m"}}},
            )
        ).spec
    )
    assert (rp.min_replicas, rp.max_replicas, rp.workers, rp.resources.request_cpu) == (2, 9, 7, "1500m")
    assert rp.resources.request_memory == "2Gi"


def test_override_clashing_with_the_profile_names_the_field_and_the_profile_bounds() -> None:
    with pytest.raises(SpecError, match=r"spec\.gateway\.autoscaling: maxReplicas must be >= minReplicas.*large 2-20"):
        parse_resource(pipeline("large", gateway={"autoscaling": {"maxReplicas": 1}}))
    with pytest.raises(SpecError, match=r"spec\.qdrant\.resources: requests may not exceed limits"):
        parse_resource(store("small", qdrant={"resources": {"requests": {"cpu": "4"}}}))  # small's limit is 2
    # resolve_pipeline still refuses what parsing would have (a spec built in code skips parse_resource).
    spec = parse_resource(pipeline("large")).spec
    bad = spec.model_copy(
        update={
            "gateway": spec.gateway.model_copy(update={"autoscaling": type(spec.gateway.autoscaling)(max_replicas=1)})
        }
    )
    with pytest.raises(ResolutionError, match=r"spec\.gateway\.autoscaling.*maxReplicas 1.*minReplicas 2"):
        resolve_pipeline(bad)


INVALID: list[tuple[dict[str, Any], str]] = [
    (store(profile="huge"), "spec.profile"),
    (store(collections=[{"name": "a", "vectorSize": 0}]), "spec.collections.0.vectorSize"),
    (store(collections=[{"name": "a", "vectorSize": 65537}]), "spec.collections.0.vectorSize"),
    (
        store(collections=[{"name": "a", "vectorSize": 3}, {"name": "a", "vectorSize": 3}]),
        "spec.collections: collection names must be unique (repeated: a)",
    ),
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
    # issue 12: names, URLs, buckets, origins, keys, cron, quantities, paths, images
    (pipeline(vectorStoreRef={"name": "a" * 44}), "spec.vectorStoreRef.name"),
    (store(restore={"fromStore": "Docs"}), "spec.restore.fromStore"),
    (pipeline(embedding={"endpoint": "localhost:8000", "apiKeySecretRef": {"name": "k"}}), "spec.embedding.endpoint"),
    (
        pipeline(embedding={"endpoint": "ftp://models.local", "apiKeySecretRef": {"name": "k"}}),
        "spec.embedding.endpoint",
    ),
    (pipeline(llm={"provider": "ollama", "endpoint": "http://"}), "spec.llm.endpoint"),
    (pipeline(embedding={"provider": "openai"}), "spec.embedding.apiKeySecretRef: required for provider openai"),
    ({**pipeline(), "spec": {"vectorStoreRef": {"name": "docs"}, "collection": "manuals"}}, "spec.embedding"),
    (pipeline(llm={"endpoint": "https://api.openai.com/v1"}), "spec.llm.apiKeySecretRef: required"),
    (pipeline(llm={}), "spec.llm.apiKeySecretRef"),
    (pipeline(gateway={"cors": {"allowedOrigins": ["https://a.example.com/"]}}), "spec.gateway.cors.allowedOrigins.0"),
    (pipeline(gateway={"cors": {"allowedOrigins": ["a.example.com"]}}), "spec.gateway.cors.allowedOrigins.0"),
    (pipeline(gateway={"image": "Not An Image"}), "spec.gateway.image"),
    (pipeline(gateway={"autoscaling": {"targetCpuUtilization": 50}}), "spec.gateway.autoscaling.targetCpuUtilization"),
    (
        pipeline(gateway={"networkPolicy": {"allowedNamespaces": ["Team_A"]}}),
        "spec.gateway.networkPolicy.allowedNamespaces.0",
    ),
    (
        pipeline(gateway={"networkPolicy": {"allowedPods": [{"matchLabels": {"not a key": "web"}}]}}),
        "spec.gateway.networkPolicy.allowedPods.0.matchLabels: matchLabels keys must be label keys",
    ),
    (
        pipeline(gateway={"networkPolicy": {"allowedPods": [{"matchLabels": {}}]}}),
        "spec.gateway.networkPolicy.allowedPods.0.matchLabels",
    ),
    (pipeline(monitoring={"prometheusNamespace": "Monitoring"}), "spec.monitoring.prometheusNamespace"),
    (store(security={"readOnlyApiKey": False}), "spec.security.readOnlyApiKey"),
    (store(security={"allowedNamespaces": ["Team_A"]}), "spec.security.allowedNamespaces.0"),
    (store(qdrant={"image": "qdrant/qdrant:v1.20.0 "}), "spec.qdrant.image"),
    (store(storage={"size": "0"}), "spec.storage.size: must be above zero"),
    (store(storage={"size": "1GiB"}), "spec.storage.size"),
    (store(qdrant={"resources": {"limits": {"memory": "-1Gi"}}}), "spec.qdrant.resources.limits.memory"),
    (store(backup={"schedule": "61 * * * *"}), "spec.backup.schedule"),
    (store(backup={"schedule": "0 2 * * 1L"}), "spec.backup.schedule"),
    (store(backup={"timeZone": "Europe/ Berlin"}), "spec.backup.timeZone"),
    (store(backup={"destination": {"pvc": {"size": "lots"}}}), "spec.backup.destination.pvc.size"),
    *[
        (store(backup={"destination": {"s3": {"bucket": bucket, "credentialsSecretRef": {"name": "s3"}}}}), message)
        for bucket, message in [
            ("My_Bucket", "spec.backup.destination.s3.bucket"),
            ("ab", "spec.backup.destination.s3.bucket"),
            ("a..b", "adjacent periods"),
            ("192.168.1.10", "IP address"),
            ("xn--bucket", "xn--"),
            ("bucket-s3alias", "-s3alias"),
        ]
    ],
    (
        store(
            backup={
                "destination": {
                    "s3": {"bucket": "ok-bucket", "endpoint": "minio:9000", "credentialsSecretRef": {"name": "s"}}
                }
            }
        ),
        "spec.backup.destination.s3.endpoint",
    ),
    (
        store(
            backup={
                "destination": {
                    "s3": {"bucket": "ok-bucket", "prefix": "/abs/../x", "credentialsSecretRef": {"name": "s"}}
                }
            }
        ),
        "spec.backup.destination.s3.prefix",
    ),
    (store(backup={"destination": {"s3": {"bucket": "ok-bucket"}}}), "spec.backup.destination.s3.credentialsSecretRef"),
    (
        store(
            backup={"destination": {"s3": {"bucket": "ok-bucket", "credentialsSecretRef": {"name": "s", "key": "k"}}}}
        ),
        "spec.backup.destination.s3.credentialsSecretRef.key",
    ),
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


# Refused when created (a create-time rule of the CRD: names are immutable, older resources stay managed).
BAD_NAMES: list[tuple[dict[str, Any], str]] = [
    ({**store(), "metadata": {"name": "a" * 44}}, "metadata.name: a VectorStore name is at most 43"),
    ({**store(), "metadata": {"name": "1docs"}}, "metadata.name: a VectorStore name"),
    ({**store(), "metadata": {"name": "docs.v2"}}, "metadata.name: a VectorStore name"),
    ({**pipeline(), "metadata": {"name": "b" * 56}}, "metadata.name: a RagPipeline name is at most 55"),
]


@pytest.mark.parametrize(("body", "message"), BAD_NAMES, ids=[b["metadata"]["name"] for b, _ in BAD_NAMES])
def test_a_name_too_long_for_its_children_is_refused(body: dict[str, Any], message: str) -> None:
    assert (name_problem(body["kind"], body["metadata"]["name"]) or "").startswith(message)


VALID: list[dict[str, Any]] = [
    {**store(), "metadata": {"name": "a" * 43}},
    {**pipeline(), "metadata": {"name": "b" * 55}},
    pipeline(embedding={"provider": "openai", "endpoint": "http://vllm.models.svc:8000/v1"}),  # self-hosted: no key
    pipeline(llm={"provider": "openai", "endpoint": "https://llm.example.com/v1"}),
    pipeline(llm={"provider": "ollama", "endpoint": "http://[fd00::1]:11434"}),
    pipeline(gateway={"cors": {"allowedOrigins": ["*", "https://a.example.com", "http://localhost:3000"]}}),
    pipeline(gateway={"image": "registry.local:5000/team/ragops:1.2@sha256:" + "a" * 64}),
    pipeline(
        gateway={
            "networkPolicy": {
                "allowedPods": [{"namespace": "web", "matchLabels": {"app.kubernetes.io/name": "ui", "tier": ""}}]
            }
        }
    ),
    store(backup={"schedule": "*/15 2-4 1,15 JAN-MAR mon-fri", "timeZone": "America/Argentina/Buenos_Aires"}),
    store(backup={"schedule": "@daily"}),
    store(
        backup={
            "destination": {
                "s3": {"bucket": "team.backups-1", "prefix": "search/docs/", "credentialsSecretRef": {"name": "s3"}}
            }
        }
    ),
    store(qdrant={"resources": {"requests": {"cpu": "1500m", "memory": "1.5Gi"}}}),
]


@pytest.mark.parametrize("body", VALID)
def test_valid_edge_cases_parse(body: dict[str, Any]) -> None:
    resource = parse_resource(body)
    assert name_problem(resource.kind, resource.name) is None


def test_without_llm_the_pipeline_retrieves_only_and_the_gateway_gets_no_llm_key() -> None:
    resource = parse_resource(pipeline())
    assert resource.spec.llm is None
    assert "llm" not in resource.spec.wire()
