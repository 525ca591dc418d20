"""Rules for distributed stores, which qdrant-client's local mode cannot show (it ignores shards and
replication): the plan is compared with CollectionParams as a real Qdrant reports them."""

from __future__ import annotations

from typing import Any

from qdrant_client.http import models

from ragops.models.vectorstore import CollectionSpec
from ragops.qdrant.plan import create_params, plan_update


def spec(**fields: Any) -> CollectionSpec:
    return CollectionSpec.model_validate({"name": "manuals", "vectorSize": 4, **fields})


def live(shards: int | None = 3, replication: int | None = 2, **vectors: Any) -> dict[str, Any]:
    """`config.params` as Qdrant's REST API serves it: qdrant-client's model, dumped to JSON."""
    params = {"size": 4, "distance": "Cosine", **vectors}
    return models.CollectionParams(
        vectors=models.VectorParams(**params), shard_number=shards, replication_factor=replication
    ).model_dump(mode="json", exclude_none=True)


def test_single_node_leaves_sharding_to_qdrant_unless_explicit() -> None:
    assert (create_params(spec(), 1).shard_number, create_params(spec(), 1).replication_factor) == (None, None)
    explicit = create_params(spec(shardNumber=4, replicationFactor=2), 1)
    assert (explicit.shard_number, explicit.replication_factor) == (4, None)


def test_distributed_defaults_and_explicit_values() -> None:
    assert (create_params(spec(), 5).shard_number, create_params(spec(), 5).replication_factor) == (5, 2)
    assert create_params(spec(), 2).replication_factor == 2
    explicit = create_params(spec(shardNumber=1, replicationFactor=1), 3)
    assert (explicit.shard_number, explicit.replication_factor) == (1, 1)


def test_in_sync_collection_needs_nothing() -> None:
    plan = plan_update(spec(), live(), 3)
    assert not plan.needed and plan.mismatches == []


def test_replication_factor_is_updated_live() -> None:
    assert plan_update(spec(replicationFactor=3), live(), 3).replication_factor == 3
    # A store grown from one node to three gets the documented default of two copies.
    assert plan_update(spec(), live(shards=1, replication=1), 3).replication_factor == 2


def test_grown_store_does_not_turn_default_shard_count_into_a_mismatch() -> None:
    plan = plan_update(spec(), live(shards=1, replication=2), 3)
    assert plan.mismatches == [] and not plan.needed


def test_explicit_shard_number_change_is_reported() -> None:
    [mismatch] = plan_update(spec(shardNumber=6), live(), 3).mismatches
    assert (mismatch.field, mismatch.live, mismatch.wanted) == ("shardNumber", 3, 6)
    assert "collection manuals: shardNumber is 3 in Qdrant but 6 is wanted" in mismatch.describe()


def test_on_disk_change_is_live_and_unset_means_false() -> None:
    assert plan_update(spec(onDisk=True), live(on_disk=None), 3).on_disk is True
    assert plan_update(spec(), live(on_disk=None), 3).on_disk is None
    assert plan_update(spec(), live(on_disk=True), 3).on_disk is False


def test_unnamed_vector_in_a_map_is_understood() -> None:
    params = models.CollectionParams(vectors={"": models.VectorParams(size=4, distance=models.Distance.COSINE)})
    assert plan_update(spec(), params.model_dump(mode="json", exclude_none=True), 1).mismatches == []
