"""The `node` scope: the local control plane's real node (hack/node.sh), where every pod really runs.

kwok only pretends to run pods; here the operator runs from the image in the chart's Deployment, the small
sample's Qdrant and gateway pods start under the restricted Pod Security Standard, and the stack must serve.
Qdrant is the real server when RAGOPS_QDRANT_BINARY was given, else the project's Qdrant STAND-IN (not
Qdrant; the test ids say which). These tests run after the samples are Ready and before the profile change
(conftest.py orders them), sharing test_lifecycle.py's installation.
"""

from __future__ import annotations

import base64
import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

import pytest
from tests.integration.cluster import wait_for

from e2e.harness import CHART, OPERATOR_NAMESPACE, Cli, OperatorProcess, Settings, port_forward

pytestmark = pytest.mark.skipif(os.environ.get("RAGOPS_E2E_SCOPE") != "node", reason="needs the real node (scope node)")

QDRANT = f"qdrant-{os.environ.get('RAGOPS_E2E_QDRANT_KIND') or 'standin'}"  # in the ids of the Qdrant tests
NODE = "real-node"
POD_CIDR_PREFIX = "10.244.0."
STORE, PIPELINE = "docs", "support-bot"
DOCUMENTS = [
    {"id": "router-reset", "text": "To reset the router, hold the reset button for ten seconds until the light blinks.",
     "metadata": {"product": "router"}},
    {"id": "warranty", "text": "The warranty covers manufacturing defects for two years from the date of purchase.",
     "metadata": {"product": "any"}},
]
QUERY = {"query": DOCUMENTS[0]["text"], "topK": 2}
# What the tests learn and later tests compare against (they run in file order).
seen: dict[str, Any] = {}


def small(sample_namespaces: dict[str, str]) -> str:
    if "small" not in sample_namespaces:
        pytest.skip("needs the small sample")
    return sample_namespaces["small"]


def get(cli: Cli, kind: str, namespace: str, name: str) -> dict[str, Any]:
    return dict(cli.kubectl_json("get", kind, name, "-n", namespace))


def pods(cli: Cli, namespace: str, selector: str = "") -> list[dict[str, Any]]:
    args = ["get", "pods", "-n", namespace] + (["-l", selector] if selector else [])
    return [p for p in cli.kubectl_json(*args)["items"] if not p["metadata"].get("deletionTimestamp")]


def condition(obj: dict[str, Any], type_: str) -> dict[str, Any]:
    return next((c for c in (obj.get("status") or {}).get("conditions") or [] if c["type"] == type_), {})


def ready(pod: dict[str, Any]) -> bool:
    return pod["status"].get("phase") == "Running" and condition(pod, "Ready").get("status") == "True"


def run_pod(
    cli: Cli, settings: Settings, namespace: str, script: str, env: list[dict[str, Any]] | None = None,
    timeout: float = 180,
) -> str:
    """Run `python -c script` in a restricted pod of the ragops image inside the cluster; its stdout."""
    name = f"e2e-client-{secrets.token_hex(3)}"
    pod = {
        "apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": namespace},
        "spec": {
            "restartPolicy": "Never", "automountServiceAccountToken": False, "enableServiceLinks": False,
            "securityContext": {"runAsNonRoot": True, "runAsUser": 65532, "runAsGroup": 65532,
                                "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "client", "image": settings.image, "imagePullPolicy": "IfNotPresent",
                "command": ["python", "-c", script], "env": env or [],
                "resources": {"requests": {"cpu": "10m", "memory": "32Mi"}, "limits": {"memory": "256Mi"}},
                "securityContext": {"allowPrivilegeEscalation": False, "readOnlyRootFilesystem": True,
                                    "capabilities": {"drop": ["ALL"]}},
            }],
        },
    }
    cli.kubectl("apply", "-f", "-", stdin=json.dumps(pod))
    try:
        wait_for(lambda: get(cli, "pod", namespace, name)["status"].get("phase") in ("Succeeded", "Failed"),
                 timeout, interval=1, what=f"pod {name} to finish")
        phase = get(cli, "pod", namespace, name)["status"]["phase"]
        out = cli.kubectl("logs", name, "-n", namespace)
        assert phase == "Succeeded", f"client pod {phase}:\n{out[-3000:]}"
        return out
    finally:
        cli.kubectl("delete", "pod", name, "-n", namespace, "--wait=false", "--ignore-not-found")


def gateway_client(cli: Cli, settings: Settings, namespace: str, pipeline: str, *, ingest: bool) -> dict[str, Any]:
    """From a pod: optionally ingest DOCUMENTS, then run QUERY, through the pipeline's gateway Service by its DNS
    name, with the gateway's API key from the pipeline's Secret (as a client app would mount it)."""
    secret = get(cli, "ragpipeline", namespace, pipeline)["status"]["apiKeySecret"]
    key = next(iter(get(cli, "secret", namespace, secret)["data"]))
    env = [{"name": "GATEWAY_API_KEY", "valueFrom": {"secretKeyRef": {"name": secret, "key": key}}}]
    script = gateway_script(f"http://{pipeline}-gateway.{namespace}.svc.cluster.local:8080", ingest=ingest)
    return dict(json.loads(run_pod(cli, settings, namespace, script, env)))


def gateway_script(url: str, *, ingest: bool) -> str:
    """A client of the gateway's HTTP API: optionally ingest DOCUMENTS, then run QUERY; prints JSON."""
    return f"""
import json, os, urllib.request
def call(path, body):
    request = urllib.request.Request({url!r} + path, data=json.dumps(body).encode(),
                                     headers={{"content-type": "application/json",
                                               "authorization": "Bearer " + os.environ["GATEWAY_API_KEY"]}})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.load(response)
out = {{}}
if {ingest!r}:
    out["ingest"] = call("/v1/documents", {{"documents": {DOCUMENTS!r}}})
out["query"] = call("/v1/query", {QUERY!r})
print(json.dumps(out))
"""


def chunks(answer: dict[str, Any]) -> list[tuple[str, int, str, float]]:
    return [(c["documentId"], c["chunkIndex"], c["text"], round(c["score"], 4)) for c in answer["query"]["chunks"]]


def qdrant_count(cli: Cli, namespace: str, store: str, collection: str) -> int:
    """Exact point count through Qdrant's REST API (port-forward to the store's Service, its API key)."""
    import urllib.request

    status = get(cli, "vectorstore", namespace, store)["status"]
    key = base64.b64decode(get(cli, "secret", namespace, status["apiKeySecret"])["data"]["apiKey"]).decode()
    with port_forward(cli, namespace, f"svc/{store}-qdrant", 6333) as port:
        request = urllib.request.Request(
            f"http://127.0.0.1:{port}/collections/{collection}/points/count", data=b'{"exact": true}',
            headers={"api-key": key, "content-type": "application/json"}, method="POST")
        with urllib.request.urlopen(request, timeout=20) as response:
            return int(json.loads(response.read())["result"]["count"])


def test_every_pod_runs_for_real_on_the_real_node(
    cli: Cli, settings: Settings, operator: OperatorProcess, sample_namespaces: dict[str, str]
) -> None:
    namespace = small(sample_namespaces)
    node = cli.kubectl_json("get", "node", NODE)
    assert condition(node, "Ready").get("status") == "True"
    kwok = cli.kubectl_json("get", "nodes", "-l", "type=kwok")["items"]
    assert all(any(t["key"] == "ragops.dev/kwok" for t in n["spec"].get("taints", [])) for n in kwok), \
        "kwok nodes must be tainted so that pods land on the real node"
    running = pods(cli, namespace) + pods(cli, OPERATOR_NAMESPACE)
    components = {p["metadata"]["labels"].get("app.kubernetes.io/component", p["metadata"]["name"]) for p in running}
    assert {"qdrant", "gateway"} <= components, components
    for pod in running:
        name = pod["metadata"]["name"]
        assert pod["spec"].get("nodeName") == NODE, f"{name} is not on the real node"
        assert ready(pod), f"{name}: {pod['status'].get('phase')} {pod['status'].get('containerStatuses')}"
        assert pod["status"]["podIP"].startswith(POD_CIDR_PREFIX), f"{name}: {pod['status']['podIP']}"
    deployment = get(cli, "deployment", OPERATOR_NAMESPACE, operator_deployment(cli))
    image = deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image == settings.image and deployment["status"].get("readyReplicas") == 1


def operator_deployment(cli: Cli) -> str:
    return str(cli.kubectl_json("get", "deployments", "-n", OPERATOR_NAMESPACE)["items"][0]["metadata"]["name"])


def test_the_kubelet_enforces_the_restricted_security_context(
    cli: Cli, operator: OperatorProcess, sample_namespaces: dict[str, str]
) -> None:
    """Inside the gateway container: UID 65532, a read-only root, no capabilities, seccomp, no new privileges."""
    namespace = small(sample_namespaces)
    pod = pods(cli, namespace, f"app.kubernetes.io/instance={PIPELINE}")[0]["metadata"]["name"]
    probe = ("import json, os\n"
             "status = dict(l.split(':\\t', 1) for l in open('/proc/self/status').read().splitlines() if ':\\t' in l)\n"
             "try:\n    open('/written', 'w'); root = 'writable'\nexcept OSError as e:\n    root = e.strerror\n"
             "print(json.dumps({'uid': os.getuid(), 'gid': os.getgid(), 'root': root, 'cap': status['CapEff'].strip(),"
             " 'seccomp': status['Seccomp'].strip(), 'nnp': status['NoNewPrivs'].strip()}))")
    seen_inside = json.loads(cli.kubectl("exec", pod, "-n", namespace, "-c", "gateway", "--", "python", "-c", probe))
    assert seen_inside == {"uid": 65532, "gid": 65532, "root": "Read-only file system", "cap": "0000000000000000",
                           "seccomp": "2", "nnp": "1"}


@pytest.mark.parametrize("qdrant", [QDRANT])
def test_gateway_ingests_and_answers_from_inside_the_cluster(
    cli: Cli, settings: Settings, operator: OperatorProcess, sample_namespaces: dict[str, str], qdrant: str
) -> None:
    """Two documents and a query through the gateway's Service by its DNS name, from a pod: cluster DNS,
    kube-proxy, the gateway's config and its way to `<store>-qdrant.<ns>.svc` all real."""
    namespace = small(sample_namespaces)
    out = gateway_client(cli, settings, namespace, PIPELINE, ingest=True)
    assert out["ingest"]["documents"] == [{"id": "router-reset", "chunks": 1}, {"id": "warranty", "chunks": 1}]
    found = chunks(out)
    assert found[0][:3] == ("router-reset", 0, DOCUMENTS[0]["text"]) and found[0][3] == pytest.approx(1.0, abs=1e-3)
    assert {c[0] for c in found} <= {"router-reset", "warranty"}
    seen["chunks"] = found


@pytest.mark.parametrize("qdrant", [QDRANT])
def test_deleting_the_qdrant_pod_loses_no_points(
    cli: Cli, settings: Settings, operator: OperatorProcess, sample_namespaces: dict[str, str], qdrant: str
) -> None:
    namespace = small(sample_namespaces)
    if "chunks" not in seen:
        pytest.skip("needs the ingest test")
    before = qdrant_count(cli, namespace, STORE, "manuals")
    assert before == 2
    old_uid = get(cli, "pod", namespace, f"{STORE}-qdrant-0")["metadata"]["uid"]
    cli.kubectl("delete", "pod", f"{STORE}-qdrant-0", "-n", namespace, "--wait=true", "--timeout=120s")

    def back() -> bool:
        found = pods(cli, namespace, f"app.kubernetes.io/instance={STORE},app.kubernetes.io/component=qdrant")
        return bool(found) and found[0]["metadata"]["uid"] != old_uid and ready(found[0])

    wait_for(back, 180, interval=1, what="a new Qdrant pod Ready on the same volume")
    assert qdrant_count(cli, namespace, STORE, "manuals") == before
    out = gateway_client(cli, settings, namespace, PIPELINE, ingest=False)
    assert chunks(out) == seen["chunks"]


@pytest.mark.parametrize("qdrant", [QDRANT])
def test_backup_now_writes_its_volume_and_a_new_store_restores_it(
    cli: Cli, settings: Settings, operator: OperatorProcess, sample_namespaces: dict[str, str], qdrant: str
) -> None:
    namespace = small(sample_namespaces)
    if "chunks" not in seen:
        pytest.skip("needs the ingest test")
    backup = {"spec": {"backup": {"schedule": "0 3 * * *", "destination": {"pvc": {"size": "1Gi"}}}}}
    cli.kubectl("patch", "vectorstore", STORE, "-n", namespace, "--type=merge", "-p", json.dumps(backup))
    wait_for(lambda: cli.kubectl("get", "cronjobs", "-n", namespace, "-o", "name").strip() != "", 60,
             what="the backup CronJob")
    cli.kubectl("annotate", "vectorstore", STORE, "-n", namespace, f"ragops.dev/backup-now={int(time.time())}")

    def last_backup() -> dict[str, Any]:
        return dict(get(cli, "vectorstore", namespace, STORE)["status"].get("lastBackup") or {})

    wait_for(lambda: last_backup().get("result") in ("Succeeded", "Failed"), 300, interval=2, what="the backup Job")
    record = last_backup()
    assert record["result"] == "Succeeded", f"backup {record}: {job_log(cli, namespace, record.get('name', ''))}"
    # On its volume: a real directory of this machine (the local PV behind the backup claim).
    claim = get(cli, "pvc", namespace, f"{STORE}-backup")
    volume = Path(cli.kubectl_json("get", "pv", claim["spec"]["volumeName"])["spec"]["local"]["path"])
    manifest = json.loads((volume / namespace / STORE / record["name"] / "manifest.json").read_text())
    assert [c["name"] for c in manifest["collections"]] == ["manuals"] and manifest["collections"][0]["points"] == 2

    restored_store, restored_pipeline = f"{STORE}-restored", f"{PIPELINE}-restored"
    store = get(cli, "vectorstore", namespace, STORE)
    pipeline = get(cli, "ragpipeline", namespace, PIPELINE)
    objects = [
        {"apiVersion": "ragops.dev/v1alpha1", "kind": "VectorStore",
         "metadata": {"name": restored_store, "namespace": namespace},
         "spec": {"profile": "small", "qdrant": store["spec"]["qdrant"], "collections": store["spec"]["collections"],
                  "restore": {"backupName": record["name"], "fromStore": STORE}}},
        {"apiVersion": "ragops.dev/v1alpha1", "kind": "RagPipeline",
         "metadata": {"name": restored_pipeline, "namespace": namespace},
         "spec": {**pipeline["spec"], "vectorStoreRef": {"name": restored_store}}},
    ]
    cli.kubectl("apply", "-f", "-", stdin="\n---\n".join(json.dumps(o) for o in objects))

    def restore() -> dict[str, Any]:
        return dict(get(cli, "vectorstore", namespace, restored_store).get("status", {}).get("lastRestore") or {})

    wait_for(lambda: restore().get("result") in ("Succeeded", "Failed"), 420, interval=2, what="the restore Job")
    assert restore()["result"] == "Succeeded", job_log(cli, namespace, restore().get("name", ""))
    wait_for(lambda: (get(cli, "ragpipeline", namespace, restored_pipeline).get("status") or {}).get("phase")
             == "Ready", 300, interval=2, what="the restored store's pipeline Ready")
    out = gateway_client(cli, settings, namespace, restored_pipeline, ingest=False)
    assert chunks(out) == seen["chunks"], "the restored store answers the same query with the same chunks"
    # Its pods hold CPU this node lacks for what follows; its volumes stay (retainOnDelete).
    cli.kubectl("delete", "ragpipeline", restored_pipeline, "-n", namespace, "--wait=true", "--timeout=120s")
    cli.kubectl("delete", "vectorstore", restored_store, "-n", namespace, "--wait=true", "--timeout=120s")


def job_log(cli: Cli, namespace: str, job: str) -> str:
    if not job:
        return "(no Job name)"
    try:
        return cli.kubectl("logs", f"job/{job}", "-n", namespace, "--tail=40")
    except AssertionError as error:
        return str(error)


def test_a_missing_llm_secret_is_reported_with_the_secret_and_key(
    cli: Cli, operator: OperatorProcess, sample_namespaces: dict[str, str]
) -> None:
    """The gateway pod cannot start without its LLM key: the pipeline says which Secret and key, and why."""
    namespace = small(sample_namespaces)
    name, secret = "needs-llm", "no-such-llm-key"
    pipeline = get(cli, "ragpipeline", namespace, PIPELINE)
    spec = {**pipeline["spec"], "llm": {"provider": "openai", "model": "gpt-4o-mini",
                                        "apiKeySecretRef": {"name": secret, "key": "apiKey"}}}
    obj = {"apiVersion": "ragops.dev/v1alpha1", "kind": "RagPipeline",
           "metadata": {"name": name, "namespace": namespace}, "spec": spec}
    cli.kubectl("apply", "-f", "-", stdin=json.dumps(obj))
    try:
        def reported() -> dict[str, Any]:
            return condition(get(cli, "ragpipeline", namespace, name), "ReferencesResolved")

        wait_for(lambda: reported().get("status") == "False", 90, interval=1, what="ReferencesResolved=False")
        found = reported()
        assert found["reason"] == "SecretNotFound"
        assert f"{secret}/apiKey" in found["message"] and "spec.llm.apiKeySecretRef" in found["message"], found
        events = cli.kubectl_json("get", "events", "-n", namespace, "--field-selector",
                                  f"involvedObject.name={name},involvedObject.kind=RagPipeline")["items"]
        assert any(f"{secret}/apiKey" in e["message"] for e in events), [e["message"] for e in events]
    finally:
        cli.kubectl("delete", "ragpipeline", name, "-n", namespace, "--wait=true", "--timeout=60s")


def test_operator_failover_the_standby_pod_takes_over(
    cli: Cli, installed: str, operator: OperatorProcess, sample_namespaces: dict[str, str]
) -> None:
    """Two operator pods with kopf peering: one active, one standby; delete the active one, the other carries on.

    The chart runs one replica in this scope (the stack tests above need a working operator); this test
    upgrades the release to two, and back to one afterwards."""
    namespace = small(sample_namespaces)
    selector = "app.kubernetes.io/component=operator"
    upgrade = ["upgrade", installed, str(CHART), "-n", OPERATOR_NAMESPACE, "--reuse-values", "--wait",
               "--timeout", "5m"]
    cli.helm(*upgrade, "--set", "replicaCount=2")
    try:
        wait_for(lambda: len([p for p in pods(cli, OPERATOR_NAMESPACE, selector) if ready(p)
                              and "--peering" in p["spec"]["containers"][0]["args"]]) == 2, 180, interval=2,
                 what="two operator pods with peering")

        def logs() -> dict[str, str]:
            return {p["metadata"]["name"]: cli.kubectl("logs", p["metadata"]["name"], "-n", OPERATOR_NAMESPACE)
                    for p in pods(cli, OPERATOR_NAMESPACE, selector)}

        def decided() -> bool:
            found = logs()
            return len(found) == 2 and any("Pausing" in log for log in found.values())

        try:
            # Both pods start at once after the upgrade; on a loaded node their first peering pass can take minutes.
            wait_for(decided, 180, interval=2, what="the peering decision in the operator logs")
        except AssertionError as error:
            tails = "\n".join(f"--- {pod}:\n{log[-2000:]}" for pod, log in logs().items())
            raise AssertionError(f"{error}\n{tails}") from None
        found = logs()
        paused_all = [pod for pod, log in found.items() if "Pausing all operators" in log]
        assert not paused_all, f"every replica paused (same kopf peering priority): {paused_all}"
        standby = [pod for pod, log in found.items() if "Pausing operations in favour of" in log]
        active = [pod for pod in found if pod not in standby]
        assert len(active) == 1 and len(standby) == 1, f"active {active}, standby {standby}"
        cli.kubectl("delete", "pod", active[0], "-n", OPERATOR_NAMESPACE, "--wait=true", "--timeout=60s")
        # A change only an active operator repairs: a deleted child comes back.
        config = f"{STORE}-qdrant-config"
        cli.kubectl("delete", "configmap", config, "-n", namespace)
        wait_for(lambda: f"configmap/{config}" in cli.kubectl("get", "configmaps", "-n", namespace, "-o", "name"),
                 120, interval=1, what=f"configmap {config} recreated after the failover")
        log = cli.kubectl("logs", standby[0], "-n", OPERATOR_NAMESPACE)
        assert "Resuming operations" in log, f"{standby[0]} did not take over:\n{log[-3000:]}"
    finally:
        cli.helm(*upgrade, "--set", "replicaCount=1")
