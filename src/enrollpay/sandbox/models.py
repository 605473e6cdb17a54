"""The sandbox's own tables (all prefixed `sandbox_`). Every row belongs to one sandbox "account",
named by its `key_id`: another key's orders do not exist for you, as on Razorpay.

Money is BigInteger paise; internal times are UTCDateTime (entities show Unix seconds)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from enrollpay.db.base import Base
from enrollpay.db.types import UTCDateTime

ORDER_STATUSES = ("created", "attempted", "paid")
PAYMENT_STATUSES = ("created", "authorized", "captured", "refunded", "failed")
REFUND_STATUSES = ("pending", "processed", "failed")
DELIVERY_STATUSES = ("pending", "delivered", "failed", "dropped")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class SandboxOrder(Base):
    __tablename__ = "sandbox_orders"
    __table_args__ = (
        # NULL receipts never collide; a repeated receipt is refused (see service.create_order).
        UniqueConstraint("key_id", "receipt", name="uq_sandbox_orders_receipt"),
        Index("ix_sandbox_orders_key_id_created", "key_id", "created"),
        CheckConstraint(_in("status", ORDER_STATUSES), name="status"),
        CheckConstraint("capture IN ('automatic', 'manual')", name="capture"),
        CheckConstraint("amount >= 100 AND amount_paid >= 0 AND attempts >= 0", name="amounts"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    amount_paid: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    receipt: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    notes: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    partial_payment: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    first_payment_min_amount: Mapped[int | None] = mapped_column(BigInteger)
    capture: Mapped[str] = mapped_column(String(16), nullable=False)
    capture_options: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    created: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    updated: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class SandboxPayment(Base):
    __tablename__ = "sandbox_payments"
    __table_args__ = (
        Index("ix_sandbox_payments_key_id_created", "key_id", "created"),
        CheckConstraint(_in("status", PAYMENT_STATUSES), name="status"),
        CheckConstraint(
            "amount >= 100 AND amount_refunded >= 0 AND amount_refunded <= amount",
            name="amounts",
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), nullable=False)
    order_id: Mapped[str] = mapped_column(
        ForeignKey("sandbox_orders.id", ondelete="CASCADE"), index=True, nullable=False
    )
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    method: Mapped[str] = mapped_column(String(16), nullable=False)
    captured: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    amount_refunded: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    refund_status: Mapped[str | None] = mapped_column(String(8))
    description: Mapped[str | None] = mapped_column(Text)
    email: Mapped[str | None] = mapped_column(String(320))
    contact: Mapped[str | None] = mapped_column(String(32))
    card_id: Mapped[str | None] = mapped_column(String(32))
    card: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    bank: Mapped[str | None] = mapped_column(String(32))
    wallet: Mapped[str | None] = mapped_column(String(32))
    vpa: Mapped[str | None] = mapped_column(String(255))
    upi: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    notes: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    fee: Mapped[int | None] = mapped_column(BigInteger)
    tax: Mapped[int | None] = mapped_column(BigInteger)
    error_code: Mapped[str | None] = mapped_column(String(32))
    error_description: Mapped[str | None] = mapped_column(Text)
    error_source: Mapped[str | None] = mapped_column(String(32))
    error_step: Mapped[str | None] = mapped_column(String(64))
    error_reason: Mapped[str | None] = mapped_column(String(64))
    acquirer_data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    created: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    authorized_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    captured_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class SandboxRefund(Base):
    __tablename__ = "sandbox_refunds"
    __table_args__ = (
        Index("ix_sandbox_refunds_key_id_created", "key_id", "created"),
        CheckConstraint(_in("status", REFUND_STATUSES), name="status"),
        CheckConstraint("amount >= 1", name="amount"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), nullable=False)
    payment_id: Mapped[str] = mapped_column(
        ForeignKey("sandbox_payments.id", ondelete="CASCADE"), index=True, nullable=False
    )
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    notes: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    receipt: Mapped[str | None] = mapped_column(String(40))
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    speed_requested: Mapped[str] = mapped_column(String(16), nullable=False)
    speed_processed: Mapped[str] = mapped_column(String(16), nullable=False)
    acquirer_data: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    created: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    settled_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class SandboxRefundIdempotencyKey(Base):
    """`X-Refund-Idempotency`: the first request with a key claims it (refund_id still NULL while
    it is in flight), then records the refund it made."""

    __tablename__ = "sandbox_refund_idempotency_keys"

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    idempotency_key: Mapped[str] = mapped_column(String(255), primary_key=True)
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    refund_id: Mapped[str | None] = mapped_column(
        ForeignKey("sandbox_refunds.id", ondelete="CASCADE")
    )
    created: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class SandboxEvent(Base):
    """One webhook event: the exact body bytes and their signature, made once."""

    __tablename__ = "sandbox_events"
    __table_args__ = (Index("ix_sandbox_events_key_id_created", "key_id", "created"),)

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # X-Razorpay-Event-Id
    key_id: Mapped[str] = mapped_column(String(32), nullable=False)
    event: Mapped[str] = mapped_column(String(64), nullable=False)
    body: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    signature: Mapped[str] = mapped_column(String(64), nullable=False)
    order_id: Mapped[str | None] = mapped_column(String(32))
    payment_id: Mapped[str | None] = mapped_column(String(32), index=True)
    refund_id: Mapped[str | None] = mapped_column(String(32))
    created: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class SandboxWebhookDelivery(Base):
    """One copy of an event sent to the webhook URL (duplicates are extra copies)."""

    __tablename__ = "sandbox_webhook_deliveries"
    __table_args__ = (
        Index("ix_sandbox_webhook_deliveries_key_id_id", "key_id", "id"),
        CheckConstraint(_in("status", DELIVERY_STATUSES), name="status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key_id: Mapped[str] = mapped_column(String(32), nullable=False)
    event_id: Mapped[str] = mapped_column(
        ForeignKey("sandbox_events.id", ondelete="CASCADE"), index=True, nullable=False
    )
    copy: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    url: Mapped[str] = mapped_column(String(2048), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    scheduled_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class SandboxWebhookAttempt(Base):
    __tablename__ = "sandbox_webhook_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[int] = mapped_column(
        # Named by hand: the conventional name is longer than PostgreSQL's 63 characters.
        ForeignKey(
            "sandbox_webhook_deliveries.id",
            ondelete="CASCADE",
            name="fk_sandbox_webhook_attempts_delivery_id",
        ),
        index=True,
        nullable=False,
    )
    attempt: Mapped[int] = mapped_column(Integer, nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)
    error: Mapped[str | None] = mapped_column(Text)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False)


class SandboxFault(Base):
    """The next `remaining` REST calls matching `method` + `path_prefix` misbehave."""

    __tablename__ = "sandbox_faults"
    __table_args__ = (
        Index("ix_sandbox_faults_key_id_created", "key_id", "created"),
        CheckConstraint("remaining >= 0", name="remaining"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    key_id: Mapped[str] = mapped_column(String(32), nullable=False)
    path_prefix: Mapped[str] = mapped_column(String(255), nullable=False)
    method: Mapped[str | None] = mapped_column(String(10))
    status: Mapped[int | None] = mapped_column(Integer)
    count: Mapped[int] = mapped_column(Integer, nullable=False)
    remaining: Mapped[int] = mapped_column(Integer, nullable=False)
    delay_ms: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    after: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    reset: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    retry_after: Mapped[int | None] = mapped_column(Integer)
    body: Mapped[str] = mapped_column(String(16), nullable=False)
    created: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class SandboxWebhookBehaviour(Base):
    """How the next events are delivered (POST /_sandbox/webhooks); no row = normally."""

    __tablename__ = "sandbox_webhook_behaviour"
    __table_args__ = (
        CheckConstraint("duplicate >= 0 AND (remaining IS NULL OR remaining >= 0)", name="counts"),
    )

    key_id: Mapped[str] = mapped_column(String(32), primary_key=True)
    duplicate: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    shuffle: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    drop: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    remaining: Mapped[int | None] = mapped_column(Integer)  # None: until changed or reset
    updated: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
