"""payments, payment attempts, payment events; enrollment payment columns

Revision ID: 0005_payments
Revises: 0004_sandbox
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import enrollpay.db.types

revision: str = "0005_payments"
down_revision: str | None = "0004_sandbox"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("enrollments") as batch:
        batch.add_column(sa.Column("current_payment_id", sa.String(length=32), nullable=True))
        batch.add_column(sa.Column("enrolled_by", sa.String(length=40), nullable=True))
        batch.add_column(sa.Column("failure_reason", sa.String(length=500), nullable=True))

    op.create_table(
        "payments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("enrollment_id", sa.String(length=32), nullable=False),
        sa.Column("user_id", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("receipt", sa.String(length=40), nullable=False),
        sa.Column("razorpay_order_id", sa.String(length=40), nullable=True),
        sa.Column("amount_captured", sa.BigInteger(), nullable=False),
        sa.Column("amount_refunded", sa.BigInteger(), nullable=False),
        sa.Column("expires_at", enrollpay.db.types.UTCDateTime(), nullable=True),
        sa.Column("superseded_at", enrollpay.db.types.UTCDateTime(), nullable=True),
        sa.Column("captured_at", enrollpay.db.types.UTCDateTime(), nullable=True),
        sa.Column("created_at", enrollpay.db.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", enrollpay.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["enrollment_id"],
            ["enrollments.id"],
            name=op.f("fk_payments_enrollment_id_enrollments"),
        ),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_payments_user_id_users")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payments")),
        sa.UniqueConstraint("receipt", name=op.f("uq_payments_receipt")),
        sa.UniqueConstraint("razorpay_order_id", name=op.f("uq_payments_razorpay_order_id")),
    )
    op.create_index(op.f("ix_payments_enrollment_id"), "payments", ["enrollment_id"])

    op.create_table(
        "payment_attempts",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("payment_id", sa.String(length=32), nullable=False),
        sa.Column("razorpay_payment_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=True),
        sa.Column("error_code", sa.String(length=64), nullable=True),
        sa.Column("error_description", sa.String(length=500), nullable=True),
        sa.Column("error_source", sa.String(length=64), nullable=True),
        sa.Column("error_step", sa.String(length=64), nullable=True),
        sa.Column("error_reason", sa.String(length=64), nullable=True),
        sa.Column("created_at", enrollpay.db.types.UTCDateTime(), nullable=False),
        sa.Column("updated_at", enrollpay.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_payment_attempts_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_attempts")),
        sa.UniqueConstraint(
            "razorpay_payment_id", name=op.f("uq_payment_attempts_razorpay_payment_id")
        ),
    )
    op.create_index(op.f("ix_payment_attempts_payment_id"), "payment_attempts", ["payment_id"])

    op.create_table(
        "payment_events",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("payment_id", sa.String(length=32), nullable=False),
        sa.Column("razorpay_payment_id", sa.String(length=40), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("reference", sa.String(length=100), nullable=True),
        sa.Column("actions", sa.JSON(), nullable=False),
        sa.Column("created_at", enrollpay.db.types.UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["payment_id"], ["payments.id"], name=op.f("fk_payment_events_payment_id_payments")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_payment_events")),
    )
    op.create_index(
        "ix_payment_events_payment_id_created_at", "payment_events", ["payment_id", "created_at"]
    )


def downgrade() -> None:
    op.drop_index("ix_payment_events_payment_id_created_at", table_name="payment_events")
    op.drop_table("payment_events")
    op.drop_index(op.f("ix_payment_attempts_payment_id"), table_name="payment_attempts")
    op.drop_table("payment_attempts")
    op.drop_index(op.f("ix_payments_enrollment_id"), table_name="payments")
    op.drop_table("payments")
    with op.batch_alter_table("enrollments") as batch:
        batch.drop_column("failure_reason")
        batch.drop_column("enrolled_by")
        batch.drop_column("current_payment_id")
