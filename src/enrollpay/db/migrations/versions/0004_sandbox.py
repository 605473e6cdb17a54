"""the built-in Razorpay sandbox's own tables

Revision ID: 0004_sandbox
Revises: 0003_catalog
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import enrollpay.db.types

revision: str = "0004_sandbox"
down_revision: str | None = "0003_catalog"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _utc(name: str, nullable: bool = False) -> sa.Column:
    return sa.Column(name, enrollpay.db.types.UTCDateTime(), nullable=nullable)


def upgrade() -> None:
    op.create_table(
        "sandbox_orders",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("amount_paid", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("receipt", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("partial_payment", sa.Boolean(), nullable=False),
        sa.Column("first_payment_min_amount", sa.BigInteger(), nullable=True),
        sa.Column("capture", sa.String(length=16), nullable=False),
        sa.Column("capture_options", sa.JSON(), nullable=True),
        _utc("created"),
        _utc("updated"),
        sa.CheckConstraint(
            "capture IN ('automatic', 'manual')", name=op.f("ck_sandbox_orders_capture")
        ),
        sa.CheckConstraint(
            "status IN ('created', 'attempted', 'paid')", name=op.f("ck_sandbox_orders_status")
        ),
        sa.CheckConstraint(
            "amount >= 100 AND amount_paid >= 0 AND attempts >= 0",
            name=op.f("ck_sandbox_orders_amounts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_orders")),
        sa.UniqueConstraint("key_id", "receipt", name="uq_sandbox_orders_receipt"),
    )
    op.create_index("ix_sandbox_orders_key_id_created", "sandbox_orders", ["key_id", "created"])

    op.create_table(
        "sandbox_payments",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("captured", sa.Boolean(), nullable=False),
        sa.Column("amount_refunded", sa.BigInteger(), nullable=False),
        sa.Column("refund_status", sa.String(length=8), nullable=True),
        sa.Column("description", sa.Text(), nullable=True),
        sa.Column("email", sa.String(length=320), nullable=True),
        sa.Column("contact", sa.String(length=32), nullable=True),
        sa.Column("card_id", sa.String(length=32), nullable=True),
        sa.Column("card", sa.JSON(), nullable=True),
        sa.Column("bank", sa.String(length=32), nullable=True),
        sa.Column("wallet", sa.String(length=32), nullable=True),
        sa.Column("vpa", sa.String(length=255), nullable=True),
        sa.Column("upi", sa.JSON(), nullable=True),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("fee", sa.BigInteger(), nullable=True),
        sa.Column("tax", sa.BigInteger(), nullable=True),
        sa.Column("error_code", sa.String(length=32), nullable=True),
        sa.Column("error_description", sa.Text(), nullable=True),
        sa.Column("error_source", sa.String(length=32), nullable=True),
        sa.Column("error_step", sa.String(length=64), nullable=True),
        sa.Column("error_reason", sa.String(length=64), nullable=True),
        sa.Column("acquirer_data", sa.JSON(), nullable=False),
        _utc("created"),
        _utc("authorized_at", nullable=True),
        _utc("captured_at", nullable=True),
        _utc("updated"),
        sa.CheckConstraint(
            "status IN ('created', 'authorized', 'captured', 'refunded', 'failed')",
            name=op.f("ck_sandbox_payments_status"),
        ),
        sa.CheckConstraint(
            "amount >= 100 AND amount_refunded >= 0 AND amount_refunded <= amount",
            name=op.f("ck_sandbox_payments_amounts"),
        ),
        sa.ForeignKeyConstraint(
            ["order_id"],
            ["sandbox_orders.id"],
            name=op.f("fk_sandbox_payments_order_id_sandbox_orders"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_payments")),
    )
    op.create_index("ix_sandbox_payments_key_id_created", "sandbox_payments", ["key_id", "created"])
    op.create_index(op.f("ix_sandbox_payments_order_id"), "sandbox_payments", ["order_id"])

    op.create_table(
        "sandbox_refunds",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("payment_id", sa.String(length=32), nullable=False),
        sa.Column("amount", sa.BigInteger(), nullable=False),
        sa.Column("currency", sa.String(length=3), nullable=False),
        sa.Column("notes", sa.JSON(), nullable=False),
        sa.Column("receipt", sa.String(length=40), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("speed_requested", sa.String(length=16), nullable=False),
        sa.Column("speed_processed", sa.String(length=16), nullable=False),
        sa.Column("acquirer_data", sa.JSON(), nullable=False),
        _utc("created"),
        _utc("settled_at", nullable=True),
        _utc("updated"),
        sa.CheckConstraint(
            "status IN ('pending', 'processed', 'failed')", name=op.f("ck_sandbox_refunds_status")
        ),
        sa.CheckConstraint("amount >= 1", name=op.f("ck_sandbox_refunds_amount")),
        sa.ForeignKeyConstraint(
            ["payment_id"],
            ["sandbox_payments.id"],
            name=op.f("fk_sandbox_refunds_payment_id_sandbox_payments"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_refunds")),
    )
    op.create_index("ix_sandbox_refunds_key_id_created", "sandbox_refunds", ["key_id", "created"])
    op.create_index(op.f("ix_sandbox_refunds_payment_id"), "sandbox_refunds", ["payment_id"])

    op.create_table(
        "sandbox_refund_idempotency_keys",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("idempotency_key", sa.String(length=255), nullable=False),
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("refund_id", sa.String(length=32), nullable=True),
        _utc("created"),
        sa.ForeignKeyConstraint(
            ["refund_id"],
            ["sandbox_refunds.id"],
            name=op.f("fk_sandbox_refund_idempotency_keys_refund_id_sandbox_refunds"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "key_id", "idempotency_key", name=op.f("pk_sandbox_refund_idempotency_keys")
        ),
    )

    op.create_table(
        "sandbox_events",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("event", sa.String(length=64), nullable=False),
        sa.Column("body", sa.LargeBinary(), nullable=False),
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.Column("order_id", sa.String(length=32), nullable=True),
        sa.Column("payment_id", sa.String(length=32), nullable=True),
        sa.Column("refund_id", sa.String(length=32), nullable=True),
        _utc("created"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_events")),
    )
    op.create_index("ix_sandbox_events_key_id_created", "sandbox_events", ["key_id", "created"])
    op.create_index(op.f("ix_sandbox_events_payment_id"), "sandbox_events", ["payment_id"])

    op.create_table(
        "sandbox_webhook_deliveries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("event_id", sa.String(length=32), nullable=False),
        sa.Column("copy", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_status_code", sa.Integer(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        _utc("last_attempt_at", nullable=True),
        _utc("delivered_at", nullable=True),
        _utc("scheduled_at"),
        _utc("created"),
        sa.CheckConstraint(
            "status IN ('pending', 'delivered', 'failed', 'dropped')",
            name=op.f("ck_sandbox_webhook_deliveries_status"),
        ),
        sa.ForeignKeyConstraint(
            ["event_id"],
            ["sandbox_events.id"],
            name=op.f("fk_sandbox_webhook_deliveries_event_id_sandbox_events"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_webhook_deliveries")),
    )
    op.create_index(
        op.f("ix_sandbox_webhook_deliveries_event_id"), "sandbox_webhook_deliveries", ["event_id"]
    )
    op.create_index(
        "ix_sandbox_webhook_deliveries_key_id_id", "sandbox_webhook_deliveries", ["key_id", "id"]
    )

    op.create_table(
        "sandbox_webhook_attempts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("delivery_id", sa.Integer(), nullable=False),
        sa.Column("attempt", sa.Integer(), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=True),
        sa.Column("error", sa.Text(), nullable=True),
        _utc("started_at"),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.ForeignKeyConstraint(
            ["delivery_id"],
            ["sandbox_webhook_deliveries.id"],
            name="fk_sandbox_webhook_attempts_delivery_id",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_webhook_attempts")),
    )
    op.create_index(
        op.f("ix_sandbox_webhook_attempts_delivery_id"),
        "sandbox_webhook_attempts",
        ["delivery_id"],
    )

    op.create_table(
        "sandbox_faults",
        sa.Column("id", sa.String(length=32), nullable=False),
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("path_prefix", sa.String(length=255), nullable=False),
        sa.Column("method", sa.String(length=10), nullable=True),
        sa.Column("status", sa.Integer(), nullable=True),
        sa.Column("count", sa.Integer(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=False),
        sa.Column("delay_ms", sa.Integer(), nullable=False),
        sa.Column("after", sa.Boolean(), nullable=False),
        sa.Column("reset", sa.Boolean(), nullable=False),
        sa.Column("retry_after", sa.Integer(), nullable=True),
        sa.Column("body", sa.String(length=16), nullable=False),
        _utc("created"),
        sa.CheckConstraint("remaining >= 0", name=op.f("ck_sandbox_faults_remaining")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sandbox_faults")),
    )
    op.create_index("ix_sandbox_faults_key_id_created", "sandbox_faults", ["key_id", "created"])

    op.create_table(
        "sandbox_webhook_behaviour",
        sa.Column("key_id", sa.String(length=32), nullable=False),
        sa.Column("duplicate", sa.Integer(), nullable=False),
        sa.Column("shuffle", sa.Boolean(), nullable=False),
        sa.Column("drop", sa.Boolean(), nullable=False),
        sa.Column("remaining", sa.Integer(), nullable=True),
        _utc("updated"),
        sa.CheckConstraint(
            "duplicate >= 0 AND (remaining IS NULL OR remaining >= 0)",
            name=op.f("ck_sandbox_webhook_behaviour_counts"),
        ),
        sa.PrimaryKeyConstraint("key_id", name=op.f("pk_sandbox_webhook_behaviour")),
    )


def downgrade() -> None:
    op.drop_table("sandbox_webhook_behaviour")
    op.drop_table("sandbox_faults")
    op.drop_table("sandbox_webhook_attempts")
    op.drop_table("sandbox_webhook_deliveries")
    op.drop_table("sandbox_events")
    op.drop_table("sandbox_refund_idempotency_keys")
    op.drop_table("sandbox_refunds")
    op.drop_table("sandbox_payments")
    op.drop_table("sandbox_orders")
