"""Retry timing and the circuit breaker, on their own (the end-to-end behaviour is in test_providers.py)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from ragops.gateway.resilience import CircuitBreaker, CircuitOpenError, CircuitState, RetryPolicy, parse_retry_after
from tests.gateway.fakes import FakeClock

POLICY = RetryPolicy(retries=5, base_seconds=0.1, max_seconds=1.0, timeout_seconds=10.0)


@pytest.mark.parametrize(("attempt", "cap"), [(0, 0.1), (1, 0.2), (2, 0.4), (3, 0.8), (4, 1.0), (9, 1.0)])
def test_backoff_is_exponential_capped_and_jittered(attempt: int, cap: float) -> None:
    assert POLICY.backoff(attempt, rand=lambda: 0.0) == pytest.approx(cap / 2)
    assert POLICY.backoff(attempt, rand=lambda: 1.0) == pytest.approx(cap)


def test_retry_after_is_a_lower_bound_up_to_the_call_timeout() -> None:
    assert POLICY.delay(0, 3.0, rand=lambda: 0.5) == 3.0
    assert POLICY.delay(3, 0.1, rand=lambda: 1.0) == pytest.approx(0.8)  # backoff already longer
    assert POLICY.delay(0, 11.0) is None  # longer than a call may take: give up, pass the hint on


def test_parse_retry_after() -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("1.5") == 1.5
    assert parse_retry_after("Wed, 01 Jan 2025 12:00:30 GMT", now=lambda: now) == 30.0
    assert parse_retry_after("Wed, 01 Jan 2025 11:00:00 GMT", now=lambda: now) == 0.0
    assert parse_retry_after("-3") == 0.0
    for garbage in (None, "", "soon", "nan", "inf"):
        assert parse_retry_after(garbage) is None


def test_breaker_opens_after_consecutive_failures_and_half_opens_after_recovery() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=3, recovery_seconds=30, clock=clock)
    for _ in range(2):
        assert breaker.acquire() is False
        breaker.record_failure()
    breaker.acquire()
    breaker.record_success()  # a success in between: failures are no longer consecutive
    for _ in range(3):
        breaker.acquire()
        breaker.record_failure()
    assert breaker.state is CircuitState.OPEN
    clock.advance(10)
    with pytest.raises(CircuitOpenError) as refused:
        breaker.acquire()
    assert refused.value.retry_after == pytest.approx(20)
    clock.advance(20)
    assert breaker.current() is CircuitState.HALF_OPEN
    assert breaker.acquire() is True  # the trial call
    with pytest.raises(CircuitOpenError):
        breaker.acquire()  # only one trial at a time
    breaker.record_failure()
    assert breaker.state is CircuitState.OPEN  # a failed trial reopens at once
    clock.advance(30)
    assert breaker.acquire() is True
    breaker.record_success()
    assert breaker.state is CircuitState.CLOSED
    assert breaker.acquire() is False


def test_cancelled_trial_frees_the_slot() -> None:
    clock = FakeClock()
    breaker = CircuitBreaker(failure_threshold=1, recovery_seconds=5, clock=clock)
    breaker.acquire()
    breaker.record_failure()
    clock.advance(5)
    assert breaker.acquire() is True
    breaker.release()
    assert breaker.acquire() is True
