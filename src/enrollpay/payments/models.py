"""Our payments (one per gateway order), their attempts (one per Razorpay payment id) and the
log of every gateway fact seen (payment events)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from enrollpay.db.base import Base, TimestampMixin
from enrollpay.db.types import UTCDateTime
from enrollpay.payments.state import PaymentStatus


class Payment(TimestampMixin, Base):
    __tablename__ = "payments"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    enrollment_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("enrollments.id"), nullable=False, index=True
    )
    user_id: Mapped[str] = mapped_column(String(32), ForeignKey("users.id"), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)  # paise, what the order asks
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    status: Mapped[str] = mapped_column(String(24), nullable=False, default=PaymentStatus.created)
    # Sent as the order's receipt (≤ 40 characters): how a retried create finds its order.
    receipt: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    razorpay_order_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    amount_captured: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    amount_refunded: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    superseded_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    captured_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # While set and in the future (and no order id yet), an initialize is creating this
    # payment's order: others answer 409 request_in_progress instead of creating a second one.
    order_lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Where the hosted payment page sends the learner afterwards (checked against
    # ALLOWED_REDIRECT_HOSTS at initialize).
    success_url: Mapped[str | None] = mapped_column(String(2048))
    cancel_url: Mapped[str | None] = mapped_column(String(2048))
    notes: Mapped[dict[str, str]] = mapped_column(JSON, nullable=False, default=dict)
    # When reconciliation next asks the gateway about this order (None: never again); checks
    # grow rarer as the order ages (payments.reconcile).
    reconcile_after: Mapped[datetime | None] = mapped_column(UTCDateTime(), index=True)
    reconcile_checks: Mapped[int] = mapped_column(Integer, nullable=False, default=0)


class PaymentAttempt(TimestampMixin, Base):
    """One Razorpay payment id: Razorpay allows several attempts per order."""

    __tablename__ = "payment_attempts"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    payment_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("payments.id"), nullable=False, index=True
    )
    razorpay_payment_id: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    method: Mapped[str | None] = mapped_column(String(32))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error_description: Mapped[str | None] = mapped_column(String(500))
    error_source: Mapped[str | None] = mapped_column(String(64))
    error_step: Mapped[str | None] = mapped_column(String(64))
    error_reason: Mapped[str | None] = mapped_column(String(64))


class PaymentEvent(Base):
    """Every gateway fact about one of our payments, applied or not (the audit trail)."""

    __tablename__ = "payment_events"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    payment_id: Mapped[str] = mapped_column(String(32), ForeignKey("payments.id"), nullable=False)
    razorpay_payment_id: Mapped[str] = mapped_column(String(40), nullable=False)
    source: Mapped[str] = mapped_column(String(16), nullable=False)  # verify|webhook|reconcile
    status: Mapped[str] = mapped_column(String(16), nullable=False)  # what the gateway said
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    outcome: Mapped[str] = mapped_column(String(16), nullable=False)  # applied|duplicate|stale
    note: Mapped[str] = mapped_column(Text, nullable=False, default="")
    reference: Mapped[str | None] = mapped_column(String(100))  # e.g. the webhook event id
    actions: Mapped[list[dict[str, Any]]] = mapped_column(JSON, nullable=False, default=list)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (Index("ix_payment_events_payment_id_created_at", "payment_id", "created_at"),)
