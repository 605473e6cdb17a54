"""Every query on the webhook inbox."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.db.dialect import insert_ignore_duplicate
from enrollpay.jobs.models import Job
from enrollpay.webhooks.models import WebhookEvent, WebhookEventStatus

webhook_events: Table = WebhookEvent.__table__  # type: ignore[assignment]


async def insert_unless_duplicate(session: AsyncSession, values: dict[str, Any]) -> str | None:
    """INSERT … ON CONFLICT DO NOTHING: the new row's id, or None when a row with the same
    event_id exists (a concurrent insert waits for the first to commit, then finds it)."""
    return await insert_ignore_duplicate(
        session, webhook_events, values, returning=webhook_events.c.id
    )


async def count_redelivery(session: AsyncSession, event_id: str, body_sha256: str) -> str | None:
    """Counts one more delivery of the stored event with this id and these bytes: its inbox
    id, or None when no row has both (the id was stored with other bytes)."""
    connection = await session.connection()
    result = await connection.execute(_COUNT_REDELIVERY, {"e": event_id, "h": body_sha256})
    return result.scalar_one_or_none()


_COUNT_REDELIVERY = (
    update(webhook_events)
    .where(
        webhook_events.c.event_id == bindparam("e"),
        webhook_events.c.body_sha256 == bindparam("h"),
    )
    .values(deliveries=webhook_events.c.deliveries + 1)
    .returning(webhook_events.c.id)
)


async def get_event(
    session: AsyncSession, inbox_id: str, *, for_update: bool = False
) -> WebhookEvent | None:
    """`for_update` locks the row on PostgreSQL so two runs for one event (a retried job and a
    replay) apply one after the other; SQLite's write transaction already serialises them."""
    stmt = select(WebhookEvent).where(WebhookEvent.id == inbox_id)
    if for_update:
        stmt = stmt.with_for_update()
    result = await session.execute(stmt)
    return result.scalar_one_or_none()


async def list_events(
    session: AsyncSession,
    *,
    event: str | None = None,
    status: str | None = None,
    razorpay_payment_id: str | None = None,
    razorpay_order_id: str | None = None,
    before_id: str | None = None,
    limit: int,
) -> list[WebhookEvent]:
    """Newest first (ids sort by time of receipt), older than the cursor id."""
    stmt = select(WebhookEvent).order_by(WebhookEvent.id.desc()).limit(limit)
    if event is not None:
        stmt = stmt.where(WebhookEvent.event == event)
    if status is not None:
        stmt = stmt.where(WebhookEvent.status == status)
    if razorpay_payment_id is not None:
        stmt = stmt.where(WebhookEvent.razorpay_payment_id == razorpay_payment_id)
    if razorpay_order_id is not None:
        stmt = stmt.where(WebhookEvent.razorpay_order_id == razorpay_order_id)
    if before_id is not None:
        stmt = stmt.where(WebhookEvent.id < before_id)
    result = await session.execute(stmt)
    return list(result.scalars())


async def stale_pending(
    session: AsyncSession, *, received_before: datetime, limit: int
) -> list[tuple[WebhookEvent, str | None]]:
    """Pending rows received before the cutoff, each with the status of the job processing it
    now (None: no such job)."""
    rows = list(
        (
            await session.execute(
                select(WebhookEvent)
                .where(
                    WebhookEvent.status == WebhookEventStatus.pending,
                    WebhookEvent.received_at < received_before,
                )
                .order_by(WebhookEvent.received_at)
                .limit(limit)
            )
        ).scalars()
    )
    keys = {processing_job_key(row.id, row.replays): row for row in rows}
    statuses = dict(
        (
            await session.execute(
                select(Job.dedupe_key, Job.status).where(Job.dedupe_key.in_(list(keys)))
            )
        ).all()
    )
    return [(row, statuses.get(key)) for key, row in keys.items()]


def processing_job_key(inbox_id: str, replays: int) -> str:
    """The dedupe key of the job that processes a row: its first run, or its latest replay."""
    return f"webhook:{inbox_id}" if replays == 0 else f"webhook:{inbox_id}:replay:{replays}"
