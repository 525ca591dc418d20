"""External tools the chart, dashboard, alert-rule and linter tests run: helm and promtool (built into the
cache by hack/build-control-plane.sh and hack/build-promtool.sh), checkov (a dev dependency)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
CHART = REPO / "charts" / "ragops"
SAMPLES = REPO / "manifests" / "samples"


def pinned(name: str) -> str:
    text = (REPO / "hack" / "versions.env").read_text()
    match = re.search(rf"^{name}=(\S+)", text, re.MULTILINE)
    assert match, f"hack/versions.env pins no {name}"
    return match.group(1)


def _cache_roots() -> list[Path]:
    explicit = os.environ.get("RAGOPS_CACHE")
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ragops"
    return [Path(explicit)] if explicit else [default, Path.home() / ".cache" / "ragops"]


def _executable(path: Path) -> str | None:
    return str(path) if path.is_file() and os.access(path, os.X_OK) else None


def find_helm() -> str | None:
    build = f"k8s-{pinned('KUBERNETES_VERSION')}-{pinned('BUILD_REVISION')}"
    for root in _cache_roots():
        found = _executable(root / build / "bin" / "helm")
        if found:
            return found
    return shutil.which("helm")


def find_promtool() -> str | None:
    """The promtool of the pinned Prometheus module (its rules engine is the one the tests vouch for)."""
    version = pinned("PROMETHEUS_MODULE_VERSION")
    for root in _cache_roots():
        found = _executable(root / f"promtool-{version}" / "promtool")
        if found:
            return found
    return shutil.which("promtool")


def run(cmd: list[str], **kwargs: Any) -> subprocess.CompletedProcess[str]:
    kwargs.setdefault("cwd", REPO)
    return subprocess.run(cmd, capture_output=True, text=True, timeout=600, check=False, **kwargs)


def helm_template_text(helm: str, directory: Path, values: dict[str, Any] | None = None) -> str:
    """`helm template` of the chart as release `ragops` in ragops-system, with `values` (a values file)."""
    args = [helm, "template", "ragops", str(CHART), "--namespace", "ragops-system"]
    if values:
        path = directory / "values.yaml"
        path.write_text(yaml.safe_dump(values))
        args += ["-f", str(path)]
    result = run(args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def helm_template(helm: str, tmp_path: Path, values: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """The documents of `helm_template_text`."""
    return [doc for doc in yaml.safe_load_all(helm_template_text(helm, tmp_path, values)) if doc]


def by_kind(docs: list[dict[str, Any]], kind: str) -> list[dict[str, Any]]:
    return [doc for doc in docs if doc["kind"] == kind]
