"""Per-record events of every run, re-enrich requests on the ledger, run record counts.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-12 10:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = "0004"
down_revision: Union[str, Sequence[str], None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "record_events",
        sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
        sa.Column("run_id", sa.String(64)),
        sa.Column("source", sa.String(64), nullable=False),
        sa.Column("record_key", sa.String(255), nullable=False),
        sa.Column("identity", sa.String(255), nullable=False),
        sa.Column("location", sa.String(255), nullable=False),
        sa.Column("handle", sa.String(255), nullable=False),
        sa.Column("platform", sa.String(32)),
        sa.Column("route", sa.String(32)),
        sa.Column("credits", sa.Float, nullable=False),
        sa.Column("status", sa.String(64), nullable=False),
        sa.Column("error", sa.Text),
        sa.Column("fields", sa.JSON(none_as_null=True)),
        sa.Column("created_at", TS, nullable=False),
    )
    op.create_index("ix_record_events_run", "record_events", ["run_id", "id"])
    op.create_index("ix_record_events_identity", "record_events", ["source", "identity", "id"])
    op.create_index("ix_record_events_location", "record_events", ["source", "location", "id"])
    op.create_index("ix_record_events_created", "record_events", ["created_at"])
    op.create_index("ix_record_events_status", "record_events", ["status", "created_at"])
    with op.batch_alter_table("ledger") as batch:
        batch.add_column(sa.Column("refresh_requested_at", TS))
    with op.batch_alter_table("runs") as batch:
        batch.add_column(sa.Column("records", sa.Integer, nullable=False, server_default="0"))
    runs = sa.table("runs", sa.column("run_id", sa.String), sa.column("stats", sa.JSON),
                    sa.column("records", sa.Integer))
    conn = op.get_bind()
    for run_id, stats in conn.execute(sa.select(runs.c.run_id, runs.c.stats)).all():
        records = (stats or {}).get("records") if isinstance(stats, dict) else None
        if isinstance(records, int) and records > 0:
            conn.execute(runs.update().where(runs.c.run_id == run_id).values(records=records))


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("runs") as batch:
        batch.drop_column("records")
    with op.batch_alter_table("ledger") as batch:
        batch.drop_column("refresh_requested_at")
    op.drop_table("record_events")
