"""What the operator knows about its own watch streams: which are live, since when, how often they restarted.

kopf runs one watch stream per watched kind (and namespace). The stream seam (`handlers/streams.py`) reports
every phase here; the health endpoint and the metrics read it. A stream is one of:

  listing   a (re)list is running; its objects are arriving
  live      listed, and watching from the listing's version
  down      the last attempt failed; retrying with backoff
  paused    another replica is active (kopf peering): not watching, by design

Liveness fails only when a stream's attempts have failed for longer than a bound while the API server answers
them (HTTP errors, not lost connections): then the process is deaf for a reason a restart may cure. An API
server that does not answer at all is waited for (a restart would not bring it back).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge

StreamKey = tuple[str, str | None]  # kind, namespace (None: cluster-wide)

LISTING, LIVE, DOWN, PAUSED = "listing", "live", "down", "paused"
DEFAULT_DEAD_AFTER = 120.0  # liveness fails after this long deaf
DEFAULT_DEAF_EXIT_FACTOR = 2  # the process exits after this many times as long


@dataclass
class StreamState:
    phase: str = LISTING
    since: float = 0.0  # when the phase began (monotonic)
    unlive_since: float | None = 0.0  # when it last stopped being live (None while live or paused)
    last_event: float | None = None  # the last event or bookmark (monotonic)
    restarts: int = 0
    last_error: str = ""
    # Since when the failures have been answered by the API server (an HTTP status, not a lost connection):
    # the deafness a fresh process might cure. None while live, paused, or while the server does not answer.
    answered_since: float | None = None


@dataclass
class WatchMonitor:
    """Thread-safe: written from the event loop, read by the health server's thread."""

    registry: CollectorRegistry
    dead_after: float = DEFAULT_DEAD_AFTER
    clock: Callable[[], float] = time.monotonic
    _streams: dict[StreamKey, StreamState] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.restarts = Counter(
            "ragops_watch_restarts_total",
            "Watch streams started again (relisted) after an error, a 410 Gone or a lost connection, by kind",
            ["kind"],
            registry=self.registry,
        )
        self.live = Gauge(
            "ragops_watch_live",
            "1 when every stream of the kind is listed and watching",
            ["kind"],
            registry=self.registry,
        )
        age = Gauge(
            "ragops_watch_last_event_age_seconds",
            "Seconds since the last event or bookmark of the kind's streams",
            ["kind"],
            registry=self.registry,
        )
        self._age = age

    # -- written by the stream seam -------------------------------------------------------------

    def listing(self, kind: str, namespace: str | None) -> None:
        with self._lock:
            state = self._streams.get((kind, namespace))
            if state is None:
                now = self.clock()
                self._streams[(kind, namespace)] = StreamState(LISTING, now, now)
            else:
                if state.phase != PAUSED:
                    state.restarts += 1
                    self.restarts.labels(kind=kind).inc()
                self._enter(state, LISTING)
        self._publish(kind)

    def listed(self, kind: str, namespace: str | None) -> None:
        with self._lock:
            state = self._new(kind, namespace)
            self._enter(state, LIVE)
            state.last_event = self.clock()
            state.last_error = ""
        self._publish(kind)

    def event(self, kind: str, namespace: str | None) -> None:
        state = self._streams.get((kind, namespace))
        if state is not None:
            state.last_event = self.clock()  # a float store: no lock needed for the hot path

    def failed(self, kind: str, namespace: str | None, error: str, *, answered: bool) -> None:
        with self._lock:
            state = self._new(kind, namespace)
            if state.phase != DOWN:
                self._enter(state, DOWN)
            state.last_error = error
            if not answered:
                state.answered_since = None
            elif state.answered_since is None:
                state.answered_since = self.clock()
        self._publish(kind)

    def paused(self, kind: str, namespace: str | None) -> None:
        with self._lock:
            state = self._new(kind, namespace)
            self._enter(state, PAUSED)
        self._publish(kind)

    def stopped(self, kind: str, namespace: str | None) -> None:
        """kopf ended the stream on purpose (the operator stops, a CRD went away): no longer watched."""
        with self._lock:
            self._streams.pop((kind, namespace), None)
        self._publish(kind)

    # -- read by health and metrics -------------------------------------------------------------

    def report(self) -> dict[str, dict[str, object]]:
        """Every stream's phase, for the readiness endpoint and logs."""
        now = self.clock()
        with self._lock:
            return {
                _name(key): {
                    "phase": state.phase,
                    "forSeconds": round(now - state.since, 1),
                    "lastEventSecondsAgo": None if state.last_event is None else round(now - state.last_event, 1),
                    "restarts": state.restarts,
                    **({"lastError": state.last_error} if state.last_error else {}),
                }
                for key, state in sorted(self._streams.items(), key=lambda item: _name(item[0]))
            }

    def all_live(self) -> bool:
        with self._lock:
            return bool(self._streams) and all(s.phase in (LIVE, PAUSED) for s in self._streams.values())

    def deaf(self) -> list[str]:
        """Streams down longer than `dead_after` while the API server answered: what liveness fails on."""
        now = self.clock()
        with self._lock:
            return [
                f"{_name(key)}: not watching for {now - (state.unlive_since or now):.0f}s"
                f" ({state.phase}; {state.last_error or 'no error yet'})"
                for key, state in self._streams.items()
                if state.answered_since is not None and now - state.answered_since > self.dead_after
            ]

    def refresh_ages(self) -> None:
        now = self.clock()
        with self._lock:
            ages: dict[str, float] = {}
            for (kind, _), state in self._streams.items():
                if state.last_event is not None:
                    ages[kind] = max(ages.get(kind, 0.0), now - state.last_event)
        for kind, age in ages.items():
            self._age.labels(kind=kind).set(age)

    # -- internals ------------------------------------------------------------------------------

    def _new(self, kind: str, namespace: str | None) -> StreamState:
        now = self.clock()
        return self._streams.setdefault((kind, namespace), StreamState(LISTING, now, now))

    def _enter(self, state: StreamState, phase: str) -> None:
        if state.phase != phase:
            state.phase = phase
            state.since = self.clock()
        if phase in (LIVE, PAUSED):
            state.unlive_since = None
            state.answered_since = None
        elif state.unlive_since is None:
            state.unlive_since = self.clock()

    def _publish(self, kind: str) -> None:
        with self._lock:
            phases = [s.phase for (k, _), s in self._streams.items() if k == kind]
        self.live.labels(kind=kind).set(1 if phases and all(p in (LIVE, PAUSED) for p in phases) else 0)


def _name(key: StreamKey) -> str:
    kind, namespace = key
    return f"{kind} in {namespace}" if namespace else f"{kind} cluster-wide"
