"""Retry timing and the circuit breaker, from `spec.resilience`. No I/O here: the clock and randomness are
injected so the behaviour is exact under test."""

from __future__ import annotations

import email.utils
import math
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import IntEnum

from ragops.models.ragpipeline import ResilienceSpec


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait between attempts of one provider call."""

    retries: int
    base_seconds: float
    max_seconds: float
    timeout_seconds: float

    @classmethod
    def from_spec(cls, spec: ResilienceSpec) -> RetryPolicy:
        return cls(
            retries=spec.retries,
            base_seconds=spec.backoff_base_ms / 1000,
            max_seconds=spec.backoff_max_ms / 1000,
            timeout_seconds=float(spec.timeout_seconds),
        )

    def backoff(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Delay before retry number `attempt` (0-based): exponential, capped, with "equal jitter".

        Half the capped delay is fixed and half random: jitter spreads the retries of many pods hitting
        the same provider, and the fixed half keeps a retry from firing immediately into the same overload.
        """
        capped = min(self.max_seconds, self.base_seconds * 2.0**attempt)
        return capped / 2 + rand() * capped / 2

    def delay(self, attempt: int, retry_after: float | None, rand: Callable[[], float] = random.random) -> float | None:
        """Seconds to wait before the next attempt, or None when the caller should give up now.

        A provider's Retry-After is honoured as a lower bound. When it asks for longer than one call's timeout,
        waiting would hold the client longer than any single call may take: give up and pass the hint on.
        """
        wait = self.backoff(attempt, rand)
        if retry_after is not None:
            if retry_after > self.timeout_seconds:
                return None
            wait = max(wait, retry_after)
        return wait


def parse_retry_after(value: str | None, now: Callable[[], datetime] = lambda: datetime.now(UTC)) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date (RFC 9110). None when absent/garbled."""
    if not value:
        return None
    value = value.strip()
    try:
        seconds = float(value)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        if when.tzinfo is None:
            when = when.replace(tzinfo=UTC)
        seconds = (when - now()).total_seconds()
    if math.isnan(seconds) or math.isinf(seconds):
        return None
    return max(0.0, seconds)


class CircuitState(IntEnum):
    """Exported as the value of the circuit-state gauge, hence the explicit numbers."""

    CLOSED = 0
    HALF_OPEN = 1
    OPEN = 2


class CircuitOpenError(Exception):
    """The breaker refused a call; `retry_after` is when it will let a trial call through."""

    def __init__(self, retry_after: float) -> None:
        self.retry_after = retry_after
        super().__init__(f"circuit open, next trial in {retry_after:.1f}s")


@dataclass
class CircuitBreaker:
    """Opens after `failure_threshold` consecutive failed calls; after `recovery_seconds` lets one trial call
    through (half-open): its success closes the circuit, its failure opens it again for another period.

    One breaker per provider per pod. Not thread-safe: it lives on one event loop.
    """

    failure_threshold: int
    recovery_seconds: float
    clock: Callable[[], float] = time.monotonic
    state: CircuitState = CircuitState.CLOSED
    failures: int = 0
    opened_at: float = 0.0
    _trial_running: bool = field(default=False, repr=False)

    def acquire(self) -> bool:
        """Admit a call or raise CircuitOpenError. Returns True when the call is the half-open trial."""
        if self.state is CircuitState.OPEN:
            remaining = self.opened_at + self.recovery_seconds - self.clock()
            if remaining > 0:
                raise CircuitOpenError(remaining)
            self.state = CircuitState.HALF_OPEN
        if self.state is CircuitState.HALF_OPEN:
            # Only one trial at a time: a recovering provider should not get the whole backlog at once.
            if self._trial_running:
                raise CircuitOpenError(self.recovery_seconds)
            self._trial_running = True
            return True
        return False

    def record_success(self) -> None:
        self.failures = 0
        self._trial_running = False
        self.state = CircuitState.CLOSED

    def record_failure(self) -> None:
        self._trial_running = False
        self.failures += 1
        if self.state is CircuitState.HALF_OPEN or self.failures >= self.failure_threshold:
            self.opened_at = self.clock()
            self.state = CircuitState.OPEN

    def release(self) -> None:
        """The admitted call ended without a verdict (e.g. cancelled by the client): free the trial slot."""
        self._trial_running = False

    def retry_after(self) -> float:
        """Seconds until a trial call would be admitted (0 when calls pass)."""
        if self.state is not CircuitState.OPEN:
            return 0.0
        return max(0.0, self.opened_at + self.recovery_seconds - self.clock())

    def current(self) -> CircuitState:
        """The state a call arriving now would see (an expired open period reads as half-open).

        What the metrics export: `state` itself only moves on a call, and an idle pod's gauge should not
        report "open" long after the recovery period is over.
        """
        if self.state is CircuitState.OPEN and self.retry_after() == 0:
            return CircuitState.HALF_OPEN
        return self.state
