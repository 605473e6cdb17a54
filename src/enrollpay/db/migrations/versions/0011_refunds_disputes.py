"""refunds and disputes

Revision ID: 0011_refunds_disputes
Revises: 0010_reconciliation
Create Date: 2026-11-28
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from enrollpay.db.types import UTCDateTime

revision: str = "0011_refunds_disputes"
down_revision: str | None = "0010_reconciliation"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "refunds",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("payment_id", sa.String(32), nullable=False),
        sa.Column("enrollment_id", sa.String(32), nullable=False),
        sa.Column("razorpay_payment_id", sa.String(40), nullable=False),
        sa.Column("razorpay_refund_id", sa.String(40), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("reason", sa.String(500), nullable=False),
        sa.Column("requested_by", sa.String(32), nullable=True),
        sa.Column("idempotency_key", sa.String(64), nullable=True),
        sa.Column("failure_reason", sa.String(500), nullable=True),
        sa.Column("processed_at", UTCDateTime(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('requested', 'pending', 'processed', 'failed')",
            name=op.f("ck_refunds_status"),
        ),
        sa.CheckConstraint(
            "kind IN ('learner', 'admin', 'automatic')", name=op.f("ck_refunds_kind")
        ),
        sa.CheckConstraint("amount > 0", name=op.f("ck_refunds_amount_positive")),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_refunds_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(
            ["enrollment_id"], ["enrollments.id"], name=op.f("fk_refunds_enrollment_id_enrollments")
        ),
        sa.ForeignKeyConstraint(
            ["requested_by"], ["users.id"], name=op.f("fk_refunds_requested_by_users")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_refunds")),
        sa.UniqueConstraint("razorpay_refund_id", name=op.f("uq_refunds_razorpay_refund_id")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_refunds_idempotency_key")),
    )
    op.create_index(op.f("ix_refunds_payment_id"), "refunds", ["payment_id"])
    op.create_index(op.f("ix_refunds_enrollment_id"), "refunds", ["enrollment_id"])
    op.create_index(op.f("ix_refunds_razorpay_payment_id"), "refunds", ["razorpay_payment_id"])
    op.create_index(op.f("ix_refunds_status"), "refunds", ["status"])

    op.create_table(
        "disputes",
        sa.Column("id", sa.String(32), nullable=False),
        sa.Column("razorpay_dispute_id", sa.String(40), nullable=False),
        sa.Column("razorpay_payment_id", sa.String(40), nullable=False),
        sa.Column("payment_id", sa.String(32), nullable=True),
        sa.Column("enrollment_id", sa.String(32), nullable=True),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("amount_deducted", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(3), nullable=False),
        sa.Column("reason_code", sa.String(100), nullable=True),
        sa.Column("status", sa.String(32), nullable=False),
        sa.Column("phase", sa.String(32), nullable=True),
        sa.Column("respond_by", UTCDateTime(), nullable=True),
        sa.Column("last_event", sa.String(100), nullable=False),
        sa.Column("last_event_at", UTCDateTime(), nullable=False),
        sa.Column("raw", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_disputes_payment_id_payments")
        ),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollments.id"],
            name=op.f("fk_disputes_enrollment_id_enrollments"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_disputes")),
        sa.UniqueConstraint("razorpay_dispute_id", name=op.f("uq_disputes_razorpay_dispute_id")),
    )
    op.create_index(op.f("ix_disputes_razorpay_payment_id"), "disputes", ["razorpay_payment_id"])
    op.create_index(op.f("ix_disputes_enrollment_id"), "disputes", ["enrollment_id"])
    op.create_index(op.f("ix_disputes_status"), "disputes", ["status"])


def downgrade() -> None:
    op.drop_index(op.f("ix_disputes_status"), table_name="disputes")
    op.drop_index(op.f("ix_disputes_enrollment_id"), table_name="disputes")
    op.drop_index(op.f("ix_disputes_razorpay_payment_id"), table_name="disputes")
    op.drop_table("disputes")
    op.drop_index(op.f("ix_refunds_status"), table_name="refunds")
    op.drop_index(op.f("ix_refunds_razorpay_payment_id"), table_name="refunds")
    op.drop_index(op.f("ix_refunds_enrollment_id"), table_name="refunds")
    op.drop_index(op.f("ix_refunds_payment_id"), table_name="refunds")
    op.drop_table("refunds")
