"""The few constructs that differ between SQLite and PostgreSQL, in one place."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession


async def insert_ignore_duplicate(
    session: AsyncSession, table: Table, values: dict[str, Any], returning: Any
) -> Any | None:
    """INSERT … ON CONFLICT DO NOTHING RETURNING <col>: the value when inserted, else None.

    Never use rowcount to tell: psycopg reports -1 for some statements."""
    insert = pg_insert if session.get_bind().dialect.name == "postgresql" else sqlite_insert
    stmt = insert(table).values(**values).on_conflict_do_nothing().returning(returning)
    result = await session.execute(stmt)
    return result.scalar_one_or_none()
