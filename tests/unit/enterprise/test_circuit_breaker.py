"""The circuit breaker of an ERP connection, driven by a fake clock."""

from __future__ import annotations

from hub.domain.circuit import CircuitBreaker


def _opened(now: float = 0.0) -> CircuitBreaker:
    breaker = CircuitBreaker(threshold=3, cooldown=10.0)
    for _ in range(3):
        assert breaker.allow(now)
        breaker.failed(now)
    return breaker


def test_it_opens_after_threshold_failures_in_a_row() -> None:
    breaker = CircuitBreaker(threshold=3, cooldown=10.0)
    breaker.failed(0.0)
    breaker.failed(0.0)
    breaker.succeeded()  # a success in between starts the count again
    breaker.failed(0.0)
    breaker.failed(0.0)
    assert breaker.state == "closed" and breaker.allow(0.0)
    breaker.failed(0.0)
    assert breaker.state == "open" and not breaker.allow(5.0)
    assert breaker.retry_in(5.0) == 5.0


def test_after_the_cooldown_one_trial_call_goes_through() -> None:
    breaker = _opened()
    assert breaker.allow(10.0)
    assert not breaker.allow(10.0), "only one trial at a time"
    breaker.succeeded()
    assert breaker.state == "closed" and breaker.allow(10.1)


def test_a_failed_trial_opens_it_again_for_a_full_cooldown() -> None:
    breaker = _opened()
    assert breaker.allow(10.0)
    breaker.failed(10.0)
    assert breaker.state == "open" and not breaker.allow(19.0) and breaker.allow(20.0)


def test_retry_after_lengthens_the_cooldown() -> None:
    breaker = CircuitBreaker(threshold=1, cooldown=10.0)
    breaker.failed(0.0, retry_after=60.0)
    assert not breaker.allow(30.0) and breaker.allow(60.0)


def test_an_abandoned_trial_lets_another_try() -> None:
    breaker = _opened()
    assert breaker.allow(10.0)
    breaker.abandoned()
    assert breaker.allow(10.0)
