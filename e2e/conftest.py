"""Session fixtures of the e2e suite: the chart installed once, the operator running, a namespace per sample."""

from __future__ import annotations

import json
import secrets
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from e2e.harness import (
    CHART,
    OPERATOR_NAMESPACE,
    RELEASE,
    Cli,
    InClusterOperator,
    LocalOperator,
    OperatorProcess,
    Settings,
    ensure_namespace,
    render_chart,
)

MONITORING_CRDS = Path(__file__).parent / "fixtures" / "monitoring-crds.yaml"
# Secrets each sample references (its header comment says how a user creates them).
SAMPLE_SECRETS: dict[str, dict[str, list[str]]] = {
    "small": {},
    "medium": {"openai": ["apiKey"]},
    "large": {"openai": ["apiKey"]},
    "full": {
        "openai": ["apiKey"],
        "docs-qdrant": ["apiKey", "readOnlyApiKey"],
        "backup-s3": ["accessKeyId", "secretAccessKey"],
        "support-bot-keys": ["apiKey"],
    },
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """test_real_node.py uses the Ready samples of test_lifecycle.py: it runs right before the profile change
    (which reshapes the stack beyond what one real node holds) instead of after the uninstall."""
    real = [item for item in items if item.path.name == "test_real_node.py"]
    rest = [item for item in items if item.path.name != "test_real_node.py"]
    at = next((k for k, item in enumerate(rest) if item.name.startswith("test_profile_change")), len(rest))
    items[:] = rest[:at] + real + rest[at:]


@pytest.fixture(scope="session")
def settings() -> Settings:
    return Settings.from_env()


@pytest.fixture(scope="session")
def cli(settings: Settings) -> Cli:
    return Cli(settings.kubeconfig)


@pytest.fixture(scope="session")
def chart_values(settings: Settings) -> dict[str, object]:
    values: dict[str, object] = {}
    if settings.image:
        repository, _, tag = settings.image.rpartition(":")
        values["image"] = {"repository": repository, "tag": tag}
    if settings.scope == "namespaces":
        # One Role per watched namespace instead of the ClusterRole, and two replicas: kopf peering.
        values["watchNamespaces"] = [sample_namespace(sample) for sample in settings.samples]
        values["replicaCount"] = 2
    return values


def sample_namespace(sample: str) -> str:
    return f"e2e-{sample}"


@pytest.fixture(scope="session")
def deployment_name(cli: Cli, chart_values: dict[str, object]) -> str:
    rendered = render_chart(cli, chart_values)
    return str(next(d for d in rendered if d["kind"] == "Deployment")["metadata"]["name"])


@pytest.fixture(scope="session")
def installed(
    cli: Cli,
    chart_values: dict[str, object],
    sample_namespaces: dict[str, str],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[str]:
    """`helm install` of the chart (CRDs included) into a restricted namespace; yields the release name.

    The sample namespaces exist first: with watchNamespaces the chart puts its Roles there."""
    ensure_namespace(cli, OPERATOR_NAMESPACE)
    values = tmp_path_factory.mktemp("helm") / "values.yaml"
    values.write_text(yaml.safe_dump(chart_values))
    cli.helm("install", RELEASE, str(CHART), "--namespace",
             OPERATOR_NAMESPACE, "-f", str(values), "--wait", "--timeout", "5m")
    yield RELEASE
    # Nominally test_uninstall has removed it; after an earlier failure, leave the cluster as we found it.
    if RELEASE in cli.helm("list", "-n", OPERATOR_NAMESPACE, "-q").split():
        cli.helm("uninstall", RELEASE, "-n", OPERATOR_NAMESPACE, "--wait", "--timeout", "3m")


@pytest.fixture(scope="session")
def monitoring_crds(cli: Cli) -> Iterator[None]:
    """The Prometheus Operator's kinds: the cluster's own, else stand-ins (e2e/fixtures), removed afterwards."""
    served = "servicemonitors" in cli.kubectl("api-resources", "--api-group=monitoring.coreos.com", "-o", "name")
    if not served:
        cli.kubectl("apply", "--server-side", "--field-manager=ragops-e2e", "-f", str(MONITORING_CRDS))
        cli.kubectl("wait", "--for=condition=Established", "--timeout=60s",
                    "crd/servicemonitors.monitoring.coreos.com", "crd/prometheusrules.monitoring.coreos.com")
    yield
    if not served:
        cli.kubectl("delete", "-f", str(MONITORING_CRDS), "--ignore-not-found", "--wait=false")


@pytest.fixture(scope="session")
def operator(
    settings: Settings,
    cli: Cli,
    installed: str,
    deployment_name: str,
    monitoring_crds: None,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[OperatorProcess]:
    running: OperatorProcess
    if settings.operator_mode == "local":
        running = LocalOperator(cli, deployment_name, tmp_path_factory.mktemp("operator") / "operator.log")
    else:
        running = InClusterOperator(cli, deployment_name)
    running.start()
    yield running
    running.stop()


@pytest.fixture(scope="session")
def sample_namespaces(settings: Settings, cli: Cli) -> Iterator[dict[str, str]]:
    """One restricted namespace per sample, holding the Secrets that sample references (random values, sent on
    stdin so they never show in a process list)."""
    namespaces = {sample: sample_namespace(sample) for sample in settings.samples}
    if "full" in namespaces:
        # full.yaml names a PriorityClass, which must exist like its Secrets (pods are refused without it).
        priority = {"apiVersion": "scheduling.k8s.io/v1", "kind": "PriorityClass", "metadata": {"name": "vectors"},
                    "value": 100000, "description": "ragops e2e: the full sample's Qdrant pods"}
        cli.kubectl("apply", "--server-side", "--field-manager=ragops-e2e", "-f", "-", stdin=json.dumps(priority))
    for sample, namespace in namespaces.items():
        ensure_namespace(cli, namespace)
        for name, keys in SAMPLE_SECRETS[sample].items():
            secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": namespace},
                      "stringData": {key: secrets.token_hex(16) for key in keys}}
            cli.kubectl("apply", "--server-side", "--field-manager=ragops-e2e", "-f", "-", stdin=json.dumps(secret))
    yield namespaces
    cli.kubectl("delete", "namespace", *namespaces.values(), "--ignore-not-found", "--wait=false")
