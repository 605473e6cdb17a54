"""Every query on users."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.users.models import User


def normalize_email(email: str) -> str:
    # The whole address is lower-cased: mailbox case-sensitivity is theory, duplicate accounts
    # from "Asha@x.in" vs "asha@x.in" are practice.
    return email.strip().lower()


async def get_by_id(session: AsyncSession, user_id: str) -> User | None:
    return await session.get(User, user_id)


async def get_by_email(session: AsyncSession, email: str) -> User | None:
    result = await session.execute(select(User).where(User.email == normalize_email(email)))
    return result.scalar_one_or_none()


async def get_for_update(session: AsyncSession, user_id: str) -> User | None:
    """Locked and re-read, so concurrent uses of one single-use link apply one after another
    (on SQLite the write transaction already serialises them)."""
    stmt = (
        select(User)
        .where(User.id == user_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one_or_none()
