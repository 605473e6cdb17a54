"""`risk_flags` (a velocity rule tripped) and `payment_attempt_log` (every checkout call).

A flag's `subject` is a user id, or `ip:` + HMAC-SHA256(SECRET_KEY, address) for rules about
a client address: flags outlive their window and are read by many, so they keep no raw address.
The audit log keeps the raw address on purpose: fraud review needs to compare it with the
gateway's and a bank's records. It never holds card data (we never see any: Checkout does)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from enrollpay.db.base import Base
from enrollpay.db.types import UTCDateTime
from enrollpay.kit.clock import utcnow


class RiskFlag(Base):
    __tablename__ = "risk_flags"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(40), nullable=False)
    subject: Mapped[str] = mapped_column(String(80), nullable=False)
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    reviewed_by: Mapped[str | None] = mapped_column(String(32), ForeignKey("users.id"))

    __table_args__ = (
        Index("ix_risk_flags_kind_subject_created_at", "kind", "subject", "created_at"),
    )


class PaymentAttemptLog(Base):
    __tablename__ = "payment_attempt_log"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    user_id: Mapped[str] = mapped_column(String(32), ForeignKey("users.id"), nullable=False)
    # As asked for: it may name no enrollment of ours (a guessed id), so no foreign key.
    enrollment_id: Mapped[str | None] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(16), nullable=False)  # initialize|verify|retry
    client_ip: Mapped[str] = mapped_column(String(64), nullable=False)
    user_agent: Mapped[str | None] = mapped_column(String(300))
    amount: Mapped[int | None] = mapped_column(BigInteger)  # minor units, when known
    currency: Mapped[str | None] = mapped_column(String(3))
    outcome: Mapped[str] = mapped_column(String(64), nullable=False)  # success or an error code
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)

    __table_args__ = (
        Index("ix_payment_attempt_log_user_id", "user_id"),
        Index("ix_payment_attempt_log_enrollment_id", "enrollment_id"),
    )
