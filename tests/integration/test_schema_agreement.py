"""The real API server and the models agree (issue 12, part 6).

Every hand-written invalid spec of the unit tests is refused at admission with a message naming the field;
specs generated from the CRDs' schemas (fixed seed) are sent with dryRun: whatever the API server admits, the
operator parses and resolves (no admitted resource ends SpecValid=False), and whatever it refuses, the models
refuse too.
"""

from __future__ import annotations

import copy
import re
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from kubernetes import client

from ragops.models import parse_resource, resolve_pipeline, resolve_vectorstore
from ragops.models.ragpipeline import RagPipelineSpec
from tests.integration.cluster import GROUP, PLURALS, VERSION, Cluster
from tests.unit.schema_strategies import specs
from tests.unit.test_models import BAD_NAMES, INVALID

pytestmark = pytest.mark.integration

GENERATED = settings(
    max_examples=200, derandomize=True, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)


def server_field(expected: str) -> str:
    """The unit tests' `spec.a.0.b: message` as the API server spells the field: `spec.a[0].b`."""
    head = expected.split(": ", 1)[0]
    if not head.startswith(("spec.", "metadata.")):
        return expected  # a message, not a path
    return re.sub(r"\.(\d+)", r"[\1]", head)


def as_created(body: dict[str, Any]) -> dict[str, Any]:
    created = copy.deepcopy(body)
    created["metadata"] = {"name": body["metadata"]["name"]}
    return created


def test_every_invalid_spec_is_refused_at_admission_naming_the_field(cluster: Cluster, namespace: str) -> None:
    named, unnamed = 0, []
    for body, expected in INVALID + BAD_NAMES:
        with pytest.raises(client.ApiException) as raised:
            cluster.create(namespace, as_created(body))
        assert raised.value.status in (400, 422), raised.value.body
        field = server_field(expected)
        if field in raised.value.body:
            named += 1
        else:
            unnamed.append((field, raised.value.body))
    print(f"\ninvalid specs tried: {len(INVALID + BAD_NAMES)}, refused at admission naming the field: {named}")
    assert unnamed == []


def dry_run(cluster: Cluster, namespace: str, kind: str, spec: dict[str, Any]) -> tuple[dict[str, Any] | None, str]:
    body = {"apiVersion": f"{GROUP}/{VERSION}", "kind": kind, "metadata": {"name": "generated"}, "spec": spec}
    try:
        created = cluster.custom.create_namespaced_custom_object(
            GROUP, VERSION, namespace, PLURALS[kind], body, dry_run="All", field_validation="Strict"
        )
    except client.ApiException as error:
        assert error.status in (400, 422), error.body
        return None, str(error.body)
    return created, ""


@pytest.mark.parametrize("kind", ["VectorStore", "RagPipeline"])
def test_what_the_api_server_admits_the_operator_parses(cluster: Cluster, namespace: str, kind: str) -> None:
    tally = {"admitted": 0, "refused": 0, "refused by the server, parsed by the model": 0}

    @GENERATED
    @given(specs(kind))
    def prop(spec: dict[str, Any]) -> None:
        created, refusal = dry_run(cluster, namespace, kind, spec)
        if created is None:
            tally["refused"] += 1
            assert "spec" in refusal or "metadata.name" in refusal, refusal  # the refusal names the field
            try:
                parse_resource({"kind": kind, "metadata": {"name": "generated"}, "spec": spec})
                tally["refused by the server, parsed by the model"] += 1
            except ValueError:
                pass
            return
        tally["admitted"] += 1
        resource = parse_resource(created)  # with the API server's defaults applied
        if isinstance(resource.spec, RagPipelineSpec):
            resolve_pipeline(resource.spec)
        else:
            resolve_vectorstore(resource.spec)

    prop()
    print(f"\n{kind}: {tally}")
    assert tally["admitted"] > 20 and tally["refused"] > 20, tally
    # And the other way round: what the API server refuses, the models refuse too (`ragops render` agrees).
    assert tally["refused by the server, parsed by the model"] == 0, tally
