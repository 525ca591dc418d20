"""Pure translation of a collection's `GET /collections/{c}` answer into the requests that recreate it.

A backup records these, so a restore creates the collection from what the backed-up Qdrant reported
rather than from a collection snapshot (see ragops.backup.backup for why).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

# `config.params` fields that `PUT /collections/{c}` takes under the same name.
_PARAMS = (
    "vectors",
    "shard_number",
    "sharding_method",
    "replication_factor",
    "write_consistency_factor",
    "on_disk_payload",
    "sparse_vectors",
)
# `config` sections -> their name in `PUT /collections/{c}` (Qdrant reports "optimizer_config" but takes
# "optimizers_config").
_SECTIONS = {
    "hnsw_config": "hnsw_config",
    "optimizer_config": "optimizers_config",
    "wal_config": "wal_config",
    "quantization_config": "quantization_config",
    "strict_mode_config": "strict_mode_config",
    "metadata": "metadata",
}


def create_body(config: Mapping[str, Any]) -> dict[str, Any]:
    """The body of `PUT /collections/{c}` for a collection whose `config` Qdrant reported."""
    params = config.get("params") or {}
    body = {key: _without_nulls(params[key]) for key in _PARAMS if params.get(key) is not None}
    body.update(
        {
            target: _without_nulls(config[source])
            for source, target in _SECTIONS.items()
            if config.get(source) is not None
        }
    )
    return body


def payload_indexes(schema: Mapping[str, Any]) -> dict[str, Any]:
    """field name -> the `field_schema` of `PUT /collections/{c}/index` for each payload index reported in
    `payload_schema` (its params when it has any, else its type)."""
    indexes = {}
    for field, info in sorted(schema.items()):
        if isinstance(info, Mapping) and (info.get("params") or info.get("data_type")):
            indexes[field] = _without_nulls(info["params"]) if info.get("params") else info["data_type"]
    return indexes


def _without_nulls(value: Any) -> Any:
    # Qdrant reports unset options as null; some of its request schemas refuse an explicit null.
    if isinstance(value, Mapping):
        return {k: _without_nulls(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_without_nulls(v) for v in value]
    return value
