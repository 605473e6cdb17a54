"""reconciliation: when each payment's order is next checked with the gateway

Revision ID: 0010_reconciliation
Revises: 0009_notifications
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from enrollpay.db.types import UTCDateTime

revision: str = "0010_reconciliation"
down_revision: str | None = "0009_notifications"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.add_column(sa.Column("reconcile_after", UTCDateTime(), nullable=True))
        batch.add_column(
            sa.Column("reconcile_checks", sa.Integer(), nullable=False, server_default="0")
        )
        batch.create_index("ix_payments_reconcile_after", ["reconcile_after"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("payments") as batch:
        batch.drop_index("ix_payments_reconcile_after")
        batch.drop_column("reconcile_checks")
        batch.drop_column("reconcile_after")
