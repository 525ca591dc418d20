"""Keys as files: read at start, a rotated Secret used without a restart, the old key refused from then on."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from ragops.gateway.config import ConfigError, GatewayConfig, parse_pipeline
from ragops.secretfiles import SecretFile
from tests.gateway.conftest import OPENAI, Start, manifest
from tests.secret_volume import SecretVolume


def test_key_files_are_read_at_start_and_win_over_plain_variables(tmp_path: Path) -> None:
    volume = SecretVolume(tmp_path / "keys", {"gateway": "file-key\n", "qdrant": "q-file", "embedding": "e-file"})
    env = {
        "RAGOPS_GATEWAY_API_KEY_FILE": str(volume.path("gateway")),
        "RAGOPS_GATEWAY_API_KEY": "plain-key",  # ignored: the file wins
        "RAGOPS_QDRANT_API_KEY_FILE": str(volume.path("qdrant")),
        "RAGOPS_EMBEDDING_API_KEY_FILE": str(volume.path("embedding")),
        "RAGOPS_LLM_API_KEY": "l-plain",  # no file: the variable still works (local runs)
    }
    config = GatewayConfig.from_env(parse_pipeline(manifest()), environ=env)
    assert isinstance(config.api_key, SecretFile)
    assert config.api_key.get() == "file-key"  # the Secret's trailing newline is not part of the key
    assert isinstance(config.qdrant_api_key, SecretFile) and config.qdrant_api_key.get() == "q-file"
    assert isinstance(config.embedding_api_key, SecretFile) and config.embedding_api_key.get() == "e-file"
    assert config.llm_api_key == "l-plain"
    assert "file-key" not in repr(config) and "q-file" not in repr(config)


@pytest.mark.parametrize("content", [None, "", "  \n"], ids=["missing", "empty", "blank"])
def test_an_unusable_key_file_stops_the_gateway_naming_the_variable(tmp_path: Path, content: str | None) -> None:
    path = tmp_path / "gateway-api-key"
    if content is not None:
        path.write_text(content)
    with pytest.raises(ConfigError, match=f"RAGOPS_GATEWAY_API_KEY_FILE: key file {path}"):
        GatewayConfig.from_env(parse_pipeline(manifest()), environ={"RAGOPS_GATEWAY_API_KEY_FILE": str(path)})


async def test_a_rotated_gateway_key_takes_over_without_a_restart(start: Start, tmp_path: Path) -> None:
    volume = SecretVolume(tmp_path / "keys", {"apiKey": "old-key"})
    async with start(api_key=SecretFile(volume.path("apiKey"), recheck_seconds=0)) as h:
        query = {"query": "anything"}
        assert (await h.client.post("/v1/query", json=query, headers={"X-API-Key": "old-key"})).status_code == 200

        volume.update({"apiKey": "new-key"})  # what the kubelet does when the Secret changes

        assert (await h.client.post("/v1/query", json=query, headers={"X-API-Key": "new-key"})).status_code == 200
        refused = await h.client.post("/v1/query", json=query, headers={"Authorization": "Bearer old-key"})
        assert refused.status_code == 401


async def test_a_rotated_provider_key_is_sent_on_the_next_call(start: Start, tmp_path: Path) -> None:
    volume = SecretVolume(tmp_path / "keys", {"embedding": "emb-1", "llm": "llm-1"})
    keys = {role: SecretFile(volume.path(role), recheck_seconds=0) for role in ("embedding", "llm")}
    async with start(embedding=OPENAI, llm=OPENAI, embedding_api_key=keys["embedding"], llm_api_key=keys["llm"]) as h:
        assert (await h.ingest(("cats", "Cats purr when they are content."))).status_code == 200
        volume.update({"embedding": "emb-2", "llm": "llm-2"})
        assert (await h.query("why do cats purr", topK=1)).status_code == 200
    embeds = [c.headers["authorization"] for c in h.provider.posts("/v1/embeddings")]
    chats = [c.headers["authorization"] for c in h.provider.posts("/v1/chat/completions")]
    assert embeds[0] == "Bearer emb-1" and embeds[-1] == "Bearer emb-2"
    assert chats == ["Bearer llm-2"]


async def test_a_key_file_that_breaks_later_keeps_the_last_key(
    start: Start, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "gateway-api-key"
    path.write_text("steady-key")
    async with start(api_key=SecretFile(path, recheck_seconds=0)) as h:
        path.write_text("")  # a botched rotation: an empty Secret value
        with caplog.at_level(logging.WARNING):
            response = await h.client.post("/v1/query", json={"query": "x"}, headers={"X-API-Key": "steady-key"})
        assert response.status_code == 200
    assert f"key file {path} is empty; keeping the previous key" in caplog.text
    assert "steady-key" not in caplog.text
