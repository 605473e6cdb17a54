"""Every query on the webhook inbox."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.db.dialect import insert_ignore_duplicate
from enrollpay.webhooks.models import WebhookEvent

webhook_events: Table = WebhookEvent.__table__  # type: ignore[assignment]


async def insert_unless_duplicate(session: AsyncSession, values: dict[str, Any]) -> str | None:
    """INSERT … ON CONFLICT DO NOTHING: the new row's id, or None when a row with the same
    event_id exists (a concurrent insert waits for the first to commit, then finds it)."""
    return await insert_ignore_duplicate(
        session, webhook_events, values, returning=webhook_events.c.id
    )


async def body_hash_of(session: AsyncSession, event_id: str) -> str | None:
    result = await session.execute(
        select(WebhookEvent.body_sha256).where(WebhookEvent.event_id == event_id)
    )
    return result.scalar_one_or_none()


async def count_redelivery(session: AsyncSession, event_id: str) -> None:
    await session.execute(
        update(webhook_events)
        .where(webhook_events.c.event_id == event_id)
        .values(deliveries=webhook_events.c.deliveries + 1)
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


async def get_by_event_id(session: AsyncSession, event_id: str) -> WebhookEvent | None:
    result = await session.execute(select(WebhookEvent).where(WebhookEvent.event_id == event_id))
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
