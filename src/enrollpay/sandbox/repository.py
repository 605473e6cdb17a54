"""Every query on the sandbox tables.

Rows that a state change depends on are read `FOR UPDATE` (PostgreSQL row locks; on SQLite the
write transaction is BEGIN IMMEDIATE, so changes are serialised anyway). Lock order is always
payment → order and refund → payment, so concurrent changes cannot deadlock.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from sqlalchemy import Select, and_, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.db.dialect import insert_ignore_duplicate
from enrollpay.sandbox.models import (
    SandboxEvent,
    SandboxFault,
    SandboxOrder,
    SandboxPayment,
    SandboxRefund,
    SandboxRefundIdempotencyKey,
    SandboxWebhookAttempt,
    SandboxWebhookBehaviour,
    SandboxWebhookDelivery,
)

T = TypeVar("T")


@dataclass(frozen=True)
class Page:
    """`from`/`to` (Unix seconds, inclusive), `count`, `skip`: Razorpay's list parameters."""

    count: int = 10
    skip: int = 0
    from_time: datetime | None = None
    to_time: datetime | None = None


def _paged(stmt: Select[Any], created: Any, page: Page) -> Select[Any]:
    if page.from_time is not None:
        stmt = stmt.where(created >= page.from_time)
    if page.to_time is not None:
        stmt = stmt.where(created < page.to_time)
    return stmt.order_by(created.desc()).offset(page.skip).limit(page.count)


async def _one(
    session: AsyncSession, model: type[T], key_id: str, id_: str, *, lock: bool
) -> T | None:
    stmt = select(model).where(model.id == id_, model.key_id == key_id)  # type: ignore[attr-defined]
    if lock:
        stmt = stmt.with_for_update()
    stmt = stmt.execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


# ---- orders -------------------------------------------------------------------------------------


async def insert_order(session: AsyncSession, values: dict[str, Any]) -> bool:
    """False when the key already has an order with this receipt (the unique constraint)."""
    table = SandboxOrder.__table__
    inserted = await insert_ignore_duplicate(session, table, values, returning=table.c.id)  # type: ignore[arg-type]
    return inserted is not None


async def get_order(
    session: AsyncSession, key_id: str, order_id: str, *, lock: bool = False
) -> SandboxOrder | None:
    return await _one(session, SandboxOrder, key_id, order_id, lock=lock)


async def list_orders(
    session: AsyncSession,
    key_id: str,
    page: Page,
    *,
    receipt: str | None = None,
    authorized: bool | None = None,
) -> list[SandboxOrder]:
    stmt = select(SandboxOrder).where(SandboxOrder.key_id == key_id)
    if receipt is not None:
        stmt = stmt.where(SandboxOrder.receipt == receipt)
    if authorized is not None:
        reached_authorization = exists().where(
            SandboxPayment.order_id == SandboxOrder.id,
            SandboxPayment.status.in_(("authorized", "captured", "refunded")),
        )
        stmt = stmt.where(reached_authorization if authorized else ~reached_authorization)
    rows = await session.execute(_paged(stmt, SandboxOrder.created, page))
    return list(rows.scalars())


# ---- payments -----------------------------------------------------------------------------------


async def get_payment(
    session: AsyncSession, key_id: str, payment_id: str, *, lock: bool = False
) -> SandboxPayment | None:
    return await _one(session, SandboxPayment, key_id, payment_id, lock=lock)


async def list_payments(
    session: AsyncSession, key_id: str, page: Page, *, order_id: str | None = None
) -> list[SandboxPayment]:
    stmt = select(SandboxPayment).where(SandboxPayment.key_id == key_id)
    if order_id is not None:
        stmt = stmt.where(SandboxPayment.order_id == order_id)
    rows = await session.execute(_paged(stmt, SandboxPayment.created, page))
    return list(rows.scalars())


# ---- refunds ------------------------------------------------------------------------------------


async def get_refund(
    session: AsyncSession, key_id: str, refund_id: str, *, lock: bool = False
) -> SandboxRefund | None:
    return await _one(session, SandboxRefund, key_id, refund_id, lock=lock)


async def list_refunds(
    session: AsyncSession, key_id: str, page: Page, *, payment_id: str | None = None
) -> list[SandboxRefund]:
    stmt = select(SandboxRefund).where(SandboxRefund.key_id == key_id)
    if payment_id is not None:
        stmt = stmt.where(SandboxRefund.payment_id == payment_id)
    rows = await session.execute(_paged(stmt, SandboxRefund.created, page))
    return list(rows.scalars())


async def claim_idempotency_key(
    session: AsyncSession, key_id: str, key: str, request_hash: str, now: datetime
) -> bool:
    """True when this request is the first with the key."""
    table = SandboxRefundIdempotencyKey.__table__
    values = {
        "key_id": key_id,
        "idempotency_key": key,
        "request_hash": request_hash,
        "refund_id": None,
        "created": now,
    }
    claimed = await insert_ignore_duplicate(session, table, values, returning=table.c.key_id)  # type: ignore[arg-type]
    return claimed is not None


async def get_idempotency_key(
    session: AsyncSession, key_id: str, key: str, *, lock: bool = False
) -> SandboxRefundIdempotencyKey | None:
    stmt = select(SandboxRefundIdempotencyKey).where(
        SandboxRefundIdempotencyKey.key_id == key_id,
        SandboxRefundIdempotencyKey.idempotency_key == key,
    )
    if lock:
        stmt = stmt.with_for_update()
    stmt = stmt.execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def release_idempotency_key(session: AsyncSession, key_id: str, key: str) -> None:
    """Forget an in-flight claim whose request failed, so a retry is evaluated afresh."""
    await session.execute(
        delete(SandboxRefundIdempotencyKey).where(
            SandboxRefundIdempotencyKey.key_id == key_id,
            SandboxRefundIdempotencyKey.idempotency_key == key,
            SandboxRefundIdempotencyKey.refund_id.is_(None),
        )
    )


async def retake_stale_idempotency_key(
    session: AsyncSession, key_id: str, key: str, *, older_than: datetime, now: datetime
) -> bool:
    """An in-flight claim whose request died (never finished) may be taken over."""
    stmt = (
        update(SandboxRefundIdempotencyKey)
        .where(
            SandboxRefundIdempotencyKey.key_id == key_id,
            SandboxRefundIdempotencyKey.idempotency_key == key,
            SandboxRefundIdempotencyKey.refund_id.is_(None),
            SandboxRefundIdempotencyKey.created < older_than,
        )
        .values(created=now)
        .returning(SandboxRefundIdempotencyKey.key_id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


# ---- events and deliveries ----------------------------------------------------------------------


async def get_behaviour(
    session: AsyncSession, key_id: str, *, lock: bool = False
) -> SandboxWebhookBehaviour | None:
    stmt = select(SandboxWebhookBehaviour).where(SandboxWebhookBehaviour.key_id == key_id)
    if lock:
        stmt = stmt.with_for_update()
    stmt = stmt.execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def delete_behaviour(session: AsyncSession, key_id: str) -> None:
    await session.execute(
        delete(SandboxWebhookBehaviour).where(SandboxWebhookBehaviour.key_id == key_id)
    )


async def get_delivery(
    session: AsyncSession, delivery_id: int
) -> tuple[SandboxWebhookDelivery, SandboxEvent] | None:
    stmt = (
        select(SandboxWebhookDelivery, SandboxEvent)
        .join(SandboxEvent, SandboxEvent.id == SandboxWebhookDelivery.event_id)
        .where(SandboxWebhookDelivery.id == delivery_id)
        .execution_options(populate_existing=True)
    )
    row = (await session.execute(stmt)).one_or_none()
    return (row[0], row[1]) if row else None


async def list_deliveries(
    session: AsyncSession,
    key_id: str,
    *,
    event: str | None = None,
    event_id: str | None = None,
    status: str | None = None,
    payment_id: str | None = None,
    order_id: str | None = None,
    limit: int = 1000,
) -> list[tuple[SandboxWebhookDelivery, SandboxEvent]]:
    stmt = (
        select(SandboxWebhookDelivery, SandboxEvent)
        .join(SandboxEvent, SandboxEvent.id == SandboxWebhookDelivery.event_id)
        .where(SandboxWebhookDelivery.key_id == key_id)
    )
    filters = {
        SandboxEvent.event: event,
        SandboxEvent.id: event_id,
        SandboxWebhookDelivery.status: status,
        SandboxEvent.payment_id: payment_id,
        SandboxEvent.order_id: order_id,
    }
    conditions = [column == value for column, value in filters.items() if value is not None]
    if conditions:
        stmt = stmt.where(and_(*conditions))
    rows = await session.execute(stmt.order_by(SandboxWebhookDelivery.id).limit(limit))
    return [(delivery, event_row) for delivery, event_row in rows.all()]


async def attempts_for(
    session: AsyncSession, delivery_ids: list[int]
) -> dict[int, list[SandboxWebhookAttempt]]:
    if not delivery_ids:
        return {}
    rows = await session.execute(
        select(SandboxWebhookAttempt)
        .where(SandboxWebhookAttempt.delivery_id.in_(delivery_ids))
        .order_by(SandboxWebhookAttempt.id)
    )
    result: dict[int, list[SandboxWebhookAttempt]] = {}
    for attempt in rows.scalars():
        result.setdefault(attempt.delivery_id, []).append(attempt)
    return result


async def list_events(
    session: AsyncSession, key_id: str, *, limit: int = 1000
) -> list[SandboxEvent]:
    rows = await session.execute(
        select(SandboxEvent)
        .where(SandboxEvent.key_id == key_id)
        .order_by(SandboxEvent.created)
        .limit(limit)
    )
    return list(rows.scalars())


# ---- faults -------------------------------------------------------------------------------------


async def active_faults(session: AsyncSession, key_id: str) -> list[SandboxFault]:
    rows = await session.execute(
        select(SandboxFault)
        .where(SandboxFault.key_id == key_id, SandboxFault.remaining > 0)
        .order_by(SandboxFault.created, SandboxFault.id)
    )
    return list(rows.scalars())


async def take_fault(session: AsyncSession, fault_id: str) -> bool:
    """Use one of the fault's remaining calls; False when another request took the last one."""
    stmt = (
        update(SandboxFault)
        .where(SandboxFault.id == fault_id, SandboxFault.remaining > 0)
        .values(remaining=SandboxFault.remaining - 1)
        .returning(SandboxFault.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def list_faults(session: AsyncSession, key_id: str) -> list[SandboxFault]:
    rows = await session.execute(
        select(SandboxFault)
        .where(SandboxFault.key_id == key_id)
        .order_by(SandboxFault.created, SandboxFault.id)
    )
    return list(rows.scalars())


async def delete_faults(session: AsyncSession, key_id: str) -> None:
    await session.execute(delete(SandboxFault).where(SandboxFault.key_id == key_id))


# ---- reset --------------------------------------------------------------------------------------


async def delete_all_data(session: AsyncSession, key_id: str) -> None:
    """Orders, payments, refunds, events and deliveries of this key (children first)."""
    attempt_ids = select(SandboxWebhookDelivery.id).where(SandboxWebhookDelivery.key_id == key_id)
    await session.execute(
        delete(SandboxWebhookAttempt).where(SandboxWebhookAttempt.delivery_id.in_(attempt_ids))
    )
    for model in (
        SandboxWebhookDelivery,
        SandboxEvent,
        SandboxRefundIdempotencyKey,
        SandboxRefund,
        SandboxPayment,
        SandboxOrder,
    ):
        await session.execute(delete(model).where(model.key_id == key_id))


async def count_rows(session: AsyncSession, model: Any, key_id: str) -> int:
    stmt = select(func.count()).select_from(model).where(model.key_id == key_id)
    return int((await session.execute(stmt)).scalar_one())
