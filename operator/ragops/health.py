"""The operator's health endpoints, served from their own thread so that a stuck event loop is seen, not hidden.

  /healthz   liveness: 500 when the event loop has not ticked for `loop_stuck_after` seconds, or a watch stream
             has been dead while the API server answers (WatchMonitor.deaf); 200 otherwise
  /readyz    readiness: 200 once the startup listing is done and every stream is live (or paused: another
             replica is active); 503 otherwise. Both bodies say which streams are in which phase.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from ragops.reconcile.watches import WatchMonitor

log = logging.getLogger(__name__)

LOOP_STUCK_AFTER = 30.0


@dataclass
class Health:
    watches: WatchMonitor
    started: Callable[[], bool]  # the startup listing is done
    heartbeat: Callable[[], float]  # the event loop's last tick (time.monotonic)
    loop_stuck_after: float = LOOP_STUCK_AFTER
    clock: Callable[[], float] = time.monotonic

    def problems(self) -> list[str]:
        stuck = self.clock() - self.heartbeat()
        found = [f"the event loop has not run for {stuck:.0f}s"] if stuck > self.loop_stuck_after else []
        return found + self.watches.deaf()

    def liveness(self) -> tuple[int, dict[str, Any]]:
        problems = self.problems()
        body = {"status": "failing" if problems else "ok", "problems": problems, "watches": self.watches.report()}
        return (500 if problems else 200), body

    def readiness(self) -> tuple[int, dict[str, Any]]:
        ready = self.started() and self.watches.all_live()
        return (200 if ready else 503), {"ready": ready, "watches": self.watches.report()}


def serve(health: Health, port: int, host: str = "0.0.0.0") -> ThreadingHTTPServer:
    """Start the endpoints on a daemon thread; returns the server (tests shut it down)."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            routes = {"/healthz": health.liveness, "/readyz": health.readiness}
            route = routes.get(self.path.split("?")[0])
            if route is None:
                self.send_error(404)
                return
            status, body = route()
            payload = json.dumps(body).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, format: str, *args: Any) -> None:  # probes every few seconds: not worth a line
            return

    server = ThreadingHTTPServer((host, port), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="health", daemon=True).start()
    return server
