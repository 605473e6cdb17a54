"""The `refunds` and `disputes` tables.

A refund is written (`requested`) before Razorpay hears of it, in the same transaction as the
job that sends it, and counts against the capture from then on; it stops counting only when it
`failed`. Each refund is for one Razorpay payment id (one captured attempt): that is what
Razorpay refunds, and a payment of ours may have more than one capture (SPEC §3)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from enrollpay.db.base import Base, TimestampMixin
from enrollpay.db.types import UTCDateTime


class RefundStatus(StrEnum):
    requested = "requested"  # ours, not (yet known to be) at Razorpay
    pending = "pending"  # Razorpay is attempting it
    processed = "processed"  # final
    failed = "failed"  # final; the amount is refundable again


class RefundKind(StrEnum):
    learner = "learner"
    admin = "admin"  # also refunds made outside enrollpay (the Razorpay Dashboard)
    automatic = "automatic"  # SPEC §3 automatic refunds


# The refunds that hold money of a capture: all but failed ones.
RESERVED_STATUSES: tuple[RefundStatus, ...] = (
    RefundStatus.requested,
    RefundStatus.pending,
    RefundStatus.processed,
)


class Refund(TimestampMixin, Base):
    __tablename__ = "refunds"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    payment_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("payments.id"), nullable=False, index=True
    )
    enrollment_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("enrollments.id"), nullable=False, index=True
    )
    razorpay_payment_id: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    razorpay_refund_id: Mapped[str | None] = mapped_column(String(40), unique=True)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)  # paise
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, index=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    reason: Mapped[str] = mapped_column(String(500), nullable=False)
    requested_by: Mapped[str | None] = mapped_column(String(32), ForeignKey("users.id"))
    # Sent as X-Refund-Idempotency: however often the refund is sent, Razorpay makes it once.
    # None only for refunds made outside enrollpay.
    idempotency_key: Mapped[str | None] = mapped_column(String(64), unique=True)
    failure_reason: Mapped[str | None] = mapped_column(String(500))
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    __table_args__ = (
        CheckConstraint("status IN ('requested', 'pending', 'processed', 'failed')", name="status"),
        CheckConstraint("kind IN ('learner', 'admin', 'automatic')", name="kind"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )


class Dispute(TimestampMixin, Base):
    """A Razorpay dispute (chargeback), as its latest event described it. Disputes of payments
    that are not ours are kept too (payment_id and enrollment_id null)."""

    __tablename__ = "disputes"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    razorpay_dispute_id: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)
    razorpay_payment_id: Mapped[str] = mapped_column(String(40), nullable=False, index=True)
    payment_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("payments.id"))
    enrollment_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("enrollments.id"), index=True
    )
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)  # paise
    amount_deducted: Mapped[int] = mapped_column(BigInteger, nullable=False, default=0)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    reason_code: Mapped[str | None] = mapped_column(String(100))
    # open, under_review, action_required, won, lost, closed (Razorpay's words).
    status: Mapped[str] = mapped_column(String(32), nullable=False, index=True)
    phase: Mapped[str | None] = mapped_column(String(32))
    respond_by: Mapped[datetime | None] = mapped_column(UTCDateTime())
    last_event: Mapped[str] = mapped_column(String(100), nullable=False)
    # The envelope's created_at: an older event arriving late changes nothing.
    last_event_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    raw: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    note: Mapped[str | None] = mapped_column(Text)  # what enrollpay did about it
