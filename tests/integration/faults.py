"""Faults injected into the local control plane: the whole of it away, or only the API server restarted.

kwokctl runs each component as a host process with a pid file under its cluster directory; `kwokctl start
cluster` starts whichever is not running and waits until the API server serves again."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from tests.integration.cluster import REPO, kubectl_binary


def _cache_root() -> Path:
    """Where hack/cluster.sh keeps kwokctl's clusters (the same rule as its `cache_root`)."""
    explicit = os.environ.get("RAGOPS_CACHE")
    return Path(explicit) if explicit else Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "ragops"


@dataclass
class ControlPlane:
    name: str

    @property
    def workdir(self) -> Path:
        return _cache_root() / "kwok"

    def stop(self) -> None:
        """etcd, the API server, controller-manager, scheduler and kwok all stop (operators keep running)."""
        self._kwokctl("stop", "cluster", "--name", self.name)

    def start(self) -> float:
        """Start what is not running; returns the seconds until the API server is ready again (all its
        paths installed: kwokctl only waits for /version)."""
        started = time.monotonic()
        self._kwokctl("start", "cluster", "--name", self.name)
        kubeconfig = self.workdir / "clusters" / self.name / "kubeconfig.yaml"
        deadline = time.monotonic() + 120
        while subprocess.run([kubectl_binary(), "--kubeconfig", str(kubeconfig), "get", "--raw", "/readyz"],
                             capture_output=True).returncode != 0:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the API server of {self.name} is not ready 120 s after starting")
            time.sleep(0.5)
        return time.monotonic() - started

    def restart_api_server(self) -> float:
        """SIGKILL the API server alone (etcd keeps its data and revisions), then start it again."""
        pid_file = self.workdir / "clusters" / self.name / "pids" / "kube-apiserver.pid"
        pid = int(pid_file.read_text().strip())
        os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and Path(f"/proc/{pid}").exists():
            time.sleep(0.1)
        return self.start()

    def _kwokctl(self, *args: str) -> None:
        bin_dir = Path(kubectl_binary()).parent
        env = {**os.environ, "KWOK_WORKDIR": str(self.workdir), "PATH": f"{bin_dir}:{os.environ['PATH']}"}
        result = subprocess.run([str(bin_dir / "kwokctl"), *args], capture_output=True, text=True, env=env, cwd=REPO)
        if result.returncode != 0:
            raise RuntimeError(f"kwokctl {' '.join(args)} failed: {result.stderr[-2000:]}")
