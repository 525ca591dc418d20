"""connect(): a REST client with the API key (a value or a key file), built without network calls."""

from __future__ import annotations

import warnings
from pathlib import Path

from ragops.qdrant.client import connect
from ragops.secretfiles import SecretFile
from tests.qdrant.conftest import API_KEY
from tests.qdrant.double import Running
from tests.secret_volume import SecretVolume


async def test_connect_sends_the_api_key_and_builds_without_requests(qdrant: Running) -> None:
    qdrant.cluster.create_collection("manuals")
    with warnings.catch_warnings(record=True) as caught:  # the filters in force stay as they are
        client = connect(qdrant.node_urls()[0], API_KEY, timeout=0.5)
    assert [str(w.message) for w in caught] == []  # neither the insecure-key nor a compatibility warning
    assert qdrant.cluster.calls == []  # no version probe at construction
    try:
        assert [c.name for c in (await client.get_collections()).collections] == ["manuals"]
    finally:
        await client.close()
    assert [(c.path, c.api_key) for c in qdrant.cluster.calls] == [("/node-0/collections", API_KEY)]


async def test_a_key_file_is_sent_and_a_rotated_key_used_by_the_same_client(qdrant: Running, tmp_path: Path) -> None:
    # A trailing newline, as `kubectl create secret --from-file` keeps it: not part of the key.
    volume = SecretVolume(tmp_path / "keys", {"apiKey": API_KEY + "\n"})
    qdrant.cluster.create_collection("manuals")
    with warnings.catch_warnings(record=True) as caught:
        client = connect(qdrant.node_urls()[0], SecretFile(volume.path("apiKey"), recheck_seconds=0), timeout=0.5)
    assert [str(w.message) for w in caught] == []
    try:
        await client.get_collections()
        volume.update({"apiKey": "rotated-key"})
        qdrant.cluster.api_key = "rotated-key"  # Qdrant restarted with the new key
        assert [c.name for c in (await client.get_collections()).collections] == ["manuals"]
    finally:
        await client.close()
    assert [c.api_key for c in qdrant.cluster.calls] == [API_KEY, "rotated-key"]


async def test_during_a_rolling_key_change_a_pod_still_on_the_old_key_is_tried_with_it(
    qdrant: Running, tmp_path: Path
) -> None:
    """The Secret is rotated (the file changes at once) while the pods restart with the new key one by one:
    a pod still running with the old key refuses the new one, and the request goes again with the old key."""
    volume = SecretVolume(tmp_path / "keys", {"apiKey": API_KEY})
    qdrant.cluster.create_collection("manuals")
    client = connect(qdrant.node_urls()[0], SecretFile(volume.path("apiKey"), recheck_seconds=0), timeout=0.5)
    try:
        await client.get_collections()
        volume.update({"apiKey": "rotated-key"})  # this pod has not restarted yet: it still wants API_KEY
        assert [c.name for c in (await client.get_collections()).collections] == ["manuals"]
        qdrant.cluster.api_key = "rotated-key"  # now it has
        assert [c.name for c in (await client.get_collections()).collections] == ["manuals"]
    finally:
        await client.close()
    assert [c.api_key for c in qdrant.cluster.calls] == [API_KEY, "rotated-key", API_KEY, "rotated-key"]
