"""The `email_messages` outbox: every email we decided to send, rendered at queue time."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import CheckConstraint, ForeignKey, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from enrollpay.db.base import Base, TimestampMixin
from enrollpay.db.types import UTCDateTime


class EmailStatus(StrEnum):
    queued = "queued"  # waiting for the send job (or its retry)
    sent = "sent"  # an SMTP server accepted it
    stored = "stored"  # no SMTP_URL: kept for the dev mailbox instead of sent
    dropped = "dropped"  # cancelled before sending (e.g. the payment was captured meanwhile)
    failed = "failed"  # refused permanently, or retries ran out


STATUS_SQL = "status IN ('queued', 'sent', 'stored', 'dropped', 'failed')"


class EmailMessage(TimestampMixin, Base):
    __tablename__ = "email_messages"
    __table_args__ = (
        CheckConstraint(STATUS_SQL, name="status"),
        CheckConstraint("attempts >= 0", name="attempts"),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # msg_…
    kind: Mapped[str] = mapped_column(String(50), nullable=False)
    to_address: Mapped[str] = mapped_column(String(320), nullable=False)
    subject: Mapped[str] = mapped_column(String(500), nullable=False)
    text_body: Mapped[str] = mapped_column(Text, nullable=False)
    html_body: Mapped[str] = mapped_column(Text, nullable=False)
    # The RFC 5322 Message-ID, fixed at queue time: a resend after a crash between the SMTP
    # server's acceptance and our commit carries the same id, so receivers can deduplicate.
    message_id: Mapped[str] = mapped_column(String(255), nullable=False)
    # What the email is about (`enrollment_confirmed:enr_…`): the same email is queued once.
    dedupe_key: Mapped[str] = mapped_column(String(255), nullable=False, unique=True)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=EmailStatus.queued)
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)  # SMTP attempts
    # The last SMTP error, or why the message was dropped.
    last_error: Mapped[str | None] = mapped_column(Text)
    # For the admin timeline of a learner or an enrollment.
    user_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("users.id"), index=True)
    enrollment_id: Mapped[str | None] = mapped_column(
        String(32), ForeignKey("enrollments.id"), index=True
    )
    sent_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # sent or stored
