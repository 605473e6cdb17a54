"""The per-request session: commits when the handler succeeds, rolls back when it raises.

`scope="function"` makes FastAPI finish the dependency (and so the commit) *before* the
response is sent: a client never sees 2xx for a write that then failed to commit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.db.engine import Database


def get_database(request: Request) -> Database:
    db: Database = request.app.state.db
    return db


async def get_session(request: Request) -> AsyncIterator[AsyncSession]:
    async with get_database(request).transaction() as session:
        yield session


SessionDep = Annotated[AsyncSession, Depends(get_session, scope="function")]
