"""The real-Qdrant tier's pod simulation (tests/real_qdrant/server.py), checked with a stand-in binary that
records what it was started with: the StatefulSet's bash args reach Qdrant with peer names resolved, the
Secret's keys arrive in the env, and the ConfigMap's file sits where RUN_MODE=production makes Qdrant read it.
Runs without a Qdrant binary, so a broken harness shows up before the real tier runs."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
from pathlib import Path

import yaml

from tests.real_qdrant.server import API_KEY, READ_ONLY_KEY, pods, store

RECORDER = """#!{python}
import json, os, sys
print(json.dumps({{"argv": sys.argv[1:], "cwd": os.getcwd(), "env": dict(os.environ)}}))
"""


def test_pods_get_the_statefulsets_args_env_and_config(tmp_path: Path) -> None:
    fake = tmp_path / "qdrant"
    fake.write_text(RECORDER.format(python=sys.executable))
    fake.chmod(0o755)

    cluster = pods(store("docs", 3), tmp_path / "pods", str(fake), "127.9.9")

    seen = []
    # Joining peers wait for pod 0's p2p port on their first start: stand in for it while they start.
    with socket.create_server(("127.9.9.1", 6335)):
        for node in cluster.nodes:
            done = subprocess.run(
                node.argv, cwd=node.directory, env=node.env, capture_output=True, check=True, timeout=30
            )
            seen.append(json.loads(done.stdout))
    assert [s["argv"] for s in seen] == [
        ["--uri", "http://127.9.9.1:6335"],
        ["--bootstrap", "http://127.9.9.1:6335", "--uri", "http://127.9.9.2:6335"],
        ["--bootstrap", "http://127.9.9.1:6335", "--uri", "http://127.9.9.3:6335"],
    ]
    for node, record in zip(cluster.nodes, seen, strict=True):
        env = record["env"]
        assert (env["QDRANT__SERVICE__API_KEY"], env["QDRANT__SERVICE__READ_ONLY_API_KEY"]) == (API_KEY, READ_ONLY_KEY)
        assert env["RUN_MODE"] == "production" and env["HOSTNAME"] == node.pod == f"docs-qdrant-{node.ordinal}"
        assert env["QDRANT__SERVICE__HOST"] == node.address
        assert env["QDRANT_INIT_FILE_PATH"] == f"{node.directory}/init/.qdrant-initialized"
        config = yaml.safe_load((Path(record["cwd"]) / "config" / "production.yaml").read_text())
        assert config["storage"]["storage_path"] == f"{node.directory}/storage"
        assert config["cluster"] == {"enabled": True, "p2p": {"port": 6335}, "consensus": {"tick_period_ms": 100}}
    assert cluster.rewrite("http://docs-qdrant-2.docs-qdrant-headless.search.svc:6333") == "http://127.9.9.3:6333"


def test_a_single_pod_runs_the_image_entrypoint_without_arguments_after_raising_the_file_limit(tmp_path: Path) -> None:
    fake = tmp_path / "qdrant"
    fake.write_text(RECORDER.format(python=sys.executable))
    fake.chmod(0o755)

    [node] = pods(store("docs", 1), tmp_path / "pods", str(fake), "127.9.8").nodes

    assert node.argv[:2] == ["/bin/bash", "-c"] and node.argv[2].endswith("exec ./entrypoint.sh")
    done = subprocess.run(node.argv, cwd=node.directory, env=node.env, capture_output=True, check=True, timeout=30)
    assert json.loads(done.stdout)["argv"] == []
    config = yaml.safe_load((node.directory / "config" / "production.yaml").read_text())
    assert config["cluster"] == {"enabled": False}
