"""checkov (a third-party Kubernetes linter) over what users install and what the operator creates: the chart
(helm template with the defaults, and with everything turned on), manifests/install.yaml and the children
`ragops render` gives for every sample. Findings defended by design are listed, each with its reason, in
tests/unit/data/checkov-skips.yaml; any other failed check fails the build."""

from __future__ import annotations

import json
import os
import shutil
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from tests.unit.tools import REPO, SAMPLES, find_helm, helm_template_text, run

from ragops.reconcile.context import OperatorSettings
from ragops.render import render_objects

SKIPS_FILE = Path(__file__).parent / "data" / "checkov-skips.yaml"
# Samples carry no namespace (`kubectl apply -n ...` gives one); the children land in their parent's.
SAMPLE_NAMESPACE = "search"
HARDENED_VALUES: dict[str, Any] = {
    "replicaCount": 2,
    "networkPolicy": {"enabled": True, "allowedNamespaces": ["monitoring"]},
    "metrics": {"serviceMonitor": {"enabled": True}, "prometheusRule": {"enabled": True}},
    "dashboards": {"enabled": True},
}
# A pod no admission policy should let through: proves a finding nobody listed fails the test.
CANARY = {
    "apiVersion": "v1",
    "kind": "Pod",
    "metadata": {"name": "canary", "namespace": "canary"},
    "spec": {"containers": [{"name": "c", "image": "busybox", "securityContext": {"privileged": True}}]},
}


@dataclass(frozen=True)
class Finding:
    input: str
    check: str
    kind: str
    resource: str
    name: str


def _checkov() -> str:
    # Its own venv (make checkov): checkov's pins would downgrade the operator's kubernetes client.
    candidates = [os.environ.get("CHECKOV", ""), str(REPO / ".venv-checkov" / "bin" / "checkov")]
    found = next((c for c in candidates if c and Path(c).is_file()), None) or shutil.which("checkov")
    if found is None:
        pytest.fail("checkov not installed: run `make checkov` (its own venv, .venv-checkov)", pytrace=False)
    return found


def _sample_children(path: Path) -> str:
    documents = []
    for doc in yaml.safe_load_all(path.read_text()):
        if doc:
            doc.setdefault("metadata", {}).setdefault("namespace", SAMPLE_NAMESPACE)
            documents.append(doc)
    children = render_objects(documents, OperatorSettings(image="ghcr.io/ragops-dev/ragops:0.1.0"))
    assert children, path.name
    return yaml.safe_dump_all(children, sort_keys=False)


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, list[Finding]]]:
    """{input: {"passed": [...], "failed": [...]}} from one checkov run over every input."""
    helm = find_helm()
    if helm is None:
        pytest.fail("helm not found: run `bash hack/build-control-plane.sh`", pytrace=False)
    work = tmp_path_factory.mktemp("checkov")
    inputs = work / "inputs"
    inputs.mkdir()
    (inputs / "chart-default.yaml").write_text(helm_template_text(helm, work))
    (inputs / "chart-hardened.yaml").write_text(helm_template_text(helm, work, HARDENED_VALUES))
    shutil.copy(REPO / "manifests" / "install.yaml", inputs / "install.yaml")
    for sample in sorted(SAMPLES.glob("*.yaml")):
        (inputs / f"sample-{sample.stem}.yaml").write_text(_sample_children(sample))
    (inputs / "canary.yaml").write_text(yaml.safe_dump(CANARY))
    # One checkov run per input: its graph checks (CKV2_*) connect objects across the files of one run, and
    # the hardened chart's NetworkPolicy would then cover the default chart's pods.
    with ThreadPoolExecutor(max_workers=2) as pool:
        reports = list(pool.map(lambda path: _checkov_file(path, work), sorted(inputs.iterdir())))
    return {name: outcome for report in reports for name, outcome in report.items()}


def _checkov_file(path: Path, work: Path) -> dict[str, dict[str, list[Finding]]]:
    env = {**os.environ, "CKV_SKIP_PACKAGE_UPDATE_CHECK": "true", "BC_SKIP_MAPPING": "TRUE"}
    result = run(
        [
            _checkov(),
            "--file",
            str(path),
            "--framework",
            "kubernetes",
            "--output",
            "json",
            "--compact",
            "--skip-download",
            "--soft-fail",
        ],
        cwd=work,  # no .checkov.yaml of anyone's picked up
        env=env,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    parsed = json.loads(result.stdout)
    (parsed,) = parsed if isinstance(parsed, list) else [parsed]
    assert parsed["summary"]["parsing_errors"] == 0, (path.name, parsed["summary"])
    outcome: dict[str, list[Finding]] = {"passed": [], "failed": []}
    for state in outcome:
        for check in parsed["results"][f"{state}_checks"]:
            kind = check["resource"].split(".", 1)[0]
            outcome[state].append(Finding(path.stem, check["check_id"], kind, check["resource"], check["check_name"]))
    return {path.stem: outcome}


def _input_group(name: str) -> str:
    return "samples" if name.startswith("sample-") else name


def skips() -> list[dict[str, Any]]:
    entries: list[dict[str, Any]] = yaml.safe_load(SKIPS_FILE.read_text())
    return entries


def _skipped_by(finding: Finding, entry: dict[str, Any]) -> bool:
    return (
        finding.check == entry["check"]
        and ("all" in entry["inputs"] or _input_group(finding.input) in entry["inputs"])
        and ("kinds" not in entry or finding.kind in entry["kinds"])
    )


def unexpected(findings: list[Finding]) -> list[Finding]:
    return [f for f in findings if not any(_skipped_by(f, entry) for entry in skips())]


def test_skip_list_is_commented_and_scoped() -> None:
    groups = {"all", "chart-default", "chart-hardened", "install", "samples"}
    seen = set()
    for entry in skips():
        assert set(entry) <= {"check", "inputs", "kinds", "reason"}, entry
        assert entry["check"].startswith(("CKV_K8S_", "CKV2_K8S_")), entry
        assert len(entry["reason"]) > 40, f"{entry['check']}: say why it is defended by design"
        assert set(entry["inputs"]) <= groups, entry
        assert entry["check"] not in seen or "kinds" in entry, f"{entry['check']} listed twice"
        seen.add(entry["check"])


def test_every_input_was_linted(report: dict[str, dict[str, list[Finding]]]) -> None:
    samples = {f"sample-{sample.stem}" for sample in SAMPLES.glob("*.yaml")}
    expected = {"chart-default", "chart-hardened", "install", "canary"} | samples
    assert set(report) == expected
    for name, outcome in report.items():
        assert outcome["passed"], f"checkov checked nothing in {name}"


def test_a_finding_nobody_listed_fails(report: dict[str, dict[str, list[Finding]]]) -> None:
    canary = {f.check for f in unexpected(report["canary"]["failed"])}
    assert "CKV_K8S_16" in canary  # privileged container


def test_no_finding_beyond_the_ones_defended_by_design(report: dict[str, dict[str, list[Finding]]]) -> None:
    failures = [f for name, outcome in report.items() if name != "canary" for f in unexpected(outcome["failed"])]
    listing = "\n".join(f"  {f.input}: {f.check} {f.resource} ({f.name})" for f in failures)
    assert not failures, f"checkov findings not in {SKIPS_FILE.relative_to(REPO)}:\n{listing}"
    matched = {
        entry["check"]
        for entry in skips()
        for name, outcome in report.items()
        if name != "canary"
        for f in outcome["failed"]
        if _skipped_by(f, entry)
    }
    stale = sorted({entry["check"] for entry in skips()} - matched)
    if stale:
        warnings.warn(f"checkov skips that matched no finding (remove them?): {stale}", stacklevel=1)
