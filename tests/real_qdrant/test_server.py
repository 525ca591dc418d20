"""The StatefulSet's config file, arguments, env and probes, judged by a real Qdrant (see server.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import httpx
import yaml

from ragops.builders import names
from ragops.builders.qdrant import build_statefulset
from tests.real_qdrant.conftest import request
from tests.real_qdrant.server import API_KEY, READ_ONLY_KEY, Cluster, inputs, wait_ready


def test_a_single_node_runs_the_config_map_with_both_api_keys(qdrant: Callable[..., Cluster]) -> None:
    cluster = qdrant(replicas=1)
    url = cluster.urls[0]
    node = cluster.nodes[0]

    assert httpx.get(url + "/", headers={"api-key": API_KEY}).json()["version"].startswith("1.")
    # The probes carry no key: Qdrant must answer them anyway.
    statefulset = build_statefulset(cluster.resource, inputs(cluster.resource))
    container = statefulset["spec"]["template"]["spec"]["containers"][0]
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        get = container[probe]["httpGet"]
        assert get["port"] in ("http", names.QDRANT_HTTP_PORT)
        assert httpx.get(url + get["path"]).status_code == 200, probe
    # The key is required, the read-only key reads but cannot write.
    assert httpx.get(url + "/collections").status_code in (401, 403)
    assert httpx.get(url + "/collections", headers={"api-key": READ_ONLY_KEY}).status_code == 200
    body = {"vectors": {"size": 4, "distance": "Cosine"}}
    assert httpx.put(url + "/collections/c", json=body, headers={"api-key": READ_ONLY_KEY}).status_code == 403
    assert httpx.put(url + "/collections/c", json=body, headers={"api-key": API_KEY}).status_code == 200
    # The config file's paths are the mounts: data lands on the storage volume, and the init file on its own.
    config = yaml.safe_load((node.directory / "config" / "production.yaml").read_text())
    assert (node.directory / "storage" / "collections" / "c").is_dir()
    assert config["storage"]["storage_path"] == f"{node.directory}/storage"
    assert (node.directory / "init" / ".qdrant-initialized").exists()
    # Not distributed: the cluster API says so.
    assert request(cluster, "GET", "/cluster")["status"] == "disabled"


def test_three_pods_form_one_cluster_through_the_bootstrap_arguments(qdrant: Callable[..., Cluster]) -> None:
    cluster = qdrant(replicas=3)

    views = [request(cluster, "GET", "/cluster", node=i) for i in range(3)]
    uris = {cluster.rewrite(f"http://{host}:{names.QDRANT_P2P_PORT}/") for host in cluster.dns}
    for view in views:
        assert view["status"] == "enabled"
        # Every peer announced the URI built from its pod's stable DNS name (rewritten to loopback here).
        assert {peer["uri"] for peer in view["peers"].values()} == uris
    assert len({view["peer_id"] for view in views}) == 3
    assert len({view["raft_info"]["leader"] for view in views}) == 1


def test_a_restarted_pod_rejoins_with_the_same_arguments(qdrant: Callable[..., Cluster]) -> None:
    cluster = qdrant(replicas=3)
    before = request(cluster, "GET", "/cluster", node=0)["peers"]

    # A pod restart: same args (pod 1 bootstraps through pod 0 again), same storage volume.
    for ordinal in (1, 0):
        cluster.nodes[ordinal].stop()
        cluster.nodes[ordinal].start()
        wait_ready(cluster)

    after = request(cluster, "GET", "/cluster", node=2)["peers"]
    assert after.keys() == before.keys()


def test_pods_started_in_parallel_join_without_a_restart(qdrant: Callable[..., Cluster]) -> None:
    """Joining peers wait for pod 0's p2p port before bootstrapping through it (Qdrant tries once and exits:
    a crash loop under podManagementPolicy Parallel before the start script waited)."""
    cluster = qdrant(replicas=3)
    assert [node.restarts for node in cluster.nodes] == [0, 0, 0]


def test_qdrant_runs_with_the_hard_open_file_limit(qdrant: Callable[..., Cluster]) -> None:
    cluster = qdrant(replicas=1)
    process = cluster.nodes[0].process
    assert process is not None
    limits = Path(f"/proc/{process.pid}/limits").read_text()
    [line] = [line for line in limits.splitlines() if line.startswith("Max open files")]
    soft, hard = line.split()[3:5]
    assert soft == hard


def test_metrics_answer_the_read_only_key_the_service_monitor_uses(qdrant: Callable[..., Cluster]) -> None:
    cluster = qdrant(replicas=1)
    url = cluster.urls[0]
    response = httpx.get(url + "/metrics", headers={"Authorization": f"Bearer {READ_ONLY_KEY}"})
    assert response.status_code == 200 and "app_info" in response.text
    assert httpx.get(url + "/metrics").status_code in (401, 403)
