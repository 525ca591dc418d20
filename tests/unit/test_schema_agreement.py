"""The models and the CRD schemas agree (issue 12, part 6).

Specs generated from each CRD's structural schema: the models parse every one, or refuse it only with the message
of one of the CRD's CEL rules (which the API server applies too); a parsed spec resolves against its profile (no
admitted resource ends SpecValid=False). The hand-written invalid specs of test_models are refused by the schema
or a CEL rule. Names: every child name derived from the longest admitted resource name is valid.
tests/integration/test_references.py sends generated specs through the real API server.
"""

from __future__ import annotations

import re
from typing import Any

import jsonschema
import pytest
from hypothesis import HealthCheck, given, settings
from pydantic import ValidationError
from tests.unit.schema_strategies import cel_messages, spec_schema, specs
from tests.unit.test_models import INVALID

from ragops.builders import names
from ragops.models import parse_resource, resolve_pipeline, resolve_vectorstore
from ragops.models.ragpipeline import PIPELINE_NAME_MAX_LENGTH, RagPipelineSpec
from ragops.models.resource import KINDS
from ragops.models.vectorstore import STORE_NAME_MAX_LENGTH, VectorStoreSpec

PROPERTY = settings(
    max_examples=100, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)


def cel_only_refusals(kind: str, error: ValidationError) -> list[str]:
    """The model's complaints that no CEL rule of the CRD makes (each should be empty)."""
    messages = cel_messages(kind)
    unexplained = []
    for item in error.errors():
        message = item["msg"].removeprefix("Value error, ")
        # Verbatim, or after the field it is about (`gateway.autoscaling: <message>`), or with details after it.
        tail = message.split(": ", 1)[-1]
        if not any(text == m or text.startswith(m + " (") for m in messages for text in (message, tail)):
            unexplained.append(f"{'.'.join(str(p) for p in item['loc'])}: {message}")
    return unexplained


def check(kind: str, spec: dict[str, Any], tally: dict[str, int]) -> None:
    model = KINDS[kind]
    try:
        parsed = model.model_validate(spec)
    except ValidationError as error:
        tally["refused by a CEL rule"] += 1
        assert cel_only_refusals(kind, error) == [], spec
        return
    tally["parsed"] += 1
    if isinstance(parsed, VectorStoreSpec):
        resolve_vectorstore(parsed)
    else:
        assert isinstance(parsed, RagPipelineSpec)
        resolve_pipeline(parsed)


@pytest.mark.parametrize("kind", ["VectorStore", "RagPipeline"])
def test_what_the_schema_admits_the_models_parse_or_a_cel_rule_refuses(kind: str) -> None:
    tally = {"parsed": 0, "refused by a CEL rule": 0}

    @PROPERTY
    @given(specs(kind))
    def prop(spec: dict[str, Any]) -> None:
        check(kind, spec, tally)

    prop()
    # Both outcomes occur: the property is not satisfied vacuously.
    assert tally["parsed"] > 10 and tally["refused by a CEL rule"] > 0, tally
    print(f"{kind}: {tally}")


# Names are a root CEL rule (self.metadata.name): tests/integration/test_admission.py sends them to the API server.
SPEC_INVALID = [(body, field) for body, field in INVALID if not field.startswith("metadata.name")]


@pytest.mark.parametrize(("body", "field"), SPEC_INVALID, ids=[f for _, f in SPEC_INVALID])
def test_what_the_models_refuse_the_schema_or_a_cel_rule_refuses(body: dict[str, Any], field: str) -> None:
    kind = body["kind"]
    try:
        jsonschema.validate(body["spec"], _strict(spec_schema(kind)))
    except jsonschema.ValidationError:
        return  # the structural schema refuses it
    with pytest.raises(ValidationError) as raised:
        KINDS[kind].model_validate(body["spec"])
    assert cel_only_refusals(kind, raised.value) == []


def _strict(schema: Any) -> Any:
    """The structural schema as plain JSON Schema: unknown fields refused (the API server drops or refuses them)."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items() if not k.startswith("x-kubernetes")}
        if out.get("type") == "object" and "properties" in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


LABEL = re.compile(r"^[a-z]([-a-z0-9]*[a-z0-9])?$")


def test_every_name_derived_from_the_longest_admitted_name_is_valid() -> None:
    store, pipeline = "s" * STORE_NAME_MAX_LENGTH, "p" * PIPELINE_NAME_MAX_LENGTH
    parse_resource({"kind": "VectorStore", "metadata": {"name": store}, "spec": {}})
    parse_resource(
        {
            "kind": "RagPipeline",
            "metadata": {"name": pipeline},
            "spec": {"vectorStoreRef": {"name": store}, "collection": "c", "embedding": {"provider": "hash"}},
        }
    )
    sts = names.qdrant(store)
    labels = {  # DNS labels / label values: 63 characters
        "Service": sts,
        "headless Service": names.qdrant_headless(store),
        "Qdrant pod (highest ordinal)": f"{sts}-63",
        "controller-revision-hash label": f"{sts}-{'h' * 10}",
        "CronJob's Jobs (job-name label)": f"{names.backup(store)}-{'9' * 11}",
        "on-demand backup Job": names.backup_now_job(store, "now"),
        "restore Job": names.restore_job(store, "b"),
        "gateway Service": names.gateway(pipeline),
        "instance label (store)": store,
        "instance label (pipeline)": pipeline,
    }
    for what, name in labels.items():
        assert len(name) <= 63 and LABEL.match(name), (what, name, len(name))
    assert len(names.backup(store)) <= 52, "CronJob names are limited to 52 characters"
    for derived in (names.qdrant_config(store), names.qdrant_api_key(store), names.gateway_api_key(pipeline)):
        assert len(derived) <= 253
