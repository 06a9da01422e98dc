"""The batch poll cadence as pure code: never under the floor, one poll just after the ETA."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connector.enrich.models import BatchStatus
from connector.pipeline.cadence import (
    BATCH_POLL_CEILING,
    ETA_MARGIN,
    estimate_remaining,
    parse_api_time,
    plan_next_poll,
    plan_poll_delay,
)

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
floors = st.floats(min_value=0.1, max_value=120.0)
remainings = st.one_of(st.none(), st.floats(min_value=-1e5, max_value=1e6))


def status(**fields: object) -> BatchStatus:
    values: dict[str, object] = {"batch_id": "bch_1", "status": "processing", "total_rows": 100}
    values.update(fields)
    return BatchStatus(**values)  # type: ignore[arg-type]


def stamp(seconds: float) -> str:
    return (NOW + timedelta(seconds=seconds)).isoformat().replace("+00:00", "Z")


@given(remaining=remainings, floor=floors)
def test_the_delay_is_never_under_the_floor_nor_over_the_ceiling(
    remaining: float | None, floor: float
) -> None:
    delay = plan_poll_delay(remaining, floor)
    assert floor <= delay <= max(floor, BATCH_POLL_CEILING)


# Quarters of a second: sums and halves of them are exact floats, so the simulated clock below
# adds up without rounding.
finishes = st.integers(min_value=0, max_value=4 * 36_000).map(lambda n: n / 4)
quarter_floors = st.integers(min_value=1, max_value=4 * 120).map(lambda n: n / 4)


@given(finish=finishes, floor=quarter_floors)
def test_an_accurate_eta_is_met_by_one_poll_within_the_margin_or_the_floor(
    finish: float, floor: float
) -> None:
    """Polling from submission with an exact ETA: the first poll at or after the finish comes
    ``ETA_MARGIN`` after it (within a floor, when the batch finishes before the second poll),
    every gap respects the floor, and far-off batches cost a logarithmic number of polls."""
    elapsed, polls = floor, 1  # the first poll comes one floor after the upload
    while elapsed < finish:
        delay = plan_poll_delay(finish - elapsed, floor)
        assert delay >= floor
        elapsed += delay
        polls += 1
    late = elapsed - finish
    if finish >= 2 * floor:
        assert late == pytest.approx(ETA_MARGIN, abs=1e-6)
    else:
        assert late <= floor
    ceiling = max(floor, BATCH_POLL_CEILING)
    assert polls <= 3 + math.log2(max(1.0, finish / floor)) + finish / ceiling


@given(remaining=st.floats(min_value=0.0, max_value=1e5), floor=floors)
def test_a_poll_far_from_the_eta_leaves_room_for_one_landing_on_it(
    remaining: float, floor: float
) -> None:
    delay = plan_poll_delay(remaining, floor)
    if remaining >= 2 * floor:
        assert remaining - delay >= floor


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"estimated_completion": stamp(90)}, 90.0),
        ({"estimated_completion": stamp(-5)}, -5.0),
        ({"status": "queued", "estimated_completion": stamp(40)}, 40.0),
        # No ETA: 25 of 100 rows in 50 s, so 75 rows take 150 s more.
        ({"started_at": stamp(-50), "processed_rows": 25}, 150.0),
        ({"estimated_completion": "soon", "started_at": stamp(-50), "processed_rows": 25}, 150.0),
        ({"started_at": stamp(-50), "processed_rows": 0}, None),
        ({"processed_rows": 25}, None),
        ({"status": "paused_insufficient_credits", "estimated_completion": stamp(90)}, None),
        ({"status": "finished", "estimated_completion": stamp(90)}, None),
    ],
)
def test_the_remaining_time_comes_from_the_eta_else_from_progress(
    fields: dict[str, object], expected: float | None
) -> None:
    remaining = estimate_remaining(status(**fields), NOW)
    assert remaining == (None if expected is None else pytest.approx(expected))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-12-05T12:00:30Z", NOW + timedelta(seconds=30)),
        ("2026-12-05T13:00:30+01:00", NOW + timedelta(seconds=30)),
        ("2026-12-05T12:00:30", NOW + timedelta(seconds=30)),
        ("2026-12-05T12:00:30.250000Z", NOW + timedelta(seconds=30.25)),
        ("next tuesday", None),
        ("", None),
        (None, None),
    ],
)
def test_api_times_are_read_as_utc(text: str | None, expected: datetime | None) -> None:
    assert parse_api_time(text) == expected


@pytest.mark.parametrize(
    ("fields", "floor", "after"),
    [
        ({"estimated_completion": stamp(600)}, 30.0, 300.0),
        ({"estimated_completion": stamp(100)}, 30.0, 50.0),
        ({"estimated_completion": stamp(45)}, 30.0, 45.0 + ETA_MARGIN),
        ({"estimated_completion": stamp(10)}, 30.0, 30.0),
        ({"estimated_completion": stamp(7200)}, 30.0, BATCH_POLL_CEILING),
        ({"status": "paused_insufficient_credits"}, 30.0, 30.0),
        ({}, 45.0, 45.0),
    ],
)
def test_the_next_poll_follows_the_eta(
    fields: dict[str, object], floor: float, after: float
) -> None:
    assert plan_next_poll(status(**fields), NOW, floor) == NOW + timedelta(seconds=after)
