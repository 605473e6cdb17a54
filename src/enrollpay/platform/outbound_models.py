"""Outbound webhooks (SPEC §4.4): the endpoints we call, the messages we send them and every
delivery and HTTP attempt, following the Standard Webhooks spec (www.standardwebhooks.com).

Not to be confused with `webhook_events`, the inbox of Razorpay's webhooks to us."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    JSON,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from enrollpay.db.base import Base, TimestampMixin
from enrollpay.db.types import UTCDateTime
from enrollpay.kit.clock import utcnow


class EventType(StrEnum):
    enrollment_enrolled = "enrollment.enrolled"
    enrollment_refunded = "enrollment.refunded"
    enrollment_expired = "enrollment.expired"
    enrollment_cancelled = "enrollment.cancelled"
    payment_failed = "payment.failed"
    endpoint_test = "endpoint.test"  # sent only by an admin's test send, to one endpoint


class DeliveryStatus(StrEnum):
    pending = "pending"  # the next attempt is scheduled (or running)
    delivered = "delivered"  # the endpoint answered 2xx
    failed = "failed"  # every scheduled attempt failed, or the endpoint was disabled


DELIVERY_STATUS_SQL = "status IN ('pending', 'delivered', 'failed')"


class WebhookEndpoint(TimestampMixin, Base):
    """A URL that receives our events: a platform's (its learners' events only) or, without a
    platform, a global one (every learner's events)."""

    __tablename__ = "outbound_endpoints"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # whe_…
    platform_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("platforms.id"), index=True
    )
    url: Mapped[str] = mapped_column(String(2048), nullable=False)
    description: Mapped[str] = mapped_column(String(500), nullable=False, default="")
    # Event type names; empty means every type (endpoint.test is never subscribed to).
    event_types: Mapped[list[str]] = mapped_column(JSON, nullable=False, default=list)
    # `whsec_` + base64 of the HMAC key. Kept as is: signing needs the key itself.
    secret: Mapped[str] = mapped_column(String(100), nullable=False)
    # After a rotation, deliveries are also signed with the old secret until it expires, so a
    # receiver can switch over without rejecting anything.
    previous_secret: Mapped[str | None] = mapped_column(String(100))
    previous_secret_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    is_enabled: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    disabled_reason: Mapped[str | None] = mapped_column(String(500))
    # Since when every attempt has failed (None after any success): long enough disables it.
    failing_since: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookMessage(Base):
    """One event as sent: `id` is the `webhook-id` header and `body` the exact bytes signed and
    posted, the same on every attempt and to every endpoint."""

    __tablename__ = "outbound_messages"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # msg_…
    event_type: Mapped[str] = mapped_column(String(64), nullable=False)
    body: Mapped[str] = mapped_column(Text, nullable=False)
    enrollment_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("enrollments.id"), index=True
    )
    # The event's cause (`enrollment.enrolled:enr_…:pay_…`): a fact applied twice emits once.
    # NULL for test sends, which are new events every time.
    dedupe_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)


class WebhookDelivery(TimestampMixin, Base):
    """One message to one endpoint, with its retry state."""

    __tablename__ = "outbound_deliveries"
    __table_args__ = (
        UniqueConstraint("endpoint_id", "message_id"),
        Index("ix_outbound_deliveries_endpoint_id_status", "endpoint_id", "status"),
        Index("ix_outbound_deliveries_status", "status"),
        CheckConstraint(DELIVERY_STATUS_SQL, name="status"),
        CheckConstraint("attempts >= 0 AND consecutive_failures >= 0", name="counts"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # wdl_…
    endpoint_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("outbound_endpoints.id"), nullable=False
    )
    message_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("outbound_messages.id"), nullable=False, index=True
    )
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=DeliveryStatus.pending)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # HTTP tries, all
    # Failed tries since the delivery was (re)scheduled: the position in the retry schedule.
    consecutive_failures: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # The one job allowed to make the next attempt: a job superseded by a redelivery does
    # nothing. No foreign key: finished jobs are purged.
    job_id: Mapped[str | None] = mapped_column(String(32))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(String(500))
    delivered_at: Mapped[datetime | None] = mapped_column(UTCDateTime())


class WebhookAttempt(Base):
    """One HTTP try of a delivery."""

    __tablename__ = "outbound_attempts"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    delivery_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("outbound_deliveries.id"), nullable=False, index=True
    )
    attempted_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    status_code: Mapped[int | None] = mapped_column(Integer)  # None: no HTTP answer
    error: Mapped[str | None] = mapped_column(String(500))  # None: a 2xx
    duration_ms: Mapped[int] = mapped_column(Integer, nullable=False)
    response_excerpt: Mapped[str | None] = mapped_column(String(500))
