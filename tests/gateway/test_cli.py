"""`ragops gateway`: flags, configuration from the environment, and a real process in laptop mode."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from ragops.gateway.cli import add_arguments, run
from ragops.gateway.config import ConfigError, GatewayConfig, load_pipeline
from tests.gateway.conftest import manifest

REPO = Path(__file__).resolve().parents[2]


def parse(*argv: str) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    return parser.parse_args(argv)


def write(tmp_path: Path, *documents: object) -> Path:
    path = tmp_path / "pipeline.yaml"
    path.write_text(yaml.safe_dump_all(documents))
    return path


def test_flags_and_defaults() -> None:
    args = parse("--pipeline", "/etc/ragops/pipeline.yaml")
    assert (args.pipeline, args.host, args.port, args.qdrant_url, args.log_level) == (
        Path("/etc/ragops/pipeline.yaml"),
        "0.0.0.0",
        8080,
        None,
        "INFO",
    )
    with pytest.raises(SystemExit):
        parse()  # --pipeline is required


def test_environment_and_flag_precedence(tmp_path: Path) -> None:
    pipeline = load_pipeline(write(tmp_path, {"kind": "VectorStore", "metadata": {"name": "x"}}, manifest()))
    env = {
        "RAGOPS_QDRANT_URL": "http://docs-qdrant.search.svc:6333",
        "RAGOPS_QDRANT_API_KEY": "q",
        "RAGOPS_GATEWAY_API_KEY": "g",
        "RAGOPS_EMBEDDING_API_KEY": "e",
        "RAGOPS_LLM_API_KEY": "",
        "RAGOPS_WORKERS": "16",
    }
    config = GatewayConfig.from_env(pipeline, environ=env)
    assert (config.qdrant_url, config.qdrant_api_key, config.api_key, config.embedding_api_key) == (
        "http://docs-qdrant.search.svc:6333",
        "q",
        "g",
        "e",
    )
    assert config.llm_api_key is None  # empty means absent
    assert config.workers == 16
    assert GatewayConfig.from_env(pipeline, qdrant_url=":memory:", environ=env).qdrant_url == ":memory:"
    assert GatewayConfig.from_env(pipeline, environ={}).workers == 4
    assert "'g'" not in repr(config) and "'q'" not in repr(config)  # keys stay out of reprs (and logs)
    with pytest.raises(ConfigError, match="RAGOPS_WORKERS must be a positive integer"):
        GatewayConfig.from_env(pipeline, environ={"RAGOPS_WORKERS": "many"})


@pytest.fixture
def root_logging() -> Iterator[None]:
    """run() configures the root logger (force=True) on the stream of the moment, which pytest closes after
    the test: put the previous handlers back, or every later log record reports a logging error."""
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


@pytest.mark.usefixtures("root_logging")
def test_bad_manifests_fail_with_one_clear_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = manifest(chunking={"size": 10, "overlap": 20})
    assert run(parse("--pipeline", str(write(tmp_path, bad)))) == 1
    assert run(parse("--pipeline", str(tmp_path / "missing.yaml"))) == 1
    with pytest.raises(ConfigError, match="no RagPipeline"):
        load_pipeline(write(tmp_path, {"kind": "VectorStore"}))
    with pytest.raises(ConfigError, match=r"spec\.chunking: .*overlap must be smaller than"):
        load_pipeline(write(tmp_path, bad))


def test_laptop_mode_serves_as_a_process(tmp_path: Path) -> None:
    """`python -m ragops.gateway --pipeline FILE --qdrant-url :memory:` (what `ragops gateway` delegates to):
    becomes ready, ingests, answers, and stops cleanly on SIGTERM."""
    path = write(tmp_path, manifest())
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAGOPS_")}
    command = [sys.executable, "-m", "ragops.gateway", "--pipeline", str(path), "--host", "127.0.0.1"]
    process = subprocess.Popen(
        [*command, "--port", str(port), "--qdrant-url", ":memory:", "--log-level", "warning"],
        cwd=REPO,
        env={**env, "PYTHONPATH": str(REPO / "operator")},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{url}/readyz").status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "gateway did not become ready"
            time.sleep(0.1)
        documents = {"documents": [{"id": "cats", "text": "Cats purr when content."}]}
        assert httpx.post(f"{url}/v1/documents", json=documents).json()["chunks"] == 1
        hits = httpx.post(f"{url}/v1/query", json={"query": "do cats purr"}).json()["chunks"]
        assert hits[0]["documentId"] == "cats"
    finally:
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    # uvicorn shuts down gracefully, then re-raises SIGTERM so the exit status says what stopped it.
    assert process.returncode in (0, -signal.SIGTERM), output
    assert "Traceback" not in output
    assert "authentication is OFF" in output
