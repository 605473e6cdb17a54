"""Every query on outbound webhook endpoints, messages, deliveries and attempts.

The endpoint's health columns change through single guarded UPDATEs, so deliveries finishing
at the same time need no lock on the endpoint row."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Table, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.db.dialect import insert_ignore_duplicate
from enrollpay.payments.facts import FactStatus
from enrollpay.payments.models import PaymentAttempt
from enrollpay.platform.outbound_models import (
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)

messages: Table = WebhookMessage.__table__  # type: ignore[assignment]


# ---- endpoints --------------------------------------------------------------------------------


async def enabled_endpoints_for(
    session: AsyncSession, platform_id: str | None
) -> list[WebhookEndpoint]:
    """The endpoints a learner's events go to: the global ones and their platform's."""
    audience: ColumnElement[bool] = WebhookEndpoint.platform_id.is_(None)
    if platform_id is not None:
        audience = or_(audience, WebhookEndpoint.platform_id == platform_id)
    stmt = (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.is_enabled.is_(True), audience)
        .order_by(WebhookEndpoint.id)
    )
    return list((await session.execute(stmt)).scalars())


async def get_endpoint(session: AsyncSession, endpoint_id: str) -> WebhookEndpoint | None:
    return await session.get(WebhookEndpoint, endpoint_id)


async def list_endpoints(
    session: AsyncSession, *, platform_id: str | None, before_id: str | None, limit: int
) -> list[WebhookEndpoint]:
    """Newest first (ids sort by creation time), older than the cursor id."""
    stmt = select(WebhookEndpoint).order_by(WebhookEndpoint.id.desc()).limit(limit)
    if platform_id is not None:
        stmt = stmt.where(WebhookEndpoint.platform_id == platform_id)
    if before_id is not None:
        stmt = stmt.where(WebhookEndpoint.id < before_id)
    return list((await session.execute(stmt)).scalars())


async def mark_endpoint_failing(session: AsyncSession, endpoint_id: str, *, now: datetime) -> None:
    """Start the failing streak unless one is already running."""
    await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.failing_since.is_(None))
        .values(failing_since=now)
    )


async def mark_endpoint_healthy(session: AsyncSession, endpoint_id: str) -> None:
    await session.execute(
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.failing_since.is_not(None))
        .values(failing_since=None)
    )


async def disable_endpoint(
    session: AsyncSession,
    endpoint_id: str,
    *,
    reason: str,
    now: datetime,
    failing_since_before: datetime | None = None,
) -> bool:
    """Disable an enabled endpoint (only if it has been failing since before
    `failing_since_before`, when given); True when this call disabled it."""
    stmt = (
        update(WebhookEndpoint)
        .where(WebhookEndpoint.id == endpoint_id, WebhookEndpoint.is_enabled.is_(True))
        .values(is_enabled=False, disabled_reason=reason, updated_at=now)
        .returning(WebhookEndpoint.id)
    )
    if failing_since_before is not None:
        stmt = stmt.where(WebhookEndpoint.failing_since <= failing_since_before)
    return (await session.execute(stmt)).scalar_one_or_none() is not None


# ---- messages ---------------------------------------------------------------------------------


async def insert_message_unless_duplicate(
    session: AsyncSession, values: dict[str, Any]
) -> str | None:
    """The new message's id, or None when one with the same dedupe_key exists."""
    return await insert_ignore_duplicate(session, messages, values, returning=messages.c.id)


async def get_message(session: AsyncSession, message_id: str) -> WebhookMessage | None:
    return await session.get(WebhookMessage, message_id)


async def latest_failed_attempt(session: AsyncSession, payment_id: str) -> PaymentAttempt | None:
    stmt = (
        select(PaymentAttempt)
        .where(PaymentAttempt.payment_id == payment_id, PaymentAttempt.status == FactStatus.failed)
        .order_by(PaymentAttempt.created_at.desc(), PaymentAttempt.id.desc())
        .limit(1)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


# ---- deliveries and attempts ------------------------------------------------------------------


async def get_delivery(session: AsyncSession, delivery_id: str) -> WebhookDelivery | None:
    return await session.get(WebhookDelivery, delivery_id)


async def delivery_for_update(session: AsyncSession, delivery_id: str) -> WebhookDelivery | None:
    stmt = (
        select(WebhookDelivery)
        .where(WebhookDelivery.id == delivery_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_deliveries(
    session: AsyncSession,
    *,
    endpoint_id: str | None,
    status: str | None,
    event_type: str | None,
    before_id: str | None,
    limit: int,
) -> list[tuple[WebhookDelivery, str]]:
    """(delivery, its event type), newest first, older than the cursor id."""
    stmt = (
        select(WebhookDelivery, WebhookMessage.event_type)
        .join(WebhookMessage, WebhookMessage.id == WebhookDelivery.message_id)
        .order_by(WebhookDelivery.id.desc())
        .limit(limit)
    )
    if endpoint_id is not None:
        stmt = stmt.where(WebhookDelivery.endpoint_id == endpoint_id)
    if status is not None:
        stmt = stmt.where(WebhookDelivery.status == status)
    if event_type is not None:
        stmt = stmt.where(WebhookMessage.event_type == event_type)
    if before_id is not None:
        stmt = stmt.where(WebhookDelivery.id < before_id)
    return [(row[0], row[1]) for row in (await session.execute(stmt)).all()]


async def attempts_of_deliveries(
    session: AsyncSession, delivery_ids: Sequence[str]
) -> list[WebhookAttempt]:
    if not delivery_ids:
        return []
    stmt = (
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id.in_(delivery_ids))
        .order_by(WebhookAttempt.id)
    )
    return list((await session.execute(stmt)).scalars())
