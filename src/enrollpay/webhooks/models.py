"""The webhook inbox: every correctly signed delivery, stored once per event id, exactly as
received, with what processing made of it."""

from __future__ import annotations

import base64
from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from enrollpay.db.base import Base
from enrollpay.db.types import UTCDateTime


class WebhookEventStatus(StrEnum):
    pending = "pending"  # stored; the processing job has not finished it (yet)
    processed = "processed"  # its facts (or refund, dispute) were applied; `outcome` says how
    ignored = "ignored"  # an event we do not use (yet); `outcome` says why
    failed = "failed"  # unusable body or payload, or processing gave up; see `last_error`


class BodyEncoding(StrEnum):
    utf8 = "utf-8"  # raw_body is the body decoded as UTF-8 (every real Razorpay body)
    base64 = "base64"  # the bytes were not UTF-8 text a database column can hold (or had NUL)


STATUS_SQL = "status IN ('pending', 'processed', 'ignored', 'failed')"
BODY_ENCODING_SQL = "body_encoding IN ('utf-8', 'base64')"


class WebhookEvent(Base):
    __tablename__ = "webhook_events"
    __table_args__ = (
        # The admin list: newest first, optionally by status or event name.
        Index("ix_webhook_events_status_id", "status", "id"),
        Index("ix_webhook_events_event_name", "event", "id"),
        CheckConstraint(STATUS_SQL, name="status"),
        CheckConstraint(BODY_ENCODING_SQL, name="body_encoding"),
        CheckConstraint("attempts >= 0 AND deliveries >= 1 AND replays >= 0", name="counts"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # whk_…
    # X-Razorpay-Event-Id, or `sha256:<hex of the body>` when the header was missing or
    # unusable (see service.py). Unique: a redelivery finds the row instead of adding one.
    event_id: Mapped[str] = mapped_column(String(100), nullable=False, unique=True)
    event_id_derived: Mapped[bool] = mapped_column(nullable=False, default=False)
    event: Mapped[str | None] = mapped_column(String(100))  # None: the body is not an envelope
    account_id: Mapped[str | None] = mapped_column(String(64))
    event_created_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    raw_body: Mapped[str] = mapped_column(Text, nullable=False)
    body_encoding: Mapped[str] = mapped_column(String(8), nullable=False, default=BodyEncoding.utf8)
    body_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    headers: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    received_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    deliveries: Mapped[int] = mapped_column(Integer, nullable=False, default=1)
    status: Mapped[str] = mapped_column(
        String(16), nullable=False, default=WebhookEventStatus.pending
    )
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    replays: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    outcome: Mapped[str | None] = mapped_column(Text)
    last_error: Mapped[str | None] = mapped_column(Text)
    processed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # Extracted for search; only well-formed Razorpay ids are kept.
    razorpay_payment_id: Mapped[str | None] = mapped_column(String(40), index=True)
    razorpay_order_id: Mapped[str | None] = mapped_column(String(40), index=True)

    def body_bytes(self) -> bytes:
        """The body exactly as it arrived."""
        if self.body_encoding == BodyEncoding.base64:
            return base64.b64decode(self.raw_body)
        return self.raw_body.encode("utf-8")
