"""webhook event inbox

Revision ID: 0006_webhook_inbox
Revises: 0005_payments
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import enrollpay.db.types

revision: str = "0006_webhook_inbox"
down_revision: str | None = "0005_payments"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, enrollpay.db.types.UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "webhook_events",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=100), nullable=False),
        sa.Column("event_id_derived", sa.Boolean(), nullable=False),
        sa.Column("event", sa.String(length=100), nullable=True),
        sa.Column("account_id", sa.String(length=64), nullable=True),
        _utc("event_created_at", nullable=True),
        sa.Column("raw_body", sa.Text(), nullable=False),
        sa.Column("body_encoding", sa.String(length=8), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("headers", sa.JSON(), nullable=False),
        _utc("received_at"),
        sa.Column("deliveries", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("replays", sa.Integer(), nullable=False),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _utc("processed_at", nullable=True),
        sa.Column("razorpay_payment_id", sa.String(length=40), nullable=True),
        sa.Column("razorpay_order_id", sa.String(length=40), nullable=True),
        sa.CheckConstraint(
            "status IN ('pending', 'processed', 'ignored', 'failed')",
            name=op.f("ck_webhook_events_status"),
        ),
        sa.CheckConstraint(
            "body_encoding IN ('utf-8', 'base64')", name=op.f("ck_webhook_events_body_encoding")
        ),
        sa.CheckConstraint(
            "attempts >= 0 AND deliveries >= 1 AND replays >= 0",
            name=op.f("ck_webhook_events_counts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_webhook_events")),
        sa.UniqueConstraint("event_id", name=op.f("uq_webhook_events_event_id")),
    )
    op.create_index("ix_webhook_events_status_id", "webhook_events", ["status", "id"])
    op.create_index("ix_webhook_events_event_name", "webhook_events", ["event", "id"])
    op.create_index(
        op.f("ix_webhook_events_razorpay_payment_id"), "webhook_events", ["razorpay_payment_id"]
    )
    op.create_index(
        op.f("ix_webhook_events_razorpay_order_id"), "webhook_events", ["razorpay_order_id"]
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_webhook_events_razorpay_order_id"), table_name="webhook_events")
    op.drop_index(op.f("ix_webhook_events_razorpay_payment_id"), table_name="webhook_events")
    op.drop_index("ix_webhook_events_event_name", table_name="webhook_events")
    op.drop_index("ix_webhook_events_status_id", table_name="webhook_events")
    op.drop_table("webhook_events")
