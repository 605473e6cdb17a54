"""Every query on platforms, their API keys and their learners."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.platform.models import Platform
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
