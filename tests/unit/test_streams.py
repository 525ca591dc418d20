"""The watch-stream seam, the monitor behind /healthz and /readyz, and the endpoints themselves."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import AsyncIterator
from typing import Any

import pytest
from kopf._cogs.clients import errors as kopf_errors
from kopf._cogs.clients import watching as kopf_watching
from kopf._core.reactor import queueing
from prometheus_client import CollectorRegistry

from ragops.handlers import streams
from ragops.health import Health, serve
from ragops.reconcile.watches import WatchMonitor


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Hooks:
    """Records what the seam reports, as the runtime would receive it."""

    def __init__(self, monitor: WatchMonitor) -> None:
        self.watches = monitor
        self.listings: list[tuple[str, set[tuple[str, str]]]] = []

    def relist_started(self, kind: str, namespace: str | None) -> int:
        return len(self.listings)

    def relisted(self, kind: str, namespace: str | None, present: set[tuple[str, str]], mark: int) -> None:
        self.listings.append((kind, present))


class Resource:
    kind = "ConfigMap"


class Settings:
    pass


def server_error() -> kopf_errors.APIServerError:
    return kopf_errors.APIServerError({"message": "etcdserver: request timed out"}, status=500, headers={})


def listed(*names: str) -> list[Any]:
    return [{"type": None, "object": {"metadata": {"namespace": "a", "name": n}}} for n in names] + [
        kopf_watching.Bookmark.LISTED
    ]


def test_kopf_still_starts_its_streams_through_the_function_the_seam_replaces() -> None:
    streams.install()
    assert kopf_watching.infinite_watch is streams.resilient_watch
    # queueing.watcher calls `watching.infinite_watch(...)` through the module: the replacement is used.
    assert queueing.watching is kopf_watching


async def test_a_stream_survives_escalated_errors_and_every_listing_replaces_what_was_cached(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    rounds: list[list[Any] | Exception] = [server_error(), listed("x", "y"), server_error(), listed("y")]

    async def kopf_round(**_: Any) -> AsyncIterator[Any]:
        item = rounds.pop(0)
        if isinstance(item, Exception):
            raise item
        for event in item:
            yield event

    monkeypatch.setattr(streams, "_original_infinite_watch", kopf_round)
    monkeypatch.setattr(streams, "BACKOFF_BASE", 0.001)
    monitor = WatchMonitor(CollectorRegistry())
    hooks = Hooks(monitor)
    settings = Settings()
    streams.attach(settings, hooks)

    events = [
        e
        async for e in streams.resilient_watch(
            settings=settings, resource=Resource(), namespace=None, _iterations=4
        )
    ]

    assert hooks.listings == [("ConfigMap", {("a", "x"), ("a", "y")}), ("ConfigMap", {("a", "y")})]
    assert sum(1 for e in events if e is kopf_watching.Bookmark.LISTED) == 2
    restarts = [s.value for m in monitor.restarts.collect() for s in m.samples if s.name.endswith("_total")]
    assert restarts == [3.0]


def test_liveness_fails_only_when_a_stream_is_dead_past_the_bound_while_the_api_server_answers() -> None:
    clock = Clock()
    monitor = WatchMonitor(CollectorRegistry(), dead_after=120, clock=clock)
    monitor.listing("ConfigMap", None)
    monitor.listed("ConfigMap", None)
    monitor.failed("ConfigMap", None, "connection refused", answered=False)
    clock.now += 600  # the API server is away: a restart would not help
    assert monitor.deaf() == []

    monitor.listing("ConfigMap", None)
    monitor.failed("ConfigMap", None, "HTTP 500", answered=True)  # back, but not serving yet
    clock.now += 60
    assert monitor.deaf() == []  # the bound counts from the first answer, not from the outage's start

    monitor.listed("ConfigMap", None)
    assert monitor.deaf() == []
    monitor.failed("ConfigMap", None, "HTTP 500", answered=True)
    clock.now += 119
    assert monitor.deaf() == []
    clock.now += 2
    assert monitor.deaf() and "ConfigMap cluster-wide" in monitor.deaf()[0]


def test_a_paused_replica_is_alive_and_ready() -> None:
    clock = Clock()
    monitor = WatchMonitor(CollectorRegistry(), dead_after=10, clock=clock)
    monitor.paused("VectorStore", None)
    clock.now += 3600
    health = Health(monitor, started=lambda: True, heartbeat=clock, clock=clock)
    assert health.liveness()[0] == 200
    assert health.readiness()[0] == 200


@pytest.fixture
def endpoints() -> Any:
    clock = Clock()
    monitor = WatchMonitor(CollectorRegistry(), dead_after=10, clock=clock)
    beat = {"at": clock.now}
    health = Health(monitor, started=lambda: True, heartbeat=lambda: beat["at"], clock=clock)
    server = serve(health, 0, host="127.0.0.1")
    yield f"http://127.0.0.1:{server.server_address[1]}", monitor, clock, beat
    server.shutdown()


def get(url: str) -> tuple[int, dict[str, Any]]:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_endpoints_say_which_stream_is_not_watching_and_see_a_stuck_event_loop(endpoints: Any) -> None:
    url, monitor, clock, beat = endpoints
    monitor.listing("RagPipeline", None)
    assert get(url + "/readyz")[0] == 503  # still listing
    monitor.listed("RagPipeline", None)
    assert get(url + "/readyz") == (200, {"ready": True, "watches": monitor.report()})
    assert get(url + "/healthz")[0] == 200

    monitor.failed("RagPipeline", None, "HTTP 503", answered=True)
    clock.now += 11
    beat["at"] = clock.now
    status, body = get(url + "/healthz")
    assert status == 500
    assert "RagPipeline cluster-wide: not watching for 11s" in body["problems"][0]
    assert body["watches"]["RagPipeline cluster-wide"]["phase"] == "down"

    monitor.listed("RagPipeline", None)
    clock.now += 31  # the loop stopped ticking
    status, body = get(url + "/healthz")
    assert status == 500 and body["problems"] == ["the event loop has not run for 31s"]
