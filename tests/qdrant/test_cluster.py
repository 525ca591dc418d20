"""The pure rules behind backup/restore's view of a cluster (ragops.qdrant.cluster) and the translation of a
collection's reported configuration into the request that recreates it (ragops.qdrant.config)."""

from __future__ import annotations

from typing import Any

from qdrant_client.http import models

from ragops.qdrant.cluster import View, placement, placement_operations, problems
from ragops.qdrant.config import create_body, payload_indexes


def view(node: int, peer: int, local: dict[int, str], remote: list[tuple[int, int, str]], transfers: int = 0) -> View:
    info: dict[str, Any] = {
        "peer_id": peer,
        "shard_count": 4,
        "local_shards": [{"shard_id": s, "points_count": 0, "state": state} for s, state in local.items()],
        "remote_shards": [{"shard_id": s, "peer_id": p, "state": state} for s, p, state in remote],
        "shard_transfers": [{"shard_id": 0, "from": peer, "to": 9, "sync": False}] * transfers,
    }
    return View.of(node, models.CollectionClusterInfo.model_validate(info))


def settled() -> list[View]:
    return [
        view(0, 11, {0: "Active", 2: "Active"}, [(1, 22, "Active"), (3, 22, "Active")]),
        view(1, 22, {1: "Active", 3: "Active"}, [(0, 11, "Active"), (2, 11, "Active")]),
    ]


def test_a_settled_cluster_has_no_problems_and_its_placement_is_by_ordinal() -> None:
    views = settled()
    assert problems(views, shard_count=4) == []
    assert placement(views[0], {11: 0, 22: 1}) == {0: [0], 1: [1], 2: [0], 3: [1]}


def test_issue_16_phantom_replicas_dead_states_and_transfers_are_problems() -> None:
    # After the collection-snapshot restore: peer 11 believed peer 22 held all four shards.
    views = [
        view(0, 11, {0: "Active", 2: "Active"}, [(s, 22, "Active") for s in range(4)]),
        view(1, 22, {1: "Active", 3: "Dead"}, [(0, 11, "Active"), (2, 11, "Active")], transfers=1),
    ]
    found = problems(views)
    assert any("node 1 and node 0 disagree on where the shards are" in p for p in found)
    assert "node 1 sees the replica of shard 3 on node 1 as Dead" in found
    assert any(p.startswith("node 1 reports a shard transfer in progress: shard 0 from peer 22") for p in found)


def test_a_replica_on_a_peer_outside_the_store_and_a_missing_shard_are_problems() -> None:
    views = [view(0, 11, {0: "Active"}, [(1, 99, "Active")])]
    assert problems(views, shard_count=3) == [
        "node 0 lists a replica of shard 1 on peer 99, which is none of the store's nodes",
        "node 0 knows no replica of shard(s) 2",
    ]


def test_placement_operations_move_then_replicate_then_drop_never_the_last_replica() -> None:
    assert placement_operations({0: {1}, 1: {2}}, {0: {1}, 1: {2}}) == []
    assert placement_operations({0: {1}}, {0: {2}}) == [
        {"move_shard": {"shard_id": 0, "from_peer_id": 1, "to_peer_id": 2, "method": "stream_records"}}
    ]
    assert placement_operations({0: {1}}, {0: {1, 2}}) == [
        {"replicate_shard": {"shard_id": 0, "from_peer_id": 1, "to_peer_id": 2, "method": "stream_records"}}
    ]
    assert placement_operations({0: {1, 2}}, {0: {2}}) == [{"drop_replica": {"shard_id": 0, "peer_id": 1}}]
    # Two extra peers, one missing: one move, one drop.
    assert placement_operations({0: {1, 2}}, {0: {3}}) == [
        {"move_shard": {"shard_id": 0, "from_peer_id": 1, "to_peer_id": 3, "method": "stream_records"}},
        {"drop_replica": {"shard_id": 0, "peer_id": 2}},
    ]
    # Nothing known about where a shard was: left where Qdrant put it.
    assert placement_operations({0: {1}}, {0: set()}) == []


def test_create_body_from_a_reported_config() -> None:
    config = {
        "params": {
            "vectors": {"size": 4, "distance": "Cosine", "on_disk": None},
            "shard_number": 4,
            "replication_factor": 2,
            "write_consistency_factor": 1,
            "read_fan_out_factor": None,
            "on_disk_payload": True,
        },
        "hnsw_config": {"m": 16, "ef_construct": 100, "payload_m": None},
        "optimizer_config": {"indexing_threshold": 10000, "max_optimization_threads": None},
        "wal_config": {"wal_capacity_mb": 32},
        "quantization_config": None,
    }
    assert create_body(config) == {
        "vectors": {"size": 4, "distance": "Cosine"},
        "shard_number": 4,
        "replication_factor": 2,
        "write_consistency_factor": 1,
        "on_disk_payload": True,
        "hnsw_config": {"m": 16, "ef_construct": 100},
        "optimizers_config": {"indexing_threshold": 10000},
        "wal_config": {"wal_capacity_mb": 32},
    }
    assert payload_indexes(
        {"title": {"data_type": "keyword", "points": 3}, "text": {"data_type": "text", "params": {"type": "text"}}}
    ) == {"text": {"type": "text"}, "title": "keyword"}
