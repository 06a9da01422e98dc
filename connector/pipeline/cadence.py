"""Batch poll cadence: when to ask for a batch's status next, from its progress and ETA.

The API has no webhook for batches, so the moment a batch finishes is learnt by polling its
status (free, but the API asks for 30 to 60 s between polls). ``floor`` (``batch_poll_seconds``)
is the shortest gap between two polls of one batch. A batch expected to finish soon is polled
once, right after its expected finish; one far from it is polled halfway there (the estimate
gets better as rows are processed), at most ``BATCH_POLL_CEILING`` apart. Without an estimate
(no ETA and no progress yet, a paused batch, an ETA already past) the cadence is the floor.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from connector.enrich.models import BatchStatus

# The longest gap between two polls of a running batch: an estimate that far out is coarse.
BATCH_POLL_CEILING = 300.0
# Polled this long after the expected finish, so that the last rows have landed.
ETA_MARGIN = 1.0


def parse_api_time(text: str | None) -> datetime | None:
    """An ISO 8601 time of the API (``…Z``; naive means UTC), or None when absent or garbled."""
    if not text:
        return None
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def estimate_remaining(status: BatchStatus, now: datetime) -> float | None:
    """Seconds until the batch should finish, or None when nothing tells.

    The API's ``estimated_completion`` first; else the rows per second since ``started_at``
    extrapolated to the rows left. Both are the API's clock, so a skew shifts the estimate.
    """
    if status.status not in ("queued", "validating", "processing", "submitted"):
        return None
    eta = parse_api_time(status.estimated_completion)
    if eta is not None:
        return (eta - now).total_seconds()
    started = parse_api_time(status.started_at)
    left = status.total_rows - status.processed_rows
    if started is None or status.processed_rows <= 0 or left < 0:
        return None
    elapsed = (now - started).total_seconds()
    if elapsed <= 0:
        return None
    return left * elapsed / status.processed_rows


def plan_poll_delay(remaining: float | None, floor: float) -> float:
    """Seconds until the next poll of a batch expected to finish in ``remaining`` seconds.

    Never under ``floor``; never over ``BATCH_POLL_CEILING`` (or the floor, when larger).
    """
    ceiling = max(floor, BATCH_POLL_CEILING)
    if remaining is None or remaining < floor:
        return floor
    if remaining < 2 * floor:
        # No room for a poll in between: the next one lands just after the expected finish.
        return min(ceiling, remaining + ETA_MARGIN)
    return min(ceiling, remaining / 2)


def plan_next_poll(status: BatchStatus, now: datetime, floor: float) -> datetime:
    """When to poll the batch whose status ``now`` is ``status`` again."""
    delay = plan_poll_delay(estimate_remaining(status, now), floor)
    return now + timedelta(seconds=delay)
