"""Every query on platforms, their API keys and their learners."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.platform.models import ApiKey, Platform
from enrollpay.users.models import User


async def get_platform(session: AsyncSession, platform_id: str) -> Platform | None:
    return await session.get(Platform, platform_id)


async def platform_by_name(session: AsyncSession, name: str) -> Platform | None:
    result = await session.execute(select(Platform).where(Platform.name == name))
    return result.scalar_one_or_none()


async def platform_by_sso_issuer(session: AsyncSession, issuer: str) -> Platform | None:
    result = await session.execute(select(Platform).where(Platform.sso_issuer == issuer))
    return result.scalar_one_or_none()


async def learner_by_external_id(
    session: AsyncSession, platform_id: str, external_id: str
) -> User | None:
    stmt = select(User).where(User.platform_id == platform_id, User.external_id == external_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def list_platforms(
    session: AsyncSession, *, after_id: str | None, limit: int
) -> list[Platform]:
    stmt = select(Platform).order_by(Platform.id).limit(limit)
    if after_id is not None:
        stmt = stmt.where(Platform.id > after_id)
    return list((await session.execute(stmt)).scalars())


async def get_api_key(session: AsyncSession, key_id: str) -> ApiKey | None:
    return await session.get(ApiKey, key_id)


async def api_key_by_digest(session: AsyncSession, digest: str) -> tuple[ApiKey, Platform] | None:
    stmt = (
        select(ApiKey, Platform)
        .join(Platform, Platform.id == ApiKey.platform_id)
        .where(ApiKey.secret_hash == digest)
    )
    row = (await session.execute(stmt)).one_or_none()
    return (row[0], row[1]) if row is not None else None


async def list_api_keys(
    session: AsyncSession, platform_id: str, *, after_id: str | None, limit: int
) -> list[ApiKey]:
    stmt = select(ApiKey).where(ApiKey.platform_id == platform_id).order_by(ApiKey.id).limit(limit)
    if after_id is not None:
        stmt = stmt.where(ApiKey.id > after_id)
    return list((await session.execute(stmt)).scalars())


async def mark_api_key_used(
    session: AsyncSession, key_id: str, *, now: datetime, unless_since: datetime
) -> None:
    """Set last_used_at unless a concurrent request already did after `unless_since`."""
    stmt = (
        update(ApiKey)
        .where(
            ApiKey.id == key_id,
            or_(ApiKey.last_used_at.is_(None), ApiKey.last_used_at < unless_since),
        )
        .values(last_used_at=now)
        .execution_options(synchronize_session=False)
    )
    await session.execute(stmt)
