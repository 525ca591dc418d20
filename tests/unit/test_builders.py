"""Builder output for the samples: security, probes, labels, owners, distributed mode."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from tests.unit.samples import pipeline, store

from ragops.builders import PipelineInputs, StoreInputs, build_pipeline_children, build_vectorstore_children
from ragops.builders.backup import build_backup_now_job, build_restore_job
from ragops.models import parse_resource, resolve_pipeline, resolve_vectorstore

LABELS = ("name", "instance", "component", "part-of", "managed-by")


def store_children(profile: str = "small", **spec: Any) -> list[dict[str, Any]]:
    resource = parse_resource(store(profile, **{"backup": {}, **spec}))
    inputs = StoreInputs(resolve_vectorstore(resource.spec), "ragops:1", "ragops-system", "k", "ro")
    return [
        *build_vectorstore_children(resource, inputs),
        build_backup_now_job(resource, inputs, "r1"),
        build_restore_job(parse_resource(store(profile, backup={}, restore={"backupName": "b"})), inputs),
    ]


def pipeline_children(profile: str = "small", **spec: Any) -> list[dict[str, Any]]:
    resource = parse_resource(pipeline(profile, **spec))
    inputs = PipelineInputs(
        resolve_pipeline(resource.spec),
        "ragops:1",
        ("docs-qdrant-api-key", "apiKey"),
        "gk",
        operator_namespace="ragops-system",
    )
    return build_pipeline_children(resource, inputs)


def by_kind(objects: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [o for o in objects if o["kind"] == kind]


def pod_specs(obj: dict[str, Any]) -> list[dict[str, Any]]:
    spec = obj.get("spec") or {}
    if obj["kind"] == "CronJob":
        return [spec["jobTemplate"]["spec"]["template"]["spec"]]
    if "template" in spec:
        return [spec["template"]["spec"]]
    return []


@pytest.mark.parametrize("profile", ["small", "medium", "large"])
def test_every_pod_meets_the_restricted_pod_security_standard(profile: str) -> None:
    specs = [s for obj in store_children(profile) + pipeline_children(profile) for s in pod_specs(obj)]
    # StatefulSet, CronJob, backup-now Job, restore Job and the gateway Deployment.
    assert len(specs) == 5
    for spec in specs:
        assert spec["securityContext"]["runAsNonRoot"] is True
        assert spec["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
        assert spec.get("hostNetwork") is None and spec["automountServiceAccountToken"] is False
        for container in spec["containers"]:
            ctx = container["securityContext"]
            assert ctx["allowPrivilegeEscalation"] is False
            assert ctx["capabilities"] == {"drop": ["ALL"]}
            assert ctx["runAsNonRoot"] is True and ctx["readOnlyRootFilesystem"] is True
            assert container["resources"]["limits"] and container["resources"]["requests"]


def test_every_child_has_labels_and_an_owner_except_retained_volumes() -> None:
    for obj in store_children() + pipeline_children():
        labels = obj["metadata"]["labels"]
        assert all(f"app.kubernetes.io/{key}" in labels for key in LABELS), obj["metadata"]["name"]
        assert labels["app.kubernetes.io/part-of"] == "ragops" and labels["app.kubernetes.io/managed-by"] == "ragops"
        owners = obj["metadata"].get("ownerReferences", [])
        if obj["kind"] == "PersistentVolumeClaim":
            assert owners == []  # retainOnDelete defaults to true: the backup volume outlives the store
        else:
            assert owners and owners[0]["controller"] is True and owners[0]["kind"] in ("VectorStore", "RagPipeline")


def test_backup_volume_is_owned_when_retain_on_delete_is_off() -> None:
    pvc = by_kind(store_children(storage={"retainOnDelete": False}), "PersistentVolumeClaim")[0]
    assert pvc["metadata"]["ownerReferences"][0]["name"] == "docs"
    sts = by_kind(store_children(storage={"retainOnDelete": False}), "StatefulSet")[0]
    assert sts["spec"]["persistentVolumeClaimRetentionPolicy"] == {"whenDeleted": "Delete", "whenScaled": "Retain"}


def test_qdrant_probes_and_ports_follow_the_design() -> None:
    sts = by_kind(store_children(), "StatefulSet")[0]
    container = sts["spec"]["template"]["spec"]["containers"][0]
    # Startup asks whether the process serves (/livez), not whether shards recovered (issue 18: a big node
    # recovering must not be killed); routing waits for /readyz.
    assert container["startupProbe"]["httpGet"]["path"] == "/livez"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    live = container["livenessProbe"]
    assert (live["httpGet"]["path"], live["periodSeconds"], live["timeoutSeconds"], live["failureThreshold"]) == (
        "/livez",
        30,
        10,
        3,
    )
    assert {p["name"]: p["containerPort"] for p in container["ports"]} == {"http": 6333, "grpc": 6334, "p2p": 6335}
    assert sts["spec"]["podManagementPolicy"] == "Parallel"


def test_distributed_mode_only_with_more_than_one_replica() -> None:
    single = store_children("small")
    sts = by_kind(single, "StatefulSet")[0]
    config = yaml.safe_load(by_kind(single, "ConfigMap")[0]["data"]["production.yaml"])
    assert config["cluster"]["enabled"] is False
    assert "--bootstrap" not in sts["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert "topologySpreadConstraints" not in sts["spec"]["template"]["spec"]
    assert by_kind(single, "PodDisruptionBudget") == []

    multi = store_children("medium")
    sts = by_kind(multi, "StatefulSet")[0]
    config = yaml.safe_load(by_kind(multi, "ConfigMap")[0]["data"]["production.yaml"])
    assert config["cluster"]["enabled"] is True and config["cluster"]["p2p"]["port"] == 6335
    script = sts["spec"]["template"]["spec"]["containers"][0]["args"][0]
    assert "--bootstrap" in script and "docs-qdrant-0.docs-qdrant-headless" in script
    assert sts["spec"]["template"]["spec"]["topologySpreadConstraints"]
    assert by_kind(multi, "PodDisruptionBudget")[0]["spec"]["maxUnavailable"] == 1


def test_config_change_rolls_the_pods() -> None:
    def annotation(profile: str) -> str:
        sts = by_kind(store_children(profile), "StatefulSet")[0]
        return str(sts["spec"]["template"]["metadata"]["annotations"]["ragops.dev/config-hash"])

    assert annotation("small") != annotation("medium")


def test_gateway_deployment_leaves_replicas_to_the_hpa_and_wires_secrets() -> None:
    objects = pipeline_children(embedding={"provider": "openai", "apiKeySecretRef": {"name": "openai"}})
    deployment = by_kind(objects, "Deployment")[0]
    assert "replicas" not in deployment["spec"]
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["args"][:3] == ["gateway", "--pipeline", "/etc/ragops/pipeline.yaml"]
    assert container["image"] == "ragops:1"
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["RAGOPS_EMBEDDING_API_KEY_FILE"] == "/etc/ragops-keys/embedding-api-key"
    assert env["RAGOPS_QDRANT_API_KEY_FILE"] == "/etc/ragops-keys/qdrant-api-key"
    assert "RAGOPS_LLM_API_KEY_FILE" not in env  # no llm: retrieval only
    assert (container["livenessProbe"]["httpGet"]["path"], container["readinessProbe"]["httpGet"]["path"]) == (
        "/healthz",
        "/readyz",
    )
    hpa = by_kind(objects, "HorizontalPodAutoscaler")[0]
    assert hpa["spec"]["scaleTargetRef"]["name"] == "bot-gateway"
    config = yaml.safe_load(by_kind(objects, "ConfigMap")[0]["data"]["pipeline.yaml"])
    assert config["kind"] == "RagPipeline" and config["spec"]["collection"] == "manuals"
    # The gateway reads its manifest back with the same model the operator used.
    assert (
        parse_resource(config).spec
        == parse_resource(pipeline(embedding={"provider": "openai", "apiKeySecretRef": {"name": "openai"}})).spec
    )


def test_user_supplied_secrets_are_referenced_not_generated() -> None:
    objects = store_children(security={"apiKeySecretRef": {"name": "mine", "key": "k"}})
    assert by_kind(objects, "Secret") == []
    env = by_kind(objects, "StatefulSet")[0]["spec"]["template"]["spec"]["containers"][0]["env"]
    assert {"name": "mine", "key": "k"} in [e.get("valueFrom", {}).get("secretKeyRef") for e in env]


def test_network_policy_admits_only_clients_operator_and_allowed_namespaces() -> None:
    policy = by_kind(store_children(security={"allowedNamespaces": ["analytics"]}), "NetworkPolicy")[0]
    sources = policy["spec"]["ingress"][1]["from"]
    assert {"podSelector": {"matchLabels": {"ragops.dev/vectorstore-client": "docs"}}} in sources
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "analytics"}}} in sources
    operator_rule = next(s for s in sources if "podSelector" in s and "namespaceSelector" in s)
    assert operator_rule["namespaceSelector"]["matchLabels"]["kubernetes.io/metadata.name"] == "ragops-system"
    gateway_pod = by_kind(pipeline_children(), "Deployment")[0]["spec"]["template"]["metadata"]["labels"]
    assert gateway_pod["ragops.dev/vectorstore-client"] == "docs"


def test_backup_cronjob_and_jobs() -> None:
    objects = store_children("medium")
    cronjob = by_kind(objects, "CronJob")[0]
    assert (cronjob["spec"]["schedule"], cronjob["spec"]["concurrencyPolicy"]) == ("0 2 * * *", "Forbid")
    assert cronjob["spec"]["successfulJobsHistoryLimit"] == 3 and cronjob["spec"]["failedJobsHistoryLimit"] == 3
    args = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]["containers"][0]["args"]
    assert args.count("--node-url") == 3 and args[args.index("--pvc-path") + 1] == "/backups"
    s3 = store_children(backup={"destination": {"s3": {"bucket": "bkp", "credentialsSecretRef": {"name": "s3"}}}})
    cron = by_kind(s3, "CronJob")[0]["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    assert "--s3-bucket" in cron["containers"][0]["args"]
    assert {e["name"] for e in cron["containers"][0]["env"]} >= {"QDRANT_API_KEY_FILE", "RAGOPS_S3_CREDENTIALS_DIR"}


def test_prometheus_rule_only_when_monitoring_asks_for_it() -> None:
    assert by_kind(pipeline_children(), "PrometheusRule") == []
    rule = by_kind(pipeline_children(monitoring={"prometheusRule": True}), "PrometheusRule")[0]
    assert rule["metadata"]["name"] == "bot-gateway"
    assert rule["metadata"]["ownerReferences"][0]["name"] == "bot"
    assert rule["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "ragops"
    severities = {r["labels"]["severity"] for g in rule["spec"]["groups"] for r in g["rules"]}
    assert severities == {"warning", "critical"}
