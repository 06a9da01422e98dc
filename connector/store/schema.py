"""The store's tables as SQLAlchemy Core metadata, using only portable column types."""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Dialect


class UTCDateTime(sa.TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores naive UTC text)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: pass a timezone-aware value")
        value = value.astimezone(UTC)
        # SQLite compares timestamps as text, so every value must be stored in one form.
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _json() -> sa.JSON:
    return sa.JSON(none_as_null=True)


metadata = sa.MetaData()
C = sa.Column
Str = sa.String

ledger = sa.Table(
    "ledger",
    metadata,
    C("platform", Str(32), primary_key=True),
    C("handle_key", Str(255), primary_key=True),
    C("mode", Str(32), primary_key=True),
    C("outcome", Str(16), nullable=False),
    C("profile", _json()),
    C("credits_cost", sa.Float, nullable=False, default=0.0),
    C("fetched_at", UTCDateTime, nullable=False),
    # Set when a human asked to pay again for this creator (re-enrich): the entry is no longer
    # fresh; the next saved answer clears it.
    C("refresh_requested_at", UTCDateTime),
)

# One answer of Enrich by E-mail per address: the creator it names (platform + username) or
# not_found. Reservations of lookups live in ``reservations`` under the key (email, address,
# email), so every in-flight and crash rule of creators applies to them unchanged.
email_lookups = sa.Table(
    "email_lookups",
    metadata,
    C("email", Str(320), primary_key=True),
    C("outcome", Str(16), nullable=False),
    C("platform", Str(32)),
    C("username", Str(255)),
    C("result", _json()),
    C("credits_cost", sa.Float, nullable=False, default=0.0),
    C("fetched_at", UTCDateTime, nullable=False),
)

reservations = sa.Table(
    "reservations",
    metadata,
    C("platform", Str(32), primary_key=True),
    C("handle_key", Str(255), primary_key=True),
    C("mode", Str(32), primary_key=True),
    C("owner", Str(255), nullable=False),
    C("expires_at", UTCDateTime, nullable=False),
    # Set just before a paid request leaves: after a crash it means "may have been billed".
    C("call_started_at", UTCDateTime),
)

work_items = sa.Table(
    "work_items",
    metadata,
    C("id", sa.Integer, primary_key=True, autoincrement=True),
    C("source", Str(64), nullable=False),
    C("record_key", Str(255), nullable=False),
    C("identity", Str(255), nullable=False),
    C("platform", Str(32), nullable=False),
    C("handle_key", Str(255), nullable=False),
    C("mode", Str(32), nullable=False),
    C("handle_value", Str(255), nullable=False),
    C("location", sa.Text, nullable=False, default=""),
    # The record's normalised e-mail when it is identified by e-mail; ``fill_handle`` says its
    # handle was empty, so the handle and platform found are written back.
    C("email", Str(320)),
    C("fill_handle", sa.Boolean, nullable=False, default=False, server_default=sa.false()),
    C("current", _json()),
    C("state", Str(16), nullable=False),
    C("run_id", Str(64)),
    C("batch_ref", Str(64)),
    C("error", sa.Text),
    C("claim_owner", Str(255)),
    C("claim_expires_at", UTCDateTime),
    C("created_at", UTCDateTime, nullable=False),
    C("updated_at", UTCDateTime, nullable=False),
    sa.UniqueConstraint("source", "record_key", name="uq_work_items_source_record"),
    sa.Index("ix_work_items_key", "platform", "handle_key", "mode"),
    sa.Index("ix_work_items_state", "state", "source"),
)

record_claims = sa.Table(
    "record_claims",
    metadata,
    C("source", Str(64), primary_key=True),
    C("record_key", Str(255), primary_key=True),
    C("owner", Str(255), nullable=False),
    C("expires_at", UTCDateTime, nullable=False),
)

batches = sa.Table(
    "batches",
    metadata,
    C("ref", Str(64), primary_key=True),
    C("batch_id", Str(255), unique=True),
    C("platform", Str(32), nullable=False),
    C("mode", Str(32), nullable=False),
    C("status", Str(32), nullable=False),
    C("run_id", Str(64)),
    C("total", sa.Integer, nullable=False, default=0),
    C("processed", sa.Integer, nullable=False, default=0),
    C("success", sa.Integer, nullable=False, default=0),
    C("failed", sa.Integer, nullable=False, default=0),
    C("credits_used", sa.Float, nullable=False, default=0.0),
    C("created_at", UTCDateTime, nullable=False),
    C("submitted_at", UTCDateTime),
    C("last_polled_at", UTCDateTime),
    C("next_poll_at", UTCDateTime),
    C("finished_at", UTCDateTime),
    C("collected_at", UTCDateTime),
    C("error", sa.Text),
    sa.Index("ix_batches_status", "status"),
)

batch_items = sa.Table(
    "batch_items",
    metadata,
    C("batch_ref", Str(64), sa.ForeignKey("batches.ref", ondelete="CASCADE"), primary_key=True),
    C("platform", Str(32), primary_key=True),
    C("handle_key", Str(255), primary_key=True),
    C("handle_value", Str(255), nullable=False),
    sa.Index("ix_batch_items_key", "platform", "handle_key"),
)

outbox = sa.Table(
    "outbox",
    metadata,
    C("id", sa.Integer, primary_key=True, autoincrement=True),
    C("source", Str(64), nullable=False),
    C("record_key", Str(255), nullable=False),
    C("payload", _json(), nullable=False),
    C("run_id", Str(64)),
    C("attempts", sa.Integer, nullable=False, default=0),
    C("last_error", sa.Text),
    C("created_at", UTCDateTime, nullable=False),
    C("next_attempt_at", UTCDateTime, nullable=False),
    sa.Index("ix_outbox_due", "next_attempt_at"),
)

runs = sa.Table(
    "runs",
    metadata,
    C("run_id", Str(64), primary_key=True),
    C("source", Str(64), nullable=False),
    C("started_at", UTCDateTime, nullable=False),
    C("finished_at", UTCDateTime),
    C("dry_run", sa.Boolean, nullable=False, default=False),
    C("status", Str(32), nullable=False),
    C("stats", _json()),
    C("quote", sa.Float),
    C("hold_reason", sa.Text),
    C("approved_at", UTCDateTime),
    C("error", sa.Text),
    C("credits_spent", sa.Float, nullable=False, default=0.0),
    C("credits_saved", sa.Float, nullable=False, default=0.0),
    # Records the run fetched (from its stats): idle polls have none and leave listings.
    C("records", sa.Integer, nullable=False, default=0, server_default="0"),
    sa.Index("ix_runs_started", "started_at"),
    sa.Index("ix_runs_status", "status"),
)

credit_snapshots = sa.Table(
    "credit_snapshots",
    metadata,
    C("id", sa.Integer, primary_key=True, autoincrement=True),
    C("taken_at", UTCDateTime, nullable=False, index=True),
    C("available", sa.Float, nullable=False),
    C("used", sa.Float),
)

alert_states = sa.Table(
    "alert_states",
    metadata,
    C("rule", Str(128), primary_key=True),
    C("state", Str(16), nullable=False),
    C("since", UTCDateTime, nullable=False),
    C("last_sent_at", UTCDateTime),
    C("last_value", sa.Float),
)

deliveries = sa.Table(
    "deliveries",
    metadata,
    C("id", sa.Integer, primary_key=True, autoincrement=True),
    C("sent_at", UTCDateTime, nullable=False, index=True),
    C("channel", Str(128), nullable=False),
    C("rule", Str(128), nullable=False),
    C("state", Str(16), nullable=False),
    C("payload", _json()),
    C("ok", sa.Boolean, nullable=False),
    C("detail", sa.Text, nullable=False, default=""),
)

source_states = sa.Table(
    "source_states",
    metadata,
    C("source", Str(64), primary_key=True),
    C("last_poll_at", UTCDateTime),
    C("last_ok_at", UTCDateTime),
    C("last_error", sa.Text),
    C("failing_since", UTCDateTime),
    C("data", _json()),
    C("updated_at", UTCDateTime, nullable=False),
)

poll_requests = sa.Table(
    "poll_requests",
    metadata,
    C("source", Str(64), primary_key=True),
    C("requested_at", UTCDateTime, nullable=False),
)

record_hints = sa.Table(
    "record_hints",
    metadata,
    C("source", Str(64), primary_key=True),
    C("record_id", Str(255), primary_key=True),
    C("created_at", UTCDateTime, nullable=False),
)

seen_events = sa.Table(
    "seen_events",
    metadata,
    C("key", Str(255), primary_key=True),
    C("seen_at", UTCDateTime, nullable=False, index=True),
)

known_records = sa.Table(
    "known_records",
    metadata,
    C("source", Str(64), primary_key=True),
    C("record_id", Str(255), primary_key=True),
    C("fingerprint", Str(255), nullable=False),
)

written_hashes = sa.Table(
    "written_hashes",
    metadata,
    C("source", Str(64), primary_key=True),
    C("identity", Str(255), primary_key=True),
    C("target", Str(255), primary_key=True),
    C("hash", Str(128), nullable=False),
    C("written_at", UTCDateTime, nullable=False),
)

media = sa.Table(
    "media",
    metadata,
    C("content_hash", Str(128), primary_key=True),
    C("ext", Str(16), nullable=False),
    C("content_type", Str(128), nullable=False),
    C("size", sa.Integer, nullable=False),
    C("created_at", UTCDateTime, nullable=False),
)

media_refs = sa.Table(
    "media_refs",
    metadata,
    C("source", Str(64), primary_key=True),
    C("identity", Str(255), primary_key=True),
    C("content_hash", Str(128), nullable=False, index=True),
    C("updated_at", UTCDateTime, nullable=False),
)

# The bytes of rehosted pictures for ``media.backend: database``: any web process serves them.
media_blobs = sa.Table(
    "media_blobs",
    metadata,
    C("content_hash", Str(128), primary_key=True),
    C("data", sa.LargeBinary, nullable=False),
    C("created_at", UTCDateTime, nullable=False),
)

worker_heartbeats = sa.Table(
    "worker_heartbeats",
    metadata,
    C("worker_id", Str(255), primary_key=True),
    C("hostname", Str(255), nullable=False),
    C("pid", sa.Integer, nullable=False),
    C("state", Str(16), nullable=False),
    C("started_at", UTCDateTime, nullable=False),
    C("beat_at", UTCDateTime, nullable=False, index=True),
    C("running", _json()),
)

discovered = sa.Table(
    "discovered",
    metadata,
    C("platform", Str(32), primary_key=True),
    C("handle_key", Str(255), primary_key=True),
    C("search", Str(64), nullable=False, index=True),
    C("destination", Str(64), nullable=False),
    C("discovered_at", UTCDateTime, nullable=False),
)

# What happened to each record a run touched: where it is, how it was served, what it cost and
# what was written. One row per record and step (held, then enriched), written in batches.
record_events = sa.Table(
    "record_events",
    metadata,
    C("id", sa.Integer, primary_key=True, autoincrement=True),
    C("run_id", Str(64)),
    C("source", Str(64), nullable=False),
    C("record_key", Str(255), nullable=False, default=""),
    C("identity", Str(255), nullable=False, default=""),
    C("location", Str(255), nullable=False, default=""),
    C("handle", Str(255), nullable=False, default=""),
    C("platform", Str(32)),
    # Free text (cache, duplicate, single, batch, …): a new route needs no schema change.
    C("route", Str(32)),
    C("credits", sa.Float, nullable=False, default=0.0),
    C("status", Str(64), nullable=False),
    C("error", sa.Text),
    C("fields", _json()),
    C("created_at", UTCDateTime, nullable=False),
    sa.Index("ix_record_events_run", "run_id", "id"),
    sa.Index("ix_record_events_identity", "source", "identity", "id"),
    sa.Index("ix_record_events_location", "source", "location", "id"),
    sa.Index("ix_record_events_created", "created_at"),
    sa.Index("ix_record_events_status", "status", "created_at"),
)
