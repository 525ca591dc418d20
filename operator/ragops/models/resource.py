"""A custom resource as the operator sees it: identity plus a validated spec."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

from pydantic import ValidationError

from ragops import API_VERSION
from ragops.models.ragpipeline import RagPipelineSpec
from ragops.models.vectorstore import VectorStoreSpec

SpecT = TypeVar("SpecT", VectorStoreSpec, RagPipelineSpec)

KINDS: dict[str, type[VectorStoreSpec] | type[RagPipelineSpec]] = {
    "VectorStore": VectorStoreSpec,
    "RagPipeline": RagPipelineSpec,
}


class SpecError(ValueError):
    """A spec that does not validate; `str()` lists every problem with its field path."""

    def __init__(self, kind: str, name: str, problems: list[str]) -> None:
        self.problems = problems
        super().__init__(f"{kind} {name}: invalid spec: " + "; ".join(problems))


def name_message(kind: str) -> str:
    """What a resource name must be, as both admission (a CEL rule on the CRD) and parse_resource say it."""
    limit = KINDS[kind].NAME_MAX_LENGTH
    return (
        f"metadata.name: a {kind} name is at most {limit} characters, lowercase letters, digits and '-', starting "
        f"with a letter and ending with a letter or digit (the names of its children, e.g. Services, derive from it)"
    )


def name_problem(kind: str, name: str) -> str | None:
    """What is wrong with a new resource's name (the CRD's create-time rule), None when nothing."""
    model = KINDS[kind]
    if len(name) <= model.NAME_MAX_LENGTH and re.fullmatch(model.NAME_PATTERN, name):
        return None
    return name_message(kind)


def describe_validation_error(error: ValidationError, prefix: str = "spec") -> list[str]:
    """pydantic errors as `spec.a.b: message` lines."""
    problems = []
    for item in error.errors():
        path = ".".join([prefix, *(str(part) for part in item["loc"])])
        message = item["msg"].removeprefix("Value error, ")
        # A rule over several fields names the one to change first: `gateway.autoscaling: ...` under `spec`.
        relative = re.match(r"^([a-zA-Z][\w.]*): (.*)$", message, re.DOTALL)
        if item["type"] == "value_error" and relative:
            path, message = f"{path}.{relative.group(1)}", relative.group(2)
        problems.append(f"{path}: {message}")
    return problems


@dataclass(frozen=True)
class Resource(Generic[SpecT]):
    """Identity and spec of one VectorStore or RagPipeline."""

    kind: str
    name: str
    namespace: str
    uid: str
    generation: int
    spec: SpecT
    annotations: Mapping[str, str] = field(default_factory=dict)

    @property
    def owner_reference(self) -> dict[str, Any]:
        return {
            "apiVersion": API_VERSION,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "controller": True,
            "blockOwnerDeletion": True,
        }


def parse_resource(body: Mapping[str, Any]) -> Resource[Any]:
    """Validate a manifest or watched body of either kind; raises SpecError naming each bad field."""
    kind = body.get("kind", "")
    meta = body.get("metadata") or {}
    name = meta.get("name", "")
    if kind not in KINDS:
        raise SpecError(kind or "object", name, [f"kind: expected one of {sorted(KINDS)}, got {kind!r}"])
    # The name is not checked here: admission checks it when the resource is created (names are immutable),
    # and a resource created before the limit keeps being reconciled.
    try:
        spec = KINDS[kind].model_validate(body.get("spec") or {})
    except ValidationError as error:
        raise SpecError(kind, name, describe_validation_error(error)) from None
    return Resource(
        kind=kind,
        name=name,
        namespace=meta.get("namespace") or "default",
        # Offline rendering has no uid; the placeholder keeps owner references well-formed.
        uid=meta.get("uid") or "00000000-0000-0000-0000-000000000000",
        generation=int(meta.get("generation") or 0),
        spec=spec,
        annotations=dict(meta.get("annotations") or {}),
    )
