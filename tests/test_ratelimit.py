"""Tests for connector.ratelimit.RateBudget: pacing windows in memory, and the cap over them."""

from __future__ import annotations

import uuid

import pytest

from connector.errors import ConfigError
from connector.ratelimit import RateBudget, build_storage


def make_budget(limit: int, per_seconds: float, cap: tuple[int, float] | None = None) -> RateBudget:
    return RateBudget(
        build_storage("memory://"),
        limit=limit,
        per_seconds=per_seconds,
        key=f"test:{uuid.uuid4().hex}",
        cap=cap,
    )


def test_slots_stop_at_the_pacing_limit_and_say_when_one_frees() -> None:
    budget = make_budget(3, 1)
    assert [budget.try_acquire() for _ in range(4)] == [True, True, True, False]
    assert 0 < budget.wait_time() <= 1


def test_the_cap_stops_slots_the_pacing_window_would_allow() -> None:
    budget = make_budget(10, 1, cap=(4, 60))
    assert [budget.try_acquire() for _ in range(6)] == [True] * 4 + [False] * 2
    # The pacing window has room; the cap's minute decides how long to wait.
    assert 58 < budget.wait_time() <= 60


def test_without_a_cap_the_wait_is_the_pacing_windows() -> None:
    budget = make_budget(2, 1)
    assert budget.wait_time() == 0.0
    budget.try_acquire()
    budget.try_acquire()
    assert budget.wait_time() <= 1


def test_an_unknown_storage_is_a_configuration_error() -> None:
    with pytest.raises(ConfigError, match="rate_limit_storage"):
        build_storage("nosuch://here")
