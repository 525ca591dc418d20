"""Qdrant pods the way Qdrant's own chart runs them (issue 18) and the store side of the hardening (issue 14):
probes sized from storage, the open-file limit, key rotation, one scrape with the read-only key, the
snapshot volume, scheduling knobs, config passthrough, preStop, keys as files in the backup Jobs."""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
import yaml
from tests.unit.samples import store

from ragops.builders import StoreInputs, build_vectorstore_children
from ragops.builders.backup import build_restore_job
from ragops.builders.qdrant import API_KEY_HASH_ANNOTATION, METRICS_SERVICE_LABEL, start_script
from ragops.models import SpecError, parse_resource, resolve_vectorstore
from ragops.models.base import quantity


def children(profile: str = "small", *, key_hash: str | None = None, **spec: Any) -> dict[tuple[str, str], Any]:
    resource = parse_resource(store(profile, **spec))
    inputs = StoreInputs(
        resolve_vectorstore(resource.spec), "ragops:1", "ragops-system", "k", "ro", api_key_hash=key_hash
    )
    built = build_vectorstore_children(resource, inputs)
    return {(o["kind"], o["metadata"]["name"]): o for o in built}


def statefulset(profile: str = "small", **spec: Any) -> dict[str, Any]:
    return children(profile, **spec)[("StatefulSet", "docs-qdrant")]


def pod(profile: str = "small", **spec: Any) -> dict[str, Any]:
    return statefulset(profile, **spec)["spec"]["template"]["spec"]


def qdrant_config(profile: str = "small", **spec: Any) -> dict[str, Any]:
    config_map = children(profile, **spec)[("ConfigMap", "docs-qdrant-config")]
    return yaml.safe_load(config_map["data"]["production.yaml"])


@pytest.mark.parametrize(("profile", "minutes"), [("small", 11), ("medium", 20), ("large", 112)])
def test_startup_waits_for_livez_longer_the_more_a_node_holds(profile: str, minutes: int) -> None:
    container = pod(profile)["containers"][0]
    startup = container["startupProbe"]
    assert startup["httpGet"]["path"] == "/livez"
    budget = startup["periodSeconds"] * startup["failureThreshold"]
    assert round(budget / 60) == minutes
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"  # routing still waits for shards
    assert container["livenessProbe"]["httpGet"]["path"] == "/livez"


def test_startup_budget_follows_an_explicit_storage_size() -> None:
    startup = pod(storage={"size": "500Gi"})["containers"][0]["startupProbe"]
    assert startup["periodSeconds"] * startup["failureThreshold"] == 600 + 6 * 500


@pytest.mark.parametrize("profile", ["small", "medium"])
def test_qdrant_starts_with_the_hard_open_file_limit(profile: str) -> None:
    container = pod(profile)["containers"][0]
    assert container["command"] == ["/bin/bash", "-c"]
    script = container["args"][0]
    assert script.startswith('ulimit -n "$(ulimit -Hn)"')
    assert "exec ./entrypoint.sh" in script


def test_the_start_script_raises_the_limit_in_a_real_shell(tmp_path: Any) -> None:
    """Run the single-node script with a stand-in entrypoint: the limit Qdrant starts with is the hard one."""
    resource = parse_resource(store("small"))
    script = start_script(resource, resolve_vectorstore(resource.spec))
    (tmp_path / "entrypoint.sh").write_text('#!/bin/bash\necho "soft=$(ulimit -Sn) hard=$(ulimit -Hn)"\n')
    (tmp_path / "entrypoint.sh").chmod(0o755)
    out = subprocess.run(
        ["/bin/bash", "-c", f"ulimit -Sn 64; {script}"], cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.split()
    soft, hard = (int(part.split("=")[1]) if part.split("=")[1].isdigit() else part for part in out)
    assert soft == hard


def test_joining_peers_wait_for_pod_zero_only_on_their_first_start() -> None:
    script = pod("medium")["containers"][0]["args"][0]
    founder = "docs-qdrant-0.docs-qdrant-headless.search.svc"
    assert f"/dev/tcp/{founder}/6335" in script
    assert "raft_state.json" in script  # a node that already joined restarts without waiting for pod 0
    assert f'--bootstrap "http://{founder}:6335"' in script


def test_pods_get_a_short_prestop_delay_within_the_grace_period() -> None:
    spec = pod("medium")
    pre_stop = spec["containers"][0]["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep" and 0 < int(pre_stop[1]) < spec["terminationGracePeriodSeconds"]


def test_a_key_hash_rolls_the_pods_and_no_key_value_appears() -> None:
    sts = children("medium", key_hash="sha256:0123456789abcdef")[("StatefulSet", "docs-qdrant")]
    annotations = sts["spec"]["template"]["metadata"]["annotations"]
    assert annotations[API_KEY_HASH_ANNOTATION] == "sha256:0123456789abcdef"
    assert sts["spec"]["updateStrategy"] == {"type": "RollingUpdate"}  # one pod at a time
    assert not {"k", "ro"} & set(annotations.values())  # the key values themselves never appear


def test_the_service_monitor_scrapes_the_client_service_only_with_the_read_only_key() -> None:
    built = children("medium", monitoring={"serviceMonitor": True})
    monitor = built[("ServiceMonitor", "docs-qdrant")]
    selector = monitor["spec"]["selector"]["matchLabels"]
    services = [o for (kind, _), o in built.items() if kind == "Service"]
    selected = [s for s in services if selector.items() <= s["metadata"]["labels"].items()]
    assert [s["metadata"]["name"] for s in selected] == ["docs-qdrant"]
    assert selected[0]["metadata"]["labels"][METRICS_SERVICE_LABEL] == "true"
    credentials = monitor["spec"]["endpoints"][0]["authorization"]["credentials"]
    assert credentials == {"name": "docs-qdrant-api-key", "key": "readOnlyApiKey"}


def test_the_service_monitor_falls_back_to_the_main_key_without_a_read_only_one() -> None:
    built = children("medium", monitoring={"serviceMonitor": True}, security={"readOnlyAPIKey": False})
    credentials = built[("ServiceMonitor", "docs-qdrant")]["spec"]["endpoints"][0]["authorization"]["credentials"]
    assert credentials["key"] == "apiKey"


def test_the_network_policy_admits_the_prometheus_namespace_to_the_http_port_only() -> None:
    policy = children(monitoring={"prometheusNamespace": "monitoring"})[("NetworkPolicy", "docs-qdrant")]
    monitoring = {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}}
    scrape = [rule for rule in policy["spec"]["ingress"] if monitoring in rule["from"]]
    assert scrape == [{"from": [monitoring], "ports": [{"protocol": "TCP", "port": 6333}]}]
    assert "monitoring" not in yaml.safe_dump(children()[("NetworkPolicy", "docs-qdrant")])


def test_every_emptydir_is_bounded_and_the_pod_requests_ephemeral_storage() -> None:
    spec = pod("medium")
    for volume in spec["volumes"]:
        if "emptyDir" in volume:
            assert "sizeLimit" in volume["emptyDir"], volume["name"]
    snapshots = next(v for v in spec["volumes"] if v["name"] == "snapshots")
    assert snapshots["emptyDir"]["sizeLimit"] == "100Gi"  # a full snapshot of the node's data fits
    assert "ephemeral-storage" in spec["containers"][0]["resources"]["requests"]


def test_a_snapshot_volume_is_a_per_pod_ephemeral_claim_sized_from_the_store() -> None:
    spec = pod("medium", storage={"snapshotVolume": {"storageClassName": "fast"}})
    snapshots = next(v for v in spec["volumes"] if v["name"] == "snapshots")
    claim = snapshots["ephemeral"]["volumeClaimTemplate"]["spec"]
    assert claim["resources"]["requests"]["storage"] == "100Gi" and claim["storageClassName"] == "fast"
    sized = pod("medium", storage={"snapshotVolume": {"size": "20Gi"}})
    claim = next(v for v in sized["volumes"] if v["name"] == "snapshots")["ephemeral"]["volumeClaimTemplate"]["spec"]
    assert claim["resources"]["requests"]["storage"] == "20Gi" and "storageClassName" not in claim


def test_scheduling_knobs_reach_the_pods() -> None:
    spec = pod(
        "medium",
        qdrant={
            "nodeSelector": {"pool": "vectors"},
            "tolerations": [{"key": "dedicated", "value": "qdrant", "effect": "NoSchedule"}],
            "priorityClassName": "vectors-critical",
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {"nodeSelectorTerms": []}}},
        },
    )
    assert spec["nodeSelector"] == {"pool": "vectors"}
    assert spec["tolerations"] == [{"key": "dedicated", "operator": "Equal", "value": "qdrant", "effect": "NoSchedule"}]
    assert spec["priorityClassName"] == "vectors-critical"
    assert "nodeAffinity" in spec["affinity"] and "podAntiAffinity" not in spec["affinity"]
    assert {c["whenUnsatisfiable"] for c in spec["topologySpreadConstraints"]} == {"ScheduleAnyway"}


def test_required_spread_puts_at_most_one_peer_per_node_and_keeps_the_users_terms() -> None:
    own = {"labelSelector": {"matchLabels": {"team": "x"}}, "topologyKey": "kubernetes.io/hostname"}
    spec = pod(
        "medium",
        qdrant={
            "spread": "Required",
            "affinity": {"podAntiAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": [own]}},
        },
    )
    terms = spec["affinity"]["podAntiAffinity"]["requiredDuringSchedulingIgnoredDuringExecution"]
    assert terms[0] == own
    assert terms[1]["topologyKey"] == "kubernetes.io/hostname"
    assert terms[1]["labelSelector"]["matchLabels"]["app.kubernetes.io/instance"] == "docs"
    # A single node has no peers to keep apart.
    assert "affinity" not in pod("small", qdrant={"spread": "Required"})


def test_default_spread_stays_schedulable_on_a_small_cluster() -> None:
    spec = pod("medium")
    assert "affinity" not in spec
    assert {c["topologyKey"] for c in spec["topologySpreadConstraints"]} == {
        "kubernetes.io/hostname",
        "topology.kubernetes.io/zone",
    }


def test_config_passthrough_merges_under_the_operators_keys() -> None:
    config = qdrant_config(
        "medium",
        qdrant={
            "config": {
                "log_level": "WARN",
                "storage": {"optimizers": {"default_segment_number": 4}, "on_disk_payload": True},
                "service": {"max_request_size_mb": 64},
            }
        },
    )
    assert config["log_level"] == "WARN"
    assert config["storage"]["optimizers"] == {"default_segment_number": 4}
    assert config["storage"]["storage_path"] == "/qdrant/storage"  # the operator's keys stay
    assert config["service"]["max_request_size_mb"] == 64 and config["service"]["http_port"] == 6333
    assert config["cluster"]["enabled"] is True


def test_a_config_change_rolls_the_pods() -> None:
    plain = statefulset("medium")["spec"]["template"]["metadata"]["annotations"]
    tuned = statefulset("medium", qdrant={"config": {"log_level": "DEBUG"}})["spec"]["template"]["metadata"][
        "annotations"
    ]
    assert plain["ragops.dev/config-hash"] != tuned["ragops.dev/config-hash"]


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"storage": {"storage_path": "/data"}}, "config.storage may not set storage_path"),
        ({"service": {"http_port": 8080}}, "config.service may not set host, http_port"),
        ({"service": {"api_key": "x"}}, "config.service may not set"),
        ({"cluster": {"enabled": False}}, "cluster"),
        ({"tls": {}}, "tls"),
    ],
)
def test_config_keys_the_operator_owns_are_refused(config: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_resource(store("small", qdrant={"config": config}))


@pytest.mark.parametrize(
    ("qdrant", "message"),
    [
        ({"tolerations": [{"key": "a", "operator": "Exists", "value": "b"}]}, "operator Exists takes no value"),
        ({"tolerations": [{"key": "a", "tolerationSeconds": 5}]}, "NoExecute only"),
        ({"affinity": {"nodeAfinity": {}}}, "nodeAffinity, podAffinity and podAntiAffinity only"),
        ({"nodeSelector": {"-bad": "x"}}, "nodeSelector keys must be label keys"),
        ({"spread": "Sometimes"}, "Preferred"),
    ],
)
def test_bad_scheduling_fields_are_refused(qdrant: dict[str, Any], message: str) -> None:
    with pytest.raises(SpecError, match=message):
        parse_resource(store("small", qdrant=qdrant))


def test_backup_jobs_read_keys_from_read_only_files_not_the_environment() -> None:
    s3 = {"backup": {"destination": {"s3": {"bucket": "backups", "credentialsSecretRef": {"name": "s3"}}}}}
    cronjob = children(**s3)[("CronJob", "docs-backup")]
    spec = cronjob["spec"]["jobTemplate"]["spec"]["template"]["spec"]
    container = spec["containers"][0]
    assert not [e for e in container["env"] if "valueFrom" in e and "secretKeyRef" in e["valueFrom"]]
    env = {e["name"]: e.get("value") for e in container["env"]}
    assert env["QDRANT_API_KEY_FILE"] == "/var/run/secrets/ragops/qdrant/apiKey"
    assert env["RAGOPS_S3_CREDENTIALS_DIR"] == "/var/run/secrets/ragops/s3"
    secrets = {v["name"]: v["secret"] for v in spec["volumes"] if "secret" in v}
    assert secrets["qdrant-key"]["secretName"] == "docs-qdrant-api-key"
    assert {i["path"] for i in secrets["s3-credentials"]["items"]} == {"accessKeyId", "secretAccessKey"}
    mounts = {m["name"]: m for m in container["volumeMounts"]}
    assert mounts["qdrant-key"]["readOnly"] is True and mounts["s3-credentials"]["readOnly"] is True
    tmp = next(v for v in spec["volumes"] if v["name"] == "tmp")
    limit = container["resources"]["limits"]["ephemeral-storage"]
    assert quantity(tmp["emptyDir"]["sizeLimit"]) == quantity(limit)


def test_a_restore_job_mounts_the_key_of_a_user_secret() -> None:
    resource = parse_resource(
        store(
            "small", backup={}, restore={"backupName": "b"}, security={"apiKeySecretRef": {"name": "mine", "key": "k"}}
        )
    )
    inputs = StoreInputs(resolve_vectorstore(resource.spec), "ragops:1", "ragops-system")
    job = build_restore_job(resource, inputs)
    assert job is not None
    volume = next(v for v in job["spec"]["template"]["spec"]["volumes"] if v["name"] == "qdrant-key")
    assert volume["secret"]["secretName"] == "mine" and volume["secret"]["items"] == [{"key": "k", "path": "apiKey"}]
