"""Tests for connector.enrich.inflight.CallGate: places on the wire, waiting callers, latency."""

from __future__ import annotations

import threading
import time
import uuid
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.enrich.inflight import MIN_READY, REPEAT_YIELD_MAX, CallGate
from connector.ratelimit import RateBudget, build_storage


def make_budget(rate: float) -> RateBudget:
    """An in-memory budget of ``rate`` requests per second."""
    fraction = Fraction(rate).limit_denominator(100)
    return RateBudget(
        build_storage("memory://"),
        limit=fraction.numerator,
        per_seconds=fraction.denominator,
        key=f"test:{uuid.uuid4().hex}",
    )


class StepClock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("rate", "wanted"),
    [(0.5, MIN_READY), (5.0, 5), (10.0, 10), (100.0, 100)],
)
def test_ready_callers_cover_a_second_of_the_budget(rate: float, wanted: int) -> None:
    assert CallGate(256, make_budget(rate)).ready_wanted == wanted


def test_places_on_the_wire_never_exceed_the_ceiling() -> None:
    gate = CallGate(3, make_budget(100.0))
    barrier = threading.Barrier(10)

    def call() -> None:
        barrier.wait()
        with gate.sending():
            time.sleep(0.02)

    threads = [threading.Thread(target=call) for _ in range(10)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    stats = gate.get_stats()
    assert stats.peak_on_wire == 3
    assert stats.on_wire == 0
    assert stats.sent == 10


def test_a_repeat_yields_to_first_attempts_but_not_forever() -> None:
    gate = CallGate(8, make_budget(5.0))
    assert not gate.should_yield(0.0)
    with gate.waiting(repeat=False):
        assert gate.waiting_first == 1
        assert gate.should_yield(0.0)
        assert gate.should_yield(REPEAT_YIELD_MAX - 1)
        assert not gate.should_yield(REPEAT_YIELD_MAX)
    assert gate.waiting_first == 0


def test_repeats_waiting_do_not_count_as_ready_first_attempts() -> None:
    gate = CallGate(8, make_budget(5.0))
    with gate.waiting(repeat=True):
        stats = gate.get_stats()
        assert (stats.waiting_first, stats.waiting_repeat) == (0, 1)
        assert not gate.should_yield(0.0)


def test_a_caller_that_fails_leaves_no_count_behind() -> None:
    gate = CallGate(2, make_budget(5.0))
    with pytest.raises(RuntimeError), gate.waiting(repeat=False), gate.sending():
        raise RuntimeError("boom")
    stats = gate.get_stats()
    assert (stats.on_wire, stats.waiting_first) == (0, 0)


@given(st.lists(st.floats(min_value=0.0, max_value=120.0), min_size=1, max_size=50))
def test_the_latency_seen_stays_within_the_answers_seen(latencies: list[float]) -> None:
    clock = StepClock()
    gate = CallGate(4, make_budget(5.0), clock=clock)
    for latency in latencies:
        with gate.sending():
            clock.now += latency
    seen = gate.get_stats().latency_seconds
    assert seen is not None
    assert min(latencies) - 1e-9 <= seen <= max(latencies) + 1e-9


def test_a_ceiling_below_one_is_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        CallGate(0, make_budget(5.0))
