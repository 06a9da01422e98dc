"""Initial schema: ledger, reservations, work, batches, outbox, runs, credits, alerts, state.

Revision ID: 0001
Revises:
Create Date: 2026-11-25 13:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = "0001"
down_revision: Union[str, Sequence[str], None] = None
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TS = sa.DateTime(timezone=True)


def JSON() -> sa.JSON:
    return sa.JSON(none_as_null=True)


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "ledger",
        sa.Column("platform", sa.String(32), primary_key=True),
        sa.Column("handle_key", sa.String(255), primary_key=True),
        sa.Column("mode", sa.String(32), primary_key=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("profile", JSON()),
        sa.Column("credits_cost", sa.Float, nullable=False),
        sa.Column("fetched_at", TS, nullable=False),
    )
    op.create_table(
        "reservations",
        sa.Column("platform", sa.String(32), primary_key=True),
        sa.Column("handle_key", sa.String(255), primary_key=True),
        sa.Column("mode", sa.String(32), primary_key=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
        sa.Column("call_started_at", TS),
    )
    op.create_table(
        "work_items",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("record_key", sa.String(255), nullable=False),
        sa.Column("identity", sa.String(255), nullable=False),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("handle_key", sa.String(255), nullable=False),
        sa.Column("mode", sa.String(32), nullable=False),
        sa.Column("handle_value", sa.String(255), nullable=False),
        sa.Column("location", sa.Text, nullable=False),
        sa.Column("current", JSON()),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("batch_ref", sa.String(64)),
        sa.Column("error", sa.Text),
        sa.Column("claim_owner", sa.String(255)),
        sa.Column("claim_expires_at", TS),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("updated_at", TS, nullable=False),
        sa.UniqueConstraint("source", "record_key", name="uq_work_items_source_record"),
    )
    op.create_index("ix_work_items_key", "work_items", ["platform", "handle_key", "mode"])
    op.create_index("ix_work_items_state", "work_items", ["state", "source"])
    op.create_table(
        "record_claims",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("record_key", sa.String(255), primary_key=True),
        sa.Column("owner", sa.String(255), nullable=False),
        sa.Column("expires_at", TS, nullable=False),
    )
    op.create_table(
        "batches",
        sa.Column("ref", sa.String(64), primary_key=True),
        sa.Column("batch_id", sa.String(255), unique=True),
        sa.Column("platform", sa.String(32), nullable=False),
        sa.Column("mode", sa.String(32), nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("total", sa.Integer, nullable=False),
        sa.Column("processed", sa.Integer, nullable=False),
        sa.Column("success", sa.Integer, nullable=False),
        sa.Column("failed", sa.Integer, nullable=False),
        sa.Column("credits_used", sa.Float, nullable=False),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("submitted_at", TS),
        sa.Column("last_polled_at", TS),
        sa.Column("next_poll_at", TS),
        sa.Column("finished_at", TS),
        sa.Column("collected_at", TS),
        sa.Column("error", sa.Text),
    )
    op.create_index("ix_batches_status", "batches", ["status"])
    op.create_table(
        "batch_items",
        sa.Column("batch_ref", sa.String(64), sa.ForeignKey("batches.ref", ondelete="CASCADE"),
                  primary_key=True),
        sa.Column("platform", sa.String(32), primary_key=True),
        sa.Column("handle_key", sa.String(255), primary_key=True),
        sa.Column("handle_value", sa.String(255), nullable=False),
    )
    op.create_index("ix_batch_items_key", "batch_items", ["platform", "handle_key"])
    op.create_table(
        "outbox",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("record_key", sa.String(255), nullable=False),
        sa.Column("payload", JSON(), nullable=False),
        sa.Column("run_id", sa.String(64)),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
    )
    op.create_index("ix_outbox_due", "outbox", ["next_attempt_at"])
    op.create_table(
        "runs",
        sa.Column("run_id", sa.String(64), primary_key=True),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("started_at", TS, nullable=False),
        sa.Column("finished_at", TS),
        sa.Column("dry_run", sa.Boolean, nullable=False),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("stats", JSON()),
        sa.Column("quote", sa.Float),
        sa.Column("hold_reason", sa.Text),
        sa.Column("approved_at", TS),
        sa.Column("error", sa.Text),
        sa.Column("credits_spent", sa.Float, nullable=False),
        sa.Column("credits_saved", sa.Float, nullable=False),
    )
    op.create_index("ix_runs_started", "runs", ["started_at"])
    op.create_index("ix_runs_status", "runs", ["status"])
    op.create_table(
        "credit_snapshots",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("taken_at", TS, nullable=False),
        sa.Column("available", sa.Float, nullable=False),
        sa.Column("used", sa.Float),
    )
    op.create_index("ix_credit_snapshots_taken_at", "credit_snapshots", ["taken_at"])
    op.create_table(
        "alert_states",
        sa.Column("rule", sa.String(128), primary_key=True),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("since", TS, nullable=False),
        sa.Column("last_sent_at", TS),
        sa.Column("last_value", sa.Float),
    )
    op.create_table(
        "deliveries",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("sent_at", TS, nullable=False),
        sa.Column("channel", sa.String(128), nullable=False),
        sa.Column("rule", sa.String(128), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("payload", JSON()),
        sa.Column("ok", sa.Boolean, nullable=False),
        sa.Column("detail", sa.Text, nullable=False),
    )
    op.create_index("ix_deliveries_sent_at", "deliveries", ["sent_at"])
    op.create_table(
        "source_states",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("last_poll_at", TS),
        sa.Column("last_ok_at", TS),
        sa.Column("last_error", sa.Text),
        sa.Column("failing_since", TS),
        sa.Column("data", JSON()),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_table(
        "poll_requests",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("requested_at", TS, nullable=False),
    )
    op.create_table(
        "record_hints",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("record_id", sa.String(255), primary_key=True),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "seen_events",
        sa.Column("key", sa.String(255), primary_key=True),
        sa.Column("seen_at", TS, nullable=False),
    )
    op.create_index("ix_seen_events_seen_at", "seen_events", ["seen_at"])
    op.create_table(
        "known_records",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("record_id", sa.String(255), primary_key=True),
        sa.Column("fingerprint", sa.String(255), nullable=False),
    )
    op.create_table(
        "written_hashes",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("identity", sa.String(255), primary_key=True),
        sa.Column("target", sa.String(255), primary_key=True),
        sa.Column("hash", sa.String(128), nullable=False),
        sa.Column("written_at", TS, nullable=False),
    )
    op.create_table(
        "media",
        sa.Column("content_hash", sa.String(128), primary_key=True),
        sa.Column("ext", sa.String(16), nullable=False),
        sa.Column("content_type", sa.String(128), nullable=False),
        sa.Column("size", sa.Integer, nullable=False),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_table(
        "media_refs",
        sa.Column("source", sa.String(64), primary_key=True),
        sa.Column("identity", sa.String(255), primary_key=True),
        sa.Column("content_hash", sa.String(128), nullable=False),
        sa.Column("updated_at", TS, nullable=False),
    )
    op.create_index("ix_media_refs_content_hash", "media_refs", ["content_hash"])
    op.create_table(
        "discovered",
        sa.Column("platform", sa.String(32), primary_key=True),
        sa.Column("handle_key", sa.String(255), primary_key=True),
        sa.Column("search", sa.String(64), nullable=False),
        sa.Column("destination", sa.String(64), nullable=False),
        sa.Column("discovered_at", TS, nullable=False),
    )
    op.create_index("ix_discovered_search", "discovered", ["search"])


def downgrade() -> None:
    """Downgrade schema."""
    for table in (
        "discovered", "media_refs", "media", "written_hashes", "known_records", "seen_events",
        "record_hints", "poll_requests", "source_states", "deliveries", "alert_states",
        "credit_snapshots", "runs", "outbox", "batch_items", "batches", "record_claims",
        "work_items", "reservations", "ledger",
    ):
        op.drop_table(table)
