"""The operator's collection code (ragops.qdrant.collections over ragops.qdrant.rest) against real Qdrant."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import httpx

from ragops.models.vectorstore import CollectionSpec
from ragops.qdrant.collections import READY, UNPLACEABLE, ensure_collections
from ragops.qdrant.rest import QdrantRest
from tests.real_qdrant.conftest import request
from tests.real_qdrant.server import API_KEY, Cluster


def spec(name: str, size: int = 8, **fields: Any) -> CollectionSpec:
    return CollectionSpec.model_validate({"name": name, "vectorSize": size, **fields})


class Recording(httpx.AsyncHTTPTransport):
    def __init__(self) -> None:
        super().__init__()
        self.writes: list[tuple[str, str]] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET":
            self.writes.append((request.method, request.url.path))
        return await super().handle_async_request(request)


def replicas(cluster: Cluster, collection: str) -> dict[int, dict[int, str]]:
    """shard -> {peer: state}, from node 0's view, checked equal in every node's view."""
    views = []
    for node in range(len(cluster.nodes)):
        info = request(cluster, "GET", f"/collections/{collection}/cluster", node=node)
        found: dict[int, dict[int, str]] = {}
        for local in info["local_shards"]:
            found.setdefault(local["shard_id"], {})[info["peer_id"]] = local["state"]
        for remote in info["remote_shards"]:
            found.setdefault(remote["shard_id"], {})[remote["peer_id"]] = remote["state"]
        views.append(found)
    assert all(view == views[0] for view in views), views
    return views[0]


async def test_single_node_create_update_and_an_idle_second_pass(qdrant: Callable[..., Cluster]) -> None:
    cluster = qdrant(replicas=1)
    transport = Recording()
    api = QdrantRest(cluster.urls[0], API_KEY, transport=transport)
    desired = [spec("manuals", 16, distance="Dot", onDisk=True), spec("faq")]

    first = await ensure_collections(api, desired, nodes=1, prune=False)
    assert first.ready and first.present == ["faq", "manuals"]
    params = request(cluster, "GET", "/collections/manuals")["config"]["params"]
    assert params["vectors"] == {"size": 16, "distance": "Dot", "on_disk": True}

    transport.writes.clear()
    assert await ensure_collections(api, desired, nodes=1, prune=False) == first
    assert transport.writes == []  # in sync: reads only

    changed = await ensure_collections(api, [spec("manuals", 16, distance="Dot"), spec("faq")], nodes=1, prune=False)
    assert changed.ready and transport.writes == [("PATCH", "/collections/manuals")]
    assert request(cluster, "GET", "/collections/manuals")["config"]["params"]["vectors"].get("on_disk") in (
        None,
        False,
    )
    await api.close()


async def test_declared_shards_and_replication_are_honoured_on_three_nodes(qdrant: Callable[..., Cluster]) -> None:
    cluster = qdrant(replicas=3)
    api = QdrantRest(cluster.urls[1], API_KEY)  # any node: the Service balances over them

    report = await ensure_collections(
        api, [spec("manuals", shardNumber=6, replicationFactor=2), spec("faq")], nodes=3, prune=False
    )

    assert report.ready and report.reason == READY, report.message
    manuals = replicas(cluster, "manuals")
    assert sorted(manuals) == list(range(6))
    assert all(len(peers) == 2 and set(peers.values()) == {"Active"} for peers in manuals.values())
    # Spread evenly: 12 replicas over 3 nodes.
    assert sorted(Counter(peer for peers in manuals.values() for peer in peers).values()) == [4, 4, 4]
    # The defaults on 3 nodes: one shard per node, two copies of each.
    faq = replicas(cluster, "faq")
    assert sorted(faq) == [0, 1, 2] and all(len(peers) == 2 for peers in faq.values())
    await api.close()


async def test_a_replication_factor_three_nodes_cannot_place_is_reported(qdrant: Callable[..., Cluster]) -> None:
    cluster = qdrant(replicas=3)
    api = QdrantRest(cluster.urls[0], API_KEY)

    report = await ensure_collections(api, [spec("wide", shardNumber=2, replicationFactor=5)], nodes=3, prune=False)

    # Qdrant accepts the collection and places 3 copies of each shard; the report says so.
    assert not report.ready and report.reason == UNPLACEABLE
    [gap] = report.unplaced
    assert (gap.wanted, gap.nodes, gap.replicas) == (5, 3, {0: 3, 1: 3})
    assert "replicationFactor 5 cannot be placed on 3 Qdrant node(s)" in report.message
    assert request(cluster, "GET", "/collections/wide")["config"]["params"]["replication_factor"] == 5
    await api.close()
