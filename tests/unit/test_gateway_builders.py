"""The gateway's hardening: disruption budget, spread, NetworkPolicy, keys as files, bounded scratch disk."""

from __future__ import annotations

from typing import Any

import pytest
from tests.unit.samples import pipeline
from tests.unit.test_builders import pipeline_children

from ragops.models import SpecError, parse_resource
from ragops.models.profiles import PROFILES, Profile

OPENAI = {"provider": "openai", "apiKeySecretRef": {"name": "openai"}}


children = pipeline_children  # the gateway's children, built as the operator builds them


def one(objects: list[dict[str, Any]], kind: str) -> dict[str, Any]:
    (obj,) = [o for o in objects if o["kind"] == kind]
    return obj


def kinds(objects: list[dict[str, Any]]) -> list[str]:
    return [o["kind"] for o in objects]


def pod_spec(objects: list[dict[str, Any]]) -> dict[str, Any]:
    return dict(one(objects, "Deployment")["spec"]["template"]["spec"])


# --- 1. availability ---------------------------------------------------------------------------------


def test_a_gateway_of_two_pods_or_more_gets_a_disruption_budget_and_one_pod_none() -> None:
    assert "PodDisruptionBudget" not in kinds(children("small"))  # HPA minimum 1
    assert "PodDisruptionBudget" not in kinds(children("medium", gateway={"autoscaling": {"minReplicas": 1}}))
    for objects in (children("medium"), children("small", gateway={"autoscaling": {"minReplicas": 2}})):
        pdb = one(objects, "PodDisruptionBudget")
        assert pdb["metadata"]["name"] == "bot-gateway"
        assert pdb["spec"]["maxUnavailable"] == 1
        assert pdb["spec"]["unhealthyPodEvictionPolicy"] == "AlwaysAllow"
        # The budget counts exactly the gateway's pods.
        assert pdb["spec"]["selector"] == one(objects, "Deployment")["spec"]["selector"]


def test_gateway_pods_spread_over_nodes_and_zones_without_blocking_small_clusters() -> None:
    constraints = pod_spec(children())["topologySpreadConstraints"]
    assert {c["topologyKey"] for c in constraints} == {"kubernetes.io/hostname", "topology.kubernetes.io/zone"}
    selector = one(children(), "Deployment")["spec"]["selector"]
    for constraint in constraints:
        assert constraint["whenUnsatisfiable"] == "ScheduleAnyway" and constraint["maxSkew"] == 1
        assert constraint["labelSelector"] == selector


# --- 2. isolation ------------------------------------------------------------------------------------


def sources(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    policy = one(objects, "NetworkPolicy")
    (rule,) = policy["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8080}]  # the gateway port only
    return list(rule["from"])


def test_by_default_only_the_namespace_and_the_operator_reach_the_gateway() -> None:
    objects = children()
    policy = one(objects, "NetworkPolicy")
    assert policy["spec"]["podSelector"] == one(objects, "Deployment")["spec"]["selector"]
    assert policy["spec"]["policyTypes"] == ["Ingress"]  # egress open: providers live outside the cluster
    assert sorted(map(str, sources(objects))) == sorted(
        map(
            str,
            [
                {"podSelector": {}},
                {
                    "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "ragops-system"}},
                    "podSelector": {"matchLabels": {"app.kubernetes.io/name": "ragops"}},
                },
            ],
        )
    )
    # Applied before the pods it guards.
    assert kinds(objects).index("NetworkPolicy") < kinds(objects).index("Deployment")


def test_declared_clients_namespaces_pods_and_prometheus_are_admitted() -> None:
    objects = children(
        gateway={
            "networkPolicy": {
                "allowedNamespaces": ["frontend"],
                "allowedPods": [
                    {"matchLabels": {"app": "web"}},
                    {"namespace": "bots", "matchLabels": {"app.kubernetes.io/name": "slackbot"}},
                ],
            }
        },
        monitoring={"serviceMonitor": True, "prometheusNamespace": "monitoring"},
    )
    found = sources(objects)
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "frontend"}}} in found
    assert {"namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "monitoring"}}} in found
    assert {"podSelector": {"matchLabels": {"app": "web"}}} in found  # same namespace: no namespaceSelector
    assert {
        "namespaceSelector": {"matchLabels": {"kubernetes.io/metadata.name": "bots"}},
        "podSelector": {"matchLabels": {"app.kubernetes.io/name": "slackbot"}},
    } in found


def test_the_namespace_can_be_narrowed_to_declared_pods_and_the_policy_turned_off() -> None:
    narrowed = sources(
        children(gateway={"networkPolicy": {"allowSameNamespace": False, "allowedPods": [{"matchLabels": {"a": "b"}}]}})
    )
    assert {"podSelector": {}} not in narrowed
    assert {"podSelector": {"matchLabels": {"a": "b"}}} in narrowed
    assert any("namespaceSelector" in s for s in narrowed)  # the operator keeps its health check
    assert "NetworkPolicy" not in kinds(children(gateway={"networkPolicy": {"enabled": False}}))


@pytest.mark.parametrize(
    "network",
    [
        {"allowedNamespaces": ["Not_A_Namespace"]},
        {"allowedPods": [{"matchLabels": {}}]},
        {"allowedPods": [{"matchLabels": {"bad key!": "x"}}]},
        {"allowedPods": [{"matchLabels": {"app": "-bad-value"}}]},
    ],
)
def test_malformed_clients_are_refused_naming_the_field(network: dict[str, Any]) -> None:
    with pytest.raises(SpecError, match="networkPolicy"):
        parse_resource(pipeline(gateway={"networkPolicy": network}))


# --- 3. keys as files --------------------------------------------------------------------------------


def test_every_key_is_a_read_only_file_and_none_is_an_environment_variable() -> None:
    objects = children(embedding=OPENAI | {"dimensions": 768}, llm={"apiKeySecretRef": {"name": "llm", "key": "k"}})
    spec = pod_spec(objects)
    (container,) = spec["containers"]
    assert not [e for e in container["env"] if "valueFrom" in e]  # no secretKeyRef left
    env = {e["name"]: e["value"] for e in container["env"]}
    files = {name.removesuffix("_FILE"): path for name, path in env.items() if name.endswith("_FILE")}
    assert files == {
        "RAGOPS_GATEWAY_API_KEY": "/etc/ragops-keys/gateway-api-key",
        "RAGOPS_QDRANT_API_KEY": "/etc/ragops-keys/qdrant-api-key",
        "RAGOPS_EMBEDDING_API_KEY": "/etc/ragops-keys/embedding-api-key",
        "RAGOPS_LLM_API_KEY": "/etc/ragops-keys/llm-api-key",
    }
    (mount,) = [m for m in container["volumeMounts"] if m["mountPath"] == "/etc/ragops-keys"]
    assert mount["readOnly"] is True and "subPath" not in mount  # subPath mounts never see a rotation
    (volume,) = [v for v in spec["volumes"] if v["name"] == mount["name"]]
    projected = volume["projected"]
    # Owner root, group = the pod's fsGroup, which is the gateway's own group: readable by it, nobody else.
    assert projected["defaultMode"] == 0o440
    assert spec["securityContext"]["fsGroup"] == spec["securityContext"]["runAsGroup"] == 65532
    items = {
        item["path"]: (source["secret"]["name"], item["key"])
        for source in projected["sources"]
        for item in source["secret"]["items"]
    }
    assert items == {
        "gateway-api-key": ("bot-gateway-api-key", "apiKey"),
        "qdrant-api-key": ("docs-qdrant-api-key", "apiKey"),
        "embedding-api-key": ("openai", "apiKey"),
        "llm-api-key": ("llm", "k"),
    }


def test_only_keys_that_exist_are_mounted() -> None:
    spec = pod_spec(children())  # hash embedder, no llm
    (volume,) = [v for v in spec["volumes"] if "projected" in v]
    paths = [item["path"] for s in volume["projected"]["sources"] for item in s["secret"]["items"]]
    assert paths == ["gateway-api-key", "qdrant-api-key"]


def test_a_user_gateway_key_secret_is_mounted_instead_of_the_generated_one() -> None:
    spec = pod_spec(children(gateway={"auth": {"apiKeySecretRef": {"name": "mine", "key": "token"}}}))
    (volume,) = [v for v in spec["volumes"] if "projected" in v]
    assert {"secret": {"name": "mine", "items": [{"key": "token", "path": "gateway-api-key"}]}} in volume["projected"][
        "sources"
    ]


# --- 4. ephemeral storage ----------------------------------------------------------------------------


@pytest.mark.parametrize("profile", list(Profile))
def test_scratch_disk_is_bounded_and_requested_from_the_profile(profile: Profile) -> None:
    scratch = PROFILES[profile].gateway_scratch
    spec = pod_spec(children(profile.value))
    empty_dirs = [v for v in spec["volumes"] if "emptyDir" in v]
    assert empty_dirs and all(v["emptyDir"]["sizeLimit"] == scratch.size_limit for v in empty_dirs)
    resources = spec["containers"][0]["resources"]
    assert resources["requests"]["ephemeral-storage"] == scratch.request
    assert resources["limits"]["ephemeral-storage"] == scratch.limit
    # cpu and memory still come from the profile
    assert resources["requests"]["cpu"] == PROFILES[profile].gateway.request_cpu


def test_profile_scratch_sizes_leave_room_for_logs() -> None:
    from ragops.reconcile.compare import quantity_value

    for table in PROFILES.values():
        scratch = table.gateway_scratch
        assert quantity_value(scratch.size_limit) < quantity_value(scratch.request) <= quantity_value(scratch.limit)
