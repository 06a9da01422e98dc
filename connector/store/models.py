"""Plain frozen dataclasses the store hands out and accepts; no SQL in here."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, NamedTuple

Outcome = Literal["found", "not_found"]
WorkState = Literal["waiting", "held", "done", "failed"]
RunStatus = Literal[
    "running", "finished", "failed", "held", "awaiting_approval", "approved", "cancelled"
]
AlertLevel = Literal["ok", "warn", "critical"]

WORK_STATES: tuple[str, ...] = ("waiting", "held", "done", "failed")
BATCH_CLOSED_STATUSES: tuple[str, ...] = ("failed", "collected", "cancelled")
# The key space of e-mail lookups: ``LedgerKey(EMAIL, address, EMAIL)`` is reserved, batched and
# waited on like a creator, while its answers live in their own table (``email_lookups``).
EMAIL = "email"


class LedgerKey(NamedTuple):
    """What one paid lookup is for: platform, case-folded handle and enrichment mode."""

    platform: str
    handle_key: str
    mode: str = "full"


def get_email_key(address: str) -> LedgerKey:
    """The key an e-mail lookup is reserved, batched and waited on under."""
    return LedgerKey(EMAIL, address, EMAIL)


def is_email_key(key: LedgerKey) -> bool:
    """Whether ``key`` stands for an e-mail lookup rather than a creator."""
    return key.platform == EMAIL


@dataclass(frozen=True)
class EmailLookup:
    """A stored Enrich by E-mail answer: the creator an address names, or ``not_found``."""

    email: str
    outcome: Outcome
    platform: str | None
    username: str | None
    result: dict[str, Any] | None
    credits_cost: float
    fetched_at: datetime


@dataclass(frozen=True)
class LedgerEntry:
    """A stored API answer for one key."""

    key: LedgerKey
    outcome: Outcome
    profile: dict[str, Any] | None
    credits_cost: float
    fetched_at: datetime
    refresh_requested_at: datetime | None = None


@dataclass(frozen=True)
class NewWork:
    """A source record to park until its ledger key has a fresh entry."""

    source: str
    record_key: str
    identity: str
    key: LedgerKey
    handle_value: str
    location: str = ""
    state: WorkState = "waiting"
    run_id: str | None = None
    batch_ref: str | None = None
    current: dict[str, Any] = field(default_factory=dict)
    email: str | None = None
    fill_handle: bool = False


@dataclass(frozen=True)
class WorkItem:
    """A stored work item."""

    id: int
    source: str
    record_key: str
    identity: str
    key: LedgerKey
    handle_value: str
    location: str
    state: str
    run_id: str | None
    batch_ref: str | None
    error: str | None
    created_at: datetime
    updated_at: datetime
    current: dict[str, Any] = field(default_factory=dict)
    email: str | None = None
    fill_handle: bool = False


@dataclass(frozen=True)
class BatchItem:
    """One handle submitted in a batch."""

    platform: str
    handle_key: str
    handle_value: str


@dataclass(frozen=True)
class Batch:
    """A batch job: ``ref`` is ours (exists from the intent on), ``batch_id`` is the API's."""

    ref: str
    batch_id: str | None
    platform: str
    mode: str
    status: str
    run_id: str | None
    total: int
    processed: int
    success: int
    failed: int
    credits_used: float
    created_at: datetime
    submitted_at: datetime | None
    last_polled_at: datetime | None
    next_poll_at: datetime | None
    finished_at: datetime | None
    collected_at: datetime | None
    error: str | None

    @property
    def progress(self) -> float:
        """Processed share of the total, 0.0 to 1.0."""
        return min(1.0, self.processed / self.total) if self.total else 0.0


@dataclass(frozen=True)
class OutboxWrite:
    """A pending write-back."""

    id: int
    source: str
    record_key: str
    payload: dict[str, Any]
    run_id: str | None
    attempts: int
    last_error: str | None
    created_at: datetime
    next_attempt_at: datetime


@dataclass(frozen=True)
class Run:
    """One pipeline run."""

    run_id: str
    source: str
    started_at: datetime
    finished_at: datetime | None
    dry_run: bool
    status: str
    stats: dict[str, Any] = field(default_factory=dict)
    quote: float | None = None
    hold_reason: str | None = None
    approved_at: datetime | None = None
    error: str | None = None
    credits_spent: float = 0.0
    credits_saved: float = 0.0
    records: int = 0


@dataclass(frozen=True)
class RecordEvent:
    """What happened to one record in one run: where it is, the route, its cost, what was written.

    ``route`` says how the answer was served (``cache``, ``duplicate``, ``single``, ``batch``,
    …; None when no answer was involved, e.g. an invalid handle); ``credits`` is what this
    record's run paid for it (the record that paid for a creator gets the credit, every other
    record served the same answer 0). ``fields`` maps each target written to its value.
    """

    run_id: str | None
    source: str
    status: str
    record_key: str = ""
    identity: str = ""
    location: str = ""
    handle: str = ""
    platform: str | None = None
    route: str | None = None
    credits: float = 0.0
    error: str | None = None
    fields: dict[str, Any] = field(default_factory=dict)
    id: int | None = None
    created_at: datetime | None = None


@dataclass(frozen=True)
class CreditSnapshot:
    """The account balance at one moment."""

    taken_at: datetime
    available: float
    used: float | None


@dataclass(frozen=True)
class AlertState:
    """Where one alert rule stands."""

    rule: str
    state: str
    since: datetime
    last_sent_at: datetime | None
    last_value: float | None


@dataclass(frozen=True)
class Delivery:
    """One attempt to send an alert to a channel."""

    id: int
    sent_at: datetime
    channel: str
    rule: str
    state: str
    payload: dict[str, Any] | None
    ok: bool
    detail: str


@dataclass(frozen=True)
class Media:
    """A rehosted file, named by its content hash."""

    content_hash: str
    ext: str
    content_type: str
    size: int
    created_at: datetime


WorkerState = Literal["running", "stopping", "stopped"]


@dataclass(frozen=True)
class WorkerBeat:
    """The last sign of life of one worker process and the jobs it was running."""

    worker_id: str
    hostname: str
    pid: int
    state: WorkerState
    started_at: datetime
    beat_at: datetime
    running: list[str] = field(default_factory=list)
