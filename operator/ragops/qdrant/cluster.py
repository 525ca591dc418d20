"""Pure reading of the nodes' views of a collection's cluster state (`GET /collections/{c}/cluster`).

Every Qdrant node answers from its own copy of the consensus state plus its local shards, and the copies
can disagree: after the collection-snapshot restore of Qdrant issue 16, one peer listed replicas on
another peer that the other did not hold. So "healthy" here means: every node's view lists the same
replicas, all of them Active, on peers that are the store's nodes, with no shard transfer under way.
Free of I/O so every rule is testable on its own; nodes are identified by ordinal, peers by Qdrant id.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from qdrant_client.http import models

ACTIVE = models.ReplicaState.ACTIVE.value


@dataclass(frozen=True)
class View:
    """What node `node` (ordinal) says about one collection."""

    node: int
    peer: int
    replicas: Mapping[int, Mapping[int, str]]  # shard id -> {peer id: replica state}
    transfers: tuple[str, ...]  # one description per shard transfer the node knows of

    @classmethod
    def of(cls, node: int, info: models.CollectionClusterInfo) -> View:
        replicas: dict[int, dict[int, str]] = {}
        for local in info.local_shards:
            replicas.setdefault(local.shard_id, {})[info.peer_id] = _state(local.state)
        for remote in info.remote_shards:
            replicas.setdefault(remote.shard_id, {})[remote.peer_id] = _state(remote.state)
        transfers = tuple(f"shard {t.shard_id} from peer {t.from_} to peer {t.to}" for t in info.shard_transfers or [])
        return cls(node, info.peer_id, replicas, transfers)

    def holders(self) -> dict[int, set[int]]:
        """shard -> the peers that hold a replica of it, whatever its state."""
        return {shard: set(peers) for shard, peers in self.replicas.items()}


def peers_by_node(views: Sequence[View]) -> dict[int, int]:
    return {view.node: view.peer for view in views}


def problems(views: Sequence[View], shard_count: int | None = None) -> list[str]:
    """Why the views do not show a settled cluster; empty when every replica is Active everywhere."""
    if not views:
        return ["no node answered"]
    nodes = {view.peer: view.node for view in views}
    found: list[str] = []
    reference = views[0].holders()
    for view in views:
        for transfer in view.transfers:
            found.append(f"node {view.node} reports a shard transfer in progress: {transfer}")
        holders = view.holders()
        if holders != reference:
            found.append(
                f"node {view.node} and node {views[0].node} disagree on where the shards are: "
                f"{_describe(holders, nodes)} vs {_describe(reference, nodes)}"
            )
        for shard, peers in sorted(view.replicas.items()):
            for peer, state in sorted(peers.items()):
                where = f"node {nodes[peer]}" if peer in nodes else f"peer {peer}, which is none of the store's nodes"
                if peer not in nodes:
                    found.append(f"node {view.node} lists a replica of shard {shard} on {where}")
                elif state != ACTIVE:
                    found.append(f"node {view.node} sees the replica of shard {shard} on {where} as {state}")
        if shard_count is not None:
            missing = sorted(set(range(shard_count)) - set(view.replicas))
            if missing:
                found.append(f"node {view.node} knows no replica of shard(s) {', '.join(map(str, missing))}")
    return found


def placement(view: View, node_of_peer: Mapping[int, int]) -> dict[int, list[int]]:
    """shard -> the ordinals of the nodes holding a replica (peers that are not the store's are left out)."""
    return {
        shard: sorted(node_of_peer[peer] for peer in peers if peer in node_of_peer)
        for shard, peers in sorted(view.holders().items())
    }


def placement_operations(current: Mapping[int, set[int]], desired: Mapping[int, set[int]]) -> list[dict[str, Any]]:
    """Cluster operations (`POST /collections/{c}/cluster` bodies) that turn the `current` replica sets
    (shard -> peers) into the `desired` ones: moves first, then extra replicas, then dropped ones. Meant to
    be applied one at a time, re-planning from the new state once each transfer is done (two transfers of
    one shard at once conflict). A shard never loses its last replica."""
    operations: list[dict[str, Any]] = []
    for shard in sorted(desired):
        have, want = set(current.get(shard, set())), set(desired[shard])
        if not want or not have or have == want:
            continue
        extra, missing = sorted(have - want), sorted(want - have)
        while extra and missing:
            source, target = extra.pop(0), missing.pop(0)
            operations.append(
                {
                    "move_shard": {
                        "shard_id": shard,
                        "from_peer_id": source,
                        "to_peer_id": target,
                        "method": "stream_records",
                    }
                }
            )
        source = (sorted(have & want) or sorted(have))[0]
        for target in missing:
            operations.append(
                {
                    "replicate_shard": {
                        "shard_id": shard,
                        "from_peer_id": source,
                        "to_peer_id": target,
                        "method": "stream_records",
                    }
                }
            )
        for peer in extra if len(have) > 1 else []:
            operations.append({"drop_replica": {"shard_id": shard, "peer_id": peer}})
    return operations


def _state(state: models.ReplicaState | str) -> str:
    return state.value if isinstance(state, models.ReplicaState) else str(state)


def _describe(holders: Mapping[int, set[int]], nodes: Mapping[int, int]) -> str:
    def name(peer: int) -> str:
        return f"node {nodes[peer]}" if peer in nodes else f"peer {peer}"

    return "; ".join(
        f"shard {shard} on {', '.join(name(p) for p in sorted(peers))}" for shard, peers in sorted(holders.items())
    )
