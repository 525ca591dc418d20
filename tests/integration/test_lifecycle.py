"""The operator against a real API server: children, sizes, readiness, profile changes, drift, deletion."""

from __future__ import annotations

import pytest
from kubernetes import client

from ragops.builders import qdrant as qdrant_builders
from ragops.models.profiles import PROFILES, Profile
from tests.integration.cluster import Cluster, Operator, wait_for
from tests.integration.manifests import ragpipeline, vectorstore

pytestmark = pytest.mark.integration


def _container(obj: client.V1StatefulSet | client.V1Deployment) -> client.V1Container:
    return obj.spec.template.spec.containers[0]


@pytest.mark.parametrize("profile", [p.value for p in Profile])
def test_each_profile_gets_every_child_sized_and_ready(
    cluster: Cluster, namespace: str, operator: Operator, profile: str
) -> None:
    table = PROFILES[Profile(profile)]
    cluster.create(namespace, vectorstore(profile=profile, backup={"schedule": "0 3 * * *"}))
    cluster.create(namespace, ragpipeline(profile=profile))

    store = cluster.wait_ready("VectorStore", namespace, "docs")
    pipeline = cluster.wait_ready("RagPipeline", namespace, "bot")

    sts = cluster.apps.read_namespaced_stateful_set("docs-qdrant", namespace)
    assert sts.spec.replicas == table.qdrant_replicas
    resources = _container(sts).resources
    assert resources.requests == {
        "cpu": table.qdrant.request_cpu,
        "memory": table.qdrant.request_memory,
        "ephemeral-storage": qdrant_builders.EPHEMERAL_REQUEST,
    }
    assert resources.limits == {"cpu": table.qdrant.limit_cpu, "memory": table.qdrant.limit_memory}
    assert sts.spec.volume_claim_templates[0].spec.resources.requests["storage"] == table.storage
    deployment = cluster.apps.read_namespaced_deployment("bot-gateway", namespace)
    assert _container(deployment).resources.requests == {
        "cpu": table.gateway.request_cpu,
        "memory": table.gateway.request_memory,
        "ephemeral-storage": table.gateway_scratch.request,
    }
    hpa = client.AutoscalingV2Api(cluster.api).read_namespaced_horizontal_pod_autoscaler("bot-gateway", namespace)
    assert (hpa.spec.min_replicas, hpa.spec.max_replicas) == (table.gateway_min_replicas, table.gateway_max_replicas)
    env = {e.name: e.value for e in _container(deployment).env}
    assert env["RAGOPS_WORKERS"] == str(table.workers)

    for name in ("docs-qdrant", "docs-qdrant-headless"):
        cluster.core.read_namespaced_service(name, namespace)
    cluster.core.read_namespaced_config_map("docs-qdrant-config", namespace)
    cluster.core.read_namespaced_secret("docs-qdrant-api-key", namespace)
    client.NetworkingV1Api(cluster.api).read_namespaced_network_policy("docs-qdrant", namespace)
    client.BatchV1Api(cluster.api).read_namespaced_cron_job("docs-backup", namespace)
    client.NetworkingV1Api(cluster.api).read_namespaced_network_policy("bot-gateway", namespace)
    pdbs = client.PolicyV1Api(cluster.api).list_namespaced_pod_disruption_budget(namespace).items
    expected_pdbs = (["docs-qdrant"] if table.qdrant_replicas > 1 else []) + (
        ["bot-gateway"] if table.gateway_min_replicas > 1 else []
    )
    assert sorted(p.metadata.name for p in pdbs) == sorted(expected_pdbs)

    assert store["status"]["readyReplicas"] == table.qdrant_replicas
    assert store["status"]["observedGeneration"] == store["metadata"]["generation"]
    assert pipeline["status"]["url"] == f"http://bot-gateway.{namespace}.svc:8080"
    conditions = {c["type"]: c["status"] for c in pipeline["status"]["conditions"]}
    assert conditions["VectorStoreReady"] == "True" and conditions["GatewayReady"] == "True"


def test_profile_change_resizes_in_place(cluster: Cluster, namespace: str, operator: Operator) -> None:
    cluster.create(namespace, vectorstore(profile="small"))
    cluster.create(namespace, ragpipeline(profile="small"))
    cluster.wait_ready("VectorStore", namespace, "docs")
    cluster.wait_ready("RagPipeline", namespace, "bot")
    uid = cluster.apps.read_namespaced_stateful_set("docs-qdrant", namespace).metadata.uid

    cluster.patch("VectorStore", namespace, "docs", {"spec": {"profile": "medium"}})
    cluster.patch("RagPipeline", namespace, "bot", {"spec": {"profile": "medium"}})
    medium = PROFILES[Profile.MEDIUM]
    sts = wait_for(
        lambda: (s := cluster.apps.read_namespaced_stateful_set("docs-qdrant", namespace)).spec.replicas == 3 and s,
        what="StatefulSet scaled to 3",
    )
    assert sts.metadata.uid == uid
    assert _container(sts).resources.requests == {
        "cpu": medium.qdrant.request_cpu,
        "memory": medium.qdrant.request_memory,
        "ephemeral-storage": qdrant_builders.EPHEMERAL_REQUEST,
    }
    hpa_api = client.AutoscalingV2Api(cluster.api)
    wait_for(
        lambda: hpa_api.read_namespaced_horizontal_pod_autoscaler("bot-gateway", namespace).spec.max_replicas == 6,
        what="HPA bounds of the medium profile",
    )
    cluster.wait_ready("VectorStore", namespace, "docs")
    cluster.wait_ready("RagPipeline", namespace, "bot")


def test_drift_is_repaired_but_user_additions_survive(cluster: Cluster, namespace: str, operator: Operator) -> None:
    cluster.create(namespace, vectorstore())
    cluster.wait_ready("VectorStore", namespace, "docs")

    cluster.core.delete_namespaced_service("docs-qdrant", namespace)
    wait_for(lambda: cluster.core.read_namespaced_service("docs-qdrant", namespace), what="Service recreated")

    cluster.apps.patch_namespaced_stateful_set(
        "docs-qdrant",
        namespace,
        {"metadata": {"labels": {"team": "search"}, "annotations": {"note": "mine"}}, "spec": {"replicas": 4}},
    )
    sts = wait_for(
        lambda: (s := cluster.apps.read_namespaced_stateful_set("docs-qdrant", namespace)).spec.replicas == 1 and s,
        what="replicas restored to the profile's 1",
    )
    assert sts.metadata.labels["team"] == "search"
    assert sts.metadata.annotations["note"] == "mine"


def test_pipeline_waits_for_its_vectorstore(cluster: Cluster, namespace: str, operator: Operator) -> None:
    cluster.create(namespace, ragpipeline())
    condition = wait_for(
        lambda: (
            (c := cluster.condition("RagPipeline", namespace, "bot", "VectorStoreReady"))
            and c["status"] == "False"
            and c
        ),
        what="VectorStoreReady=False",
    )
    assert condition["reason"] == "VectorStoreNotFound"
    assert "docs" in condition["message"] and "spec.vectorStoreRef.name" in condition["message"]

    cluster.create(namespace, vectorstore())
    cluster.wait_ready("RagPipeline", namespace, "bot")


def test_delete_collects_children_and_keeps_data_unless_told(
    cluster: Cluster, namespace: str, operator: Operator
) -> None:
    cluster.create(namespace, vectorstore(name="keep"))
    cluster.create(namespace, vectorstore(name="drop", storage={"retainOnDelete": False}))
    cluster.wait_ready("VectorStore", namespace, "keep")
    cluster.wait_ready("VectorStore", namespace, "drop")
    wait_for(lambda: len(cluster.core.list_namespaced_persistent_volume_claim(namespace).items) == 2, what="2 PVCs")

    cluster.delete("VectorStore", namespace, "keep")
    cluster.delete("VectorStore", namespace, "drop")

    wait_for(lambda: not cluster.apps.list_namespaced_stateful_set(namespace).items, what="StatefulSets collected")
    wait_for(lambda: not [s for s in cluster.core.list_namespaced_service(namespace).items], what="Services collected")
    pvcs = wait_for(
        lambda: (
            [
                p.metadata.name
                for p in cluster.core.list_namespaced_persistent_volume_claim(namespace).items
                if p.metadata.deletion_timestamp is None
            ]
            == ["storage-keep-qdrant-0"]
            and True
        ),
        what="only the retained PVC left",
    )
    assert pvcs


def test_removing_backup_deletes_the_cronjob(cluster: Cluster, namespace: str, operator: Operator) -> None:
    batch = client.BatchV1Api(cluster.api)
    cluster.create(namespace, vectorstore(backup={"schedule": "15 1 * * *", "retention": "7d"}))
    cluster.wait_ready("VectorStore", namespace, "docs")
    cronjob = batch.read_namespaced_cron_job("docs-backup", namespace)
    assert cronjob.spec.schedule == "15 1 * * *" and cronjob.spec.concurrency_policy == "Forbid"
    assert cluster.condition("VectorStore", namespace, "docs", "BackupScheduled")["status"] == "True"

    cluster.patch("VectorStore", namespace, "docs", {"spec": {"backup": None}})

    wait_for(lambda: not batch.list_namespaced_cron_job(namespace).items, what="CronJob deleted")
    wait_for(
        lambda: cluster.condition("VectorStore", namespace, "docs", "BackupScheduled")["reason"] == "NotConfigured",
        what="BackupScheduled=False NotConfigured",
    )
    # The backup volume holds backups: it is never pruned with the schedule.
    cluster.core.read_namespaced_persistent_volume_claim("docs-backup", namespace)
