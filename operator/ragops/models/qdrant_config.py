"""`spec.qdrant.config`: Qdrant configuration the spec does not model, passed through to production.yaml.

Users tune what Qdrant documents (storage.optimizers, storage.performance, storage.hnsw_index, log_level,
service.max_request_size_mb, ...) in Qdrant's own snake_case keys. Sections the spec models itself (cluster,
tls) are not offered, and inside the open sections the keys the operator sets are refused at admission: the
ports its Services and probes use, the paths its volumes are mounted at, TLS, and the API keys (which come
from Secrets, never from a spec).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from ragops.models.base import cel

OWNED = {
    "storage": ("storage_path", "snapshots_path", "temp_path"),
    "service": (
        "host",
        "http_port",
        "grpc_port",
        "enable_tls",
        "verify_https_client_certificate",
        "api_key",
        "read_only_api_key",
    ),
}
LOG_LEVEL_PATTERN = r"^[A-Za-z0-9_:=,.-]+$"


def owned_rule(section: str) -> dict[str, str]:
    keys = OWNED[section]
    return cel(
        " && ".join(f"!has(self.{key})" for key in keys),
        f"config.{section} may not set {', '.join(keys)}: the operator sets them "
        "(ports, mount paths and keys come from the spec and its Secrets)",
    )


def _section(section: str, what: str) -> Any:
    """An open Qdrant section: any keys, values kept as given, minus the keys the operator owns.

    CEL cannot see fields a schema preserves without declaring them, so the owned keys are declared (and
    refused by the rule); everything else passes through."""
    return Field(
        default=None,
        max_length=64,
        description=f"Qdrant's `{section}` section ({what}); not: {', '.join(OWNED[section])}.",
        json_schema_extra={
            "x-kubernetes-preserve-unknown-fields": True,
            "properties": {
                key: {"description": "Set by the operator: refused here.", "x-kubernetes-int-or-string": True}
                for key in OWNED[section]
            },
            "x-kubernetes-validations": [owned_rule(section)],  # type: ignore[list-item]
        },
    )


class QdrantConfig(BaseModel):
    """Qdrant configuration in Qdrant's own snake_case keys, merged into production.yaml under the operator's."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    log_level: str | None = Field(
        default=None,
        max_length=256,
        pattern=LOG_LEVEL_PATTERN,
        description="Qdrant's log level, e.g. INFO, or a filter such as info,actix_web=warn.",
    )
    telemetry_disabled: bool | None = Field(
        default=None, description="Qdrant's anonymous usage telemetry. Default: disabled by the operator."
    )
    storage: dict[str, Any] | None = _section(
        "storage", "optimizers, performance, hnsw_index, wal, on_disk_payload, ..."
    )
    service: dict[str, Any] | None = _section("service", "max_request_size_mb, max_workers, enable_cors, ...")

    @field_validator("storage", "service")
    @classmethod
    def _not_owned(cls, value: dict[str, Any] | None, info: Any) -> dict[str, Any] | None:
        if value is not None and any(key in value for key in OWNED[info.field_name]):
            raise ValueError(owned_rule(info.field_name)["message"])
        return value

    def as_qdrant(self) -> dict[str, Any]:
        return self.model_dump(exclude_none=True, mode="json")


def merged(operator: Mapping[str, Any], user: Mapping[str, Any]) -> dict[str, Any]:
    """`user` under `operator`: nested sections merge, and the operator's own keys always win."""
    result: dict[str, Any] = dict(user)
    for key, value in operator.items():
        if isinstance(value, Mapping) and isinstance(result.get(key), Mapping):
            result[key] = merged(value, result[key])
        else:
            result[key] = value
    return result
