"""Every query on idempotency keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Table, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.db.dialect import insert_ignore_duplicate
from enrollpay.idempotency.models import IdempotencyKey

idempotency_keys: Table = IdempotencyKey.__table__  # type: ignore[assignment]


async def insert_unless_taken(session: AsyncSession, values: dict[str, Any]) -> bool:
    """True when this (user, key) row was inserted; False when it already existed."""
    inserted = await insert_ignore_duplicate(
        session, idempotency_keys, values, returning=IdempotencyKey.id
    )
    return inserted is not None


async def get(
    session: AsyncSession, user_id: str, key: str, *, lock: bool = False
) -> IdempotencyKey:
    stmt = select(IdempotencyKey).where(
        IdempotencyKey.user_id == user_id, IdempotencyKey.key == key
    )
    if lock:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one()


async def remove(session: AsyncSession, user_id: str, key: str) -> None:
    await session.execute(
        delete(IdempotencyKey).where(IdempotencyKey.user_id == user_id, IdempotencyKey.key == key)
    )


async def remove_created_before(session: AsyncSession, cutoff: datetime, *, limit: int) -> int:
    ids = list(
        (
            await session.execute(
                select(IdempotencyKey.id).where(IdempotencyKey.created_at < cutoff).limit(limit)
            )
        ).scalars()
    )
    if ids:
        await session.execute(delete(IdempotencyKey).where(IdempotencyKey.id.in_(ids)))
    return len(ids)
