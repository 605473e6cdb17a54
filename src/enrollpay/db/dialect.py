"""The few constructs that differ between SQLite and PostgreSQL, in one place."""

from __future__ import annotations

import functools
from typing import Any

from sqlalchemy import ColumnElement, Table
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.dml import Insert


async def insert_ignore_duplicate(
    session: AsyncSession, table: Table, values: dict[str, Any], returning: Any
) -> Any | None:
    """INSERT … ON CONFLICT DO NOTHING RETURNING <col>: the value when inserted, else None.

    Never use rowcount to tell: psycopg reports -1 for some statements. The values go in as
    parameters of one statement built once, so SQLAlchemy compiles it once (building it with
    `.values(...)` on every call cost as much CPU as running it)."""
    stmt = insert_ignore_duplicate_statement(session.get_bind().dialect.name, table, returning)
    connection = await session.connection()
    result = await connection.execute(stmt, values)
    return result.scalar_one_or_none()


@functools.cache
def insert_ignore_duplicate_statement(
    dialect: str, table: Table, returning: ColumnElement[Any]
) -> Insert:
    """The statement insert_ignore_duplicate runs, built once per dialect, table and column."""
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    return insert(table).on_conflict_do_nothing().returning(returning)
