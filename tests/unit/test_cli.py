"""`ragops render` and `ragops crds`, as a user runs them."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import yaml

from ragops.crds import all_crds, render

REPO = Path(__file__).resolve().parents[2]


def run_cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ragops.cli", *args], input=stdin, capture_output=True, text=True, cwd=REPO
    )


def test_render_prints_every_child_as_parseable_yaml(tmp_path: Path) -> None:
    manifest = tmp_path / "stack.yaml"
    manifest.write_text(
        yaml.safe_dump_all(
            [
                {
                    "apiVersion": "ragops.dev/v1alpha1",
                    "kind": "VectorStore",
                    "metadata": {"name": "docs"},
                    "spec": {
                        "profile": "medium",
                        "backup": {},
                        "monitoring": {"serviceMonitor": True},
                        "collections": [{"name": "manuals", "vectorSize": 768}],
                    },
                },
                {
                    "apiVersion": "ragops.dev/v1alpha1",
                    "kind": "RagPipeline",
                    "metadata": {"name": "bot"},
                    "spec": {
                        "vectorStoreRef": {"name": "docs"},
                        "collection": "manuals",
                        "embedding": {"apiKeySecretRef": {"name": "openai"}},  # OpenAI's public API needs a key
                    },
                },
            ]
        )
    )
    result = run_cli("render", "-f", str(manifest))
    assert result.returncode == 0, result.stderr
    objects = list(yaml.safe_load_all(result.stdout))
    kinds = sorted(f"{o['kind']}/{o['metadata']['name']}" for o in objects)
    assert kinds == sorted(
        [
            "ConfigMap/docs-qdrant-config",
            "Secret/docs-qdrant-api-key",
            "Service/docs-qdrant-headless",
            "Service/docs-qdrant",
            "StatefulSet/docs-qdrant",
            "PodDisruptionBudget/docs-qdrant",
            "NetworkPolicy/docs-qdrant",
            "ServiceMonitor/docs-qdrant",
            "PersistentVolumeClaim/docs-backup",
            "CronJob/docs-backup",
            "ConfigMap/bot-gateway",
            "Secret/bot-gateway-api-key",
            "Service/bot-gateway",
            "Deployment/bot-gateway",
            "HorizontalPodAutoscaler/bot-gateway",
            "NetworkPolicy/bot-gateway",
        ]
    )
    assert "GitOps" in result.stderr  # generated keys come with a warning


def test_render_reports_an_invalid_spec_with_its_field(tmp_path: Path) -> None:
    result = run_cli(
        "render",
        "-f",
        "-",
        stdin=(
            "apiVersion: ragops.dev/v1alpha1\nkind: VectorStore\nmetadata: {name: x}\n"
            "spec: {collections: [{name: a, vectorSize: 0}]}\n"
        ),
    )
    assert result.returncode == 1
    assert "spec.collections.0.vectorSize" in result.stderr


def test_committed_crds_match_a_fresh_generation() -> None:
    for name, document in all_crds().items():
        committed = (REPO / "crds" / name).read_text()
        assert committed.split("\n", 1)[1] == render(document), f"crds/{name} is stale: run `ragops crds`"


PASSED_THROUGH = {
    "VectorStore": [
        "spec.qdrant.affinity.nodeAffinity",
        "spec.qdrant.affinity.podAffinity",
        "spec.qdrant.affinity.podAntiAffinity",
        "spec.qdrant.config.service",
        "spec.qdrant.config.storage",
    ]
}


def preserved(node: dict, path: str) -> list[str]:
    """Paths of the schema's objects that keep unknown fields."""
    found = [path] if node.get("x-kubernetes-preserve-unknown-fields") else []
    for key, child in (node.get("properties") or {}).items():
        found += preserved(child, f"{path}.{key}")
    if isinstance(node.get("items"), dict):
        found += preserved(node["items"], f"{path}[]")
    return found


def test_crds_teach_the_api() -> None:
    for document in all_crds().values():
        version = document["spec"]["versions"][0]
        assert version["subresources"] == {"status": {}}
        assert document["spec"]["names"]["categories"] == ["ragops"]
        columns = [c["name"] for c in version["additionalPrinterColumns"]]
        assert columns[:4] == ["Profile", "Ready", "Desired", "Phase"] and columns[-1] == "Age"
        spec = version["schema"]["openAPIV3Schema"]["properties"]["spec"]
        # Structural everywhere, except where the API passes a third party's object through on purpose: a pod's
        # affinity sections and Qdrant's own configuration sections (whose owned keys are still declared).
        assert sorted(preserved(spec, "spec")) == sorted(PASSED_THROUGH.get(document["spec"]["names"]["kind"], []))

        def walk(node: dict, path: str) -> None:
            for key, child in (node.get("properties") or {}).items():
                assert child.get("description"), f"{path}.{key} has no description"
                walk(child, f"{path}.{key}")
            if isinstance(node.get("items"), dict):
                walk(node["items"], f"{path}[]")

        walk(spec, "spec")
    rules = json.dumps(all_crds())
    for fragment in (
        "maxReplicas must be >= minReplicas",
        "never shrink",
        "storageClassName is immutable",
        "collection names must be unique",
        "x-kubernetes-list-map-keys",
    ):
        assert fragment in rules


def test_configuration_reference_is_current() -> None:
    sys.path.insert(0, str(REPO / "hack"))
    from gen_reference import reference

    assert (REPO / "docs" / "reference.md").read_text() == reference(), "run python hack/gen_reference.py"
