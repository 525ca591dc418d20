"""The life of an installation, in order: install with helm, the samples to Ready, a profile change, uninstall.

The tests run in file order and share one installation (session fixtures in conftest.py): each step builds
on the one before, as a user's would. Everything is read through kubectl, so the suite needs only a KUBECONFIG.
"""

from __future__ import annotations

import base64
import json
import os
import time
import urllib.request
from typing import Any

import pytest
import yaml
from tests.integration.cluster import REPO, wait_for

from e2e.harness import (
    OPERATOR_NAMESPACE,
    Cli,
    OperatorProcess,
    Settings,
    ensure_namespace,
    forbidden_lines,
    port_forward,
    render_chart,
    sample_manifest,
)
from ragops.reconcile.compare import quantity_value

CHILD_KINDS = ("statefulsets,deployments,services,configmaps,secrets,poddisruptionbudgets,networkpolicies,"
               "cronjobs,jobs,horizontalpodautoscalers,pods,servicemonitors,prometheusrules")
GiB = 2**30


def items(cli: Cli, kinds: str, namespace: str, selector: str = "") -> list[dict[str, Any]]:
    args = ["get", kinds, "-n", namespace] + (["-l", selector] if selector else [])
    return list(cli.kubectl_json(*args)["items"])


def get(cli: Cli, kind: str, namespace: str, name: str) -> dict[str, Any]:
    return dict(cli.kubectl_json("get", kind, name, "-n", namespace))


def not_ready(cli: Cli, namespace: str) -> list[str]:
    """The namespace's VectorStores and RagPipelines not Ready for their current generation, with why."""
    waiting = []
    for obj in items(cli, "vectorstores,ragpipelines", namespace):
        status = obj.get("status") or {}
        if status.get("phase") != "Ready" or status.get("observedGeneration") != obj["metadata"]["generation"]:
            ready = condition(obj, "Ready") or {}
            waiting.append(f"{obj['kind']}/{obj['metadata']['name']}: {status.get('phase')} {ready.get('message', '')}")
    return waiting


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any] | None:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == type_), None)


def wait_all_ready(cli: Cli, namespaces: list[str], timeout: float, operator: OperatorProcess) -> float:
    start = time.monotonic()
    try:
        wait_for(lambda: not any(not_ready(cli, ns) for ns in namespaces), timeout, interval=1,
                 what="every VectorStore and RagPipeline Ready")
    except AssertionError:
        details = {ns: not_ready(cli, ns) for ns in namespaces}
        log = operator.log()[-5000:]
        raise AssertionError(f"not Ready after {timeout}s: {details}\noperator log:\n{log}") from None
    return time.monotonic() - start


def container(pod_template_owner: dict[str, Any], name: str) -> dict[str, Any]:
    return next(c for c in pod_template_owner["spec"]["template"]["spec"]["containers"] if c["name"] == name)


def quantities(values: dict[str, str] | None) -> dict[str, float]:
    """CPU and memory (what a profile sizes); ephemeral-storage is fixed per kind of pod."""
    return {k: quantity_value(v) for k, v in (values or {}).items() if k in ("cpu", "memory")}


def test_helm_installs_the_operator(
    cli: Cli,
    settings: Settings,
    installed: str,
    operator: OperatorProcess,
    deployment_name: str,
    sample_namespaces: dict[str, str],
) -> None:
    status = json.loads(cli.helm("status", installed, "-n", OPERATOR_NAMESPACE, "-o", "json"))
    assert status["info"]["status"] == "deployed"
    deployment = get(cli, "deployment", OPERATOR_NAMESPACE, deployment_name)
    assert deployment["status"].get("availableReplicas") == deployment["spec"]["replicas"]
    args = container(deployment, "operator")["args"]
    if settings.scope == "namespaces":
        assert "--peering" in args and args.count("--namespace") == len(sample_namespaces)
        for namespace in sample_namespaces.values():
            get(cli, "role", namespace, deployment_name)
        cluster_role = cli.kubectl_json("get", "clusterrole", deployment_name)
        assert not [r for r in cluster_role["rules"] if "ragops.dev" in r["apiGroups"]], "Roles grant these"
    else:
        assert "--all-namespaces" in args
    crds = cli.kubectl("get", "crd", "-o", "name").split()
    for crd in ("vectorstores.ragops.dev", "ragpipelines.ragops.dev", "clusterkopfpeerings.kopf.dev"):
        assert f"customresourcedefinition.apiextensions.k8s.io/{crd}" in crds


def test_every_rendered_object_passes_a_server_side_dry_run(
    cli: Cli, installed: str, monitoring_crds: None, sample_namespaces: dict[str, str]
) -> None:
    """Every shape of the chart, and the plain install.yaml, pass the API server's validation and admission."""
    variants: list[dict[str, Any]] = [
        {},
        {"replicaCount": 2},  # peering, PodDisruptionBudget
        {"watchNamespaces": list(sample_namespaces.values())[:2], "replicaCount": 2},  # Roles, KopfPeerings
        {"rbac": {"create": False}, "serviceAccount": {"create": False, "name": "ragops"},
         "metrics": {"service": {"enabled": False}}},
        {"metrics": {"serviceMonitor": {"enabled": True, "labels": {"release": "prometheus"}}}},
    ]
    dry_run = ["apply", "--server-side", "--force-conflicts", "--dry-run=server", "--field-manager=ragops-e2e", "-f"]
    for values in variants:
        objects = render_chart(cli, values, release="e2e-dry-run")
        out = cli.kubectl(*dry_run, "-", stdin="\n---\n".join(json.dumps(obj) for obj in objects))
        assert out.count("(server dry run)") == len(objects), f"values {values}:\n{out}"
    # install.yaml into a namespace of its own: applied over the Helm release, Helm's fields would stay.
    ensure_namespace(cli, "e2e-dry-run")
    plain = [_moved(obj, "e2e-dry-run") for obj in yaml.safe_load_all((REPO / "manifests" / "install.yaml").read_text())
             if obj and obj["kind"] != "Namespace"]
    out = cli.kubectl(*dry_run, "-", stdin="\n---\n".join(json.dumps(obj) for obj in plain))
    assert out.count("(server dry run)") == len(plain), out
    cli.kubectl("delete", "namespace", "e2e-dry-run", "--wait=false")


def _moved(obj: dict[str, Any], namespace: str) -> dict[str, Any]:
    """`obj` with every mention of the operator's namespace (metadata, binding subjects) pointing to `namespace`."""
    text = json.dumps(obj).replace(f'"namespace": "{OPERATOR_NAMESPACE}"', f'"namespace": "{namespace}"')
    return dict(json.loads(text))


def test_samples_reach_ready(
    cli: Cli, settings: Settings, operator: OperatorProcess, sample_namespaces: dict[str, str]
) -> None:
    for sample, namespace in sample_namespaces.items():
        cli.kubectl("apply", "-n", namespace, "-f", "-", stdin=sample_manifest(settings, sample))
    took = wait_all_ready(cli, list(sample_namespaces.values()), settings.ready_timeout, operator)
    print(f"\nsamples {', '.join(sample_namespaces)}: Ready {took:.1f}s after apply")
    for namespace in sample_namespaces.values():
        for store in items(cli, "vectorstores", namespace):
            name = store["metadata"]["name"]
            sts = get(cli, "statefulset", namespace, f"{name}-qdrant")
            assert sts["status"].get("readyReplicas") == sts["spec"]["replicas"] == store["status"]["replicas"]
            if store["spec"].get("monitoring", {}).get("serviceMonitor"):
                get(cli, "servicemonitor", namespace, f"{name}-qdrant")
        for pipeline in items(cli, "ragpipelines", namespace):
            name = pipeline["metadata"]["name"]
            assert pipeline["status"]["url"] == f"http://{name}-gateway.{namespace}.svc:8080"
            assert get(cli, "deployment", namespace, f"{name}-gateway")["status"].get("readyReplicas", 0) >= 1
            monitoring = pipeline["spec"].get("monitoring", {})
            for kind, wanted in (("servicemonitor", "serviceMonitor"), ("prometheusrule", "prometheusRule")):
                if monitoring.get(wanted):
                    get(cli, kind, namespace, f"{name}-gateway")


# Which Qdrant the pods run, in the test's id: kind pulls the real image; the real node runs the real server
# (RAGOPS_QDRANT_BINARY) or the project's stand-in.
QDRANT = f"qdrant-{os.environ.get('RAGOPS_E2E_QDRANT_KIND') or 'real'}"


@pytest.mark.parametrize("qdrant", [QDRANT])
def test_qdrant_serves_the_collection_and_the_gateway_is_ready(
    cli: Cli, settings: Settings, sample_namespaces: dict[str, str], qdrant: str
) -> None:
    if "small" not in sample_namespaces:
        pytest.skip("needs the small sample")
    if settings.operator_mode == "local":
        pytest.skip("kwok only pretends to run pods: Qdrant and the gateway run on the real node and on kind")
    namespace = sample_namespaces["small"]
    wait_for(lambda: (condition(get(cli, "vectorstore", namespace, "docs"), "CollectionsReady") or {}).get("status")
             == "True", 180, interval=2, what="CollectionsReady")
    secret = get(cli, "secret", namespace, get(cli, "vectorstore", namespace, "docs")["status"]["apiKeySecret"])
    api_key = base64.b64decode(secret["data"]["apiKey"]).decode()
    with port_forward(cli, namespace, "svc/docs-qdrant", 6333) as port:
        request = urllib.request.Request(f"http://127.0.0.1:{port}/collections/manuals", headers={"api-key": api_key})
        with urllib.request.urlopen(request, timeout=10) as response:
            info = json.loads(response.read())
    assert info["result"]["config"]["params"]["vectors"]["size"] == 384
    with (
        port_forward(cli, namespace, "svc/support-bot-gateway", 8080) as port,
        urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=10) as response,
    ):
        assert response.status == 200


def test_profile_change_resizes_the_children_in_place(
    cli: Cli, settings: Settings, operator: OperatorProcess, sample_namespaces: dict[str, str]
) -> None:
    """small -> medium (DESIGN.md's table): 3 Qdrant nodes at 2 CPU / 8Gi, 100Gi volumes, gateway HPA 2-6."""
    if "small" not in sample_namespaces:
        pytest.skip("needs the small sample")
    namespace = sample_namespaces["small"]
    sts_uid = get(cli, "statefulset", namespace, "docs-qdrant")["metadata"]["uid"]
    for kind, name in (("vectorstore", "docs"), ("ragpipeline", "support-bot")):
        cli.kubectl("patch", kind, name, "-n", namespace, "--type=merge", "-p", '{"spec": {"profile": "medium"}}')

    def followed() -> bool:
        sts = get(cli, "statefulset", namespace, "docs-qdrant")
        qdrant = container(sts, "qdrant")["resources"]
        hpa = get(cli, "horizontalpodautoscaler", namespace, "support-bot-gateway")["spec"]
        gateway = container(get(cli, "deployment", namespace, "support-bot-gateway"), "gateway")["resources"]
        return bool(
            sts["spec"]["replicas"] == 3
            and quantities(qdrant.get("requests")) == {"cpu": 2, "memory": 8 * GiB}
            and quantities(qdrant.get("limits")) == {"cpu": 4, "memory": 8 * GiB}
            and (hpa["minReplicas"], hpa["maxReplicas"]) == (2, 6)
            and quantities(gateway.get("requests")) == {"cpu": 1, "memory": 2 * GiB}
        )

    wait_for(followed, 60, interval=0.5, what="the children to follow the medium profile")
    assert get(cli, "statefulset", namespace, "docs-qdrant")["metadata"]["uid"] == sts_uid, "recreated, not resized"
    if not settings.ready_after_profile_change:
        return
    wait_all_ready(cli, [namespace], settings.ready_timeout, operator)

    # Volumes grow in place (volumeClaimTemplates are immutable), the new nodes' volumes too.
    def volume_sizes() -> list[float]:
        claims = items(cli, "pvc", namespace, "app.kubernetes.io/instance=docs,app.kubernetes.io/component=qdrant")
        return [quantity_value(c["spec"]["resources"]["requests"]["storage"]) for c in claims]

    wait_for(lambda: volume_sizes() == [100 * GiB] * 3, 60, what="three Qdrant volumes at 100Gi")


def test_the_operator_was_never_forbidden(operator: OperatorProcess) -> None:
    """The chart's RBAC covers everything the operator did above (out of cluster it ran on the chart's token)."""
    refused = forbidden_lines(operator.log())
    assert not refused, "the API server refused the operator:\n" + "\n".join(refused[:20])


def test_uninstall_leaves_only_the_crds_and_retained_volumes(
    cli: Cli, installed: str, operator: OperatorProcess, sample_namespaces: dict[str, str]
) -> None:
    namespaces = list(sample_namespaces.values())

    def claims() -> dict[str, list[str]]:
        # Generic ephemeral volumes (snapshotVolume) belong to their pod and go with it: not data to retain.
        return {ns: sorted(c["metadata"]["name"] for c in items(cli, "pvc", ns)
                           if not c["metadata"].get("deletionTimestamp")
                           and not any(o.get("kind") == "Pod" for o in c["metadata"].get("ownerReferences") or []))
                for ns in namespaces}

    before = claims()
    assert all(before.values()), before
    # docs/install.md: delete the resources while the operator runs, then the operator.
    for namespace in namespaces:
        cli.kubectl("delete", "ragpipelines,vectorstores", "--all", "-n", namespace, "--wait", "--timeout=120s")

    def leftovers() -> dict[str, list[str]]:
        found = {ns: [f"{o['kind']}/{o['metadata']['name']}" for o in items(cli, CHILD_KINDS, ns,
                                                                             "app.kubernetes.io/part-of=ragops")]
                 for ns in namespaces}
        return {ns: names for ns, names in found.items() if names}

    wait_for(lambda: not leftovers(), 180, interval=1, what="garbage collection of every child")
    operator.stop()
    cli.helm("uninstall", installed, "-n", OPERATOR_NAMESPACE, "--wait", "--timeout", "3m")

    release = f"app.kubernetes.io/instance={installed}"
    assert not items(cli, "deployments,services,serviceaccounts,roles,rolebindings,configmaps",
                     OPERATOR_NAMESPACE, release)
    # Real operator pods take their grace period to stop (kwok's vanished at once): gone, not merely deleted.
    wait_for(lambda: not items(cli, "pods", OPERATOR_NAMESPACE, release), 120, interval=1,
             what="the operator pods gone after the uninstall")
    for namespace in namespaces:  # the Roles of watchNamespaces
        assert not items(cli, "roles,rolebindings", namespace, release)
    assert not cli.kubectl_json("get", "clusterroles,clusterrolebindings", "-l", release)["items"]
    crds = cli.kubectl("get", "crd", "-o", "name")
    assert "vectorstores.ragops.dev" in crds and "ragpipelines.ragops.dev" in crds, "Helm keeps the CRDs"
    assert claims() == before, "retainOnDelete (the default) keeps every volume"
