"""abuse: risk flags and the payment-attempt audit log

Revision ID: 0015_abuse
Revises: 0014_analytics
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from enrollpay.db.types import UTCDateTime

revision: str = "0015_abuse"
down_revision: str | None = "0014_analytics"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "risk_flags",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("kind", sa.String(40), nullable=False),
        sa.Column("subject", sa.String(80), nullable=False),
        sa.Column("details", sa.JSON(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("reviewed_at", UTCDateTime(), nullable=True),
        sa.Column("reviewed_by", sa.String(32), nullable=True),
        sa.ForeignKeyConstraint(
            ["reviewed_by"], ["users.id"], name=op.f("fk_risk_flags_reviewed_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_risk_flags")),
    )
    op.create_index(
        "ix_risk_flags_kind_subject_created_at", "risk_flags", ["kind", "subject", "created_at"]
    )
    op.create_table(
        "payment_attempt_log",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("user_id", sa.String(32), nullable=False),
        sa.Column("enrollment_id", sa.String(64), nullable=True),
        sa.Column("action", sa.String(16), nullable=False),
        sa.Column("client_ip", sa.String(64), nullable=False),
        sa.Column("user_agent", sa.String(300), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=True),
        sa.Column("currency", sa.String(3), nullable=True),
        sa.Column("outcome", sa.String(64), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_payment_attempt_log_user_id_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_attempt_log")),
    )
    op.create_index("ix_payment_attempt_log_user_id", "payment_attempt_log", ["user_id"])
    op.create_index(
        "ix_payment_attempt_log_enrollment_id", "payment_attempt_log", ["enrollment_id"]
    )


def downgrade() -> None:
    op.drop_index("ix_payment_attempt_log_enrollment_id", table_name="payment_attempt_log")
    op.drop_index("ix_payment_attempt_log_user_id", table_name="payment_attempt_log")
    op.drop_table("payment_attempt_log")
    op.drop_index("ix_risk_flags_kind_subject_created_at", table_name="risk_flags")
    op.drop_table("risk_flags")
