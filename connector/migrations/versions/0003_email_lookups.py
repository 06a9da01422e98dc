"""E-mail lookups: the e-mail ledger, and work items identified by e-mail.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02 10:00:00

"""
from typing import Sequence, Union

from alembic import op
import sqlalchemy as sa

# revision identifiers, used by Alembic.
revision: str = "0003"
down_revision: Union[str, Sequence[str], None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    """Upgrade schema."""
    op.create_table(
        "email_lookups",
        sa.Column("email", sa.String(320), primary_key=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("platform", sa.String(32)),
        sa.Column("username", sa.String(255)),
        sa.Column("result", sa.JSON(none_as_null=True)),
        sa.Column("credits_cost", sa.Float, nullable=False),
        sa.Column("fetched_at", TS, nullable=False),
    )
    # Plain ADD COLUMN on both backends (SQLite accepts a NOT NULL column with a default).
    op.add_column("work_items", sa.Column("email", sa.String(320)))
    op.add_column(
        "work_items",
        sa.Column("fill_handle", sa.Boolean, nullable=False, server_default=sa.false()),
    )


def downgrade() -> None:
    """Downgrade schema."""
    with op.batch_alter_table("work_items") as batch:
        batch.drop_column("fill_handle")
        batch.drop_column("email")
    op.drop_table("email_lookups")
