"""Every query on the email outbox.

Status changes are single guarded UPDATEs with RETURNING (never rowcount: psycopg may report
-1), so a concurrent drop and send cannot both believe they won."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.db.dialect import insert_ignore_duplicate
from enrollpay.notifications.models import EmailMessage, EmailStatus

email_messages: Table = EmailMessage.__table__  # type: ignore[assignment]


async def insert_unless_duplicate(session: AsyncSession, values: dict[str, Any]) -> str | None:
    """The new row's id, or None when a message with the same dedupe_key exists."""
    return await insert_ignore_duplicate(
        session, email_messages, values, returning=email_messages.c.id
    )


async def get(session: AsyncSession, email_id: str) -> EmailMessage | None:
    return await session.get(EmailMessage, email_id)


async def begin_attempt(session: AsyncSession, email_id: str) -> EmailMessage | None:
    """Count an SMTP attempt on a still-queued message and return it; None when it is not
    queued (sent, stored, dropped, failed) or does not exist."""
    stmt = (
        update(EmailMessage)
        .where(EmailMessage.id == email_id, EmailMessage.status == EmailStatus.queued)
        .values(attempts=EmailMessage.attempts + 1)
        .returning(EmailMessage)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def mark_stored(session: AsyncSession, email_id: str, *, now: datetime) -> bool:
    stmt = (
        update(email_messages)
        .where(email_messages.c.id == email_id, email_messages.c.status == EmailStatus.queued)
        .values(status=EmailStatus.stored, sent_at=now, updated_at=now)
        .returning(email_messages.c.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def mark_sent(session: AsyncSession, email_id: str, *, now: datetime) -> None:
    """Unconditional: the SMTP server has the message, so the row says so, even if a drop
    committed while the send was under way."""
    await session.execute(
        update(email_messages)
        .where(email_messages.c.id == email_id)
        .values(status=EmailStatus.sent, sent_at=now, last_error=None, updated_at=now)
    )


async def record_failure(
    session: AsyncSession, email_id: str, *, error: str, give_up: bool, now: datetime
) -> None:
    values: dict[str, Any] = {"last_error": error, "updated_at": now}
    if give_up:
        values["status"] = EmailStatus.failed
    await session.execute(
        update(email_messages)
        .where(email_messages.c.id == email_id, email_messages.c.status == EmailStatus.queued)
        .values(**values)
    )


async def drop(session: AsyncSession, dedupe_key: str, *, reason: str, now: datetime) -> bool:
    stmt = (
        update(email_messages)
        .where(
            email_messages.c.dedupe_key == dedupe_key,
            email_messages.c.status == EmailStatus.queued,
        )
        .values(status=EmailStatus.dropped, last_error=reason, updated_at=now)
        .returning(email_messages.c.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def list_messages(
    session: AsyncSession, *, before_id: str | None, limit: int
) -> list[EmailMessage]:
    """Newest first (ids sort by creation time), older than the cursor id."""
    stmt = select(EmailMessage).order_by(EmailMessage.id.desc()).limit(limit)
    if before_id is not None:
        stmt = stmt.where(EmailMessage.id < before_id)
    return list((await session.execute(stmt)).scalars())
