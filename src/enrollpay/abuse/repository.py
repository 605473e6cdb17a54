"""Every query of the abuse package."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.abuse.models import PaymentAttemptLog, RiskFlag
from enrollpay.payments.models import Payment, PaymentAttempt
from enrollpay.payments.state import PaymentStatus


async def failed_attempts_since(session: AsyncSession, user_id: str, since: datetime) -> int:
    """Razorpay payment attempts of the learner's orders that failed, first seen since `since`."""
    count = await session.scalar(
        select(func.count())
        .select_from(PaymentAttempt)
        .join(Payment, Payment.id == PaymentAttempt.payment_id)
        .where(
            Payment.user_id == user_id,
            PaymentAttempt.status == PaymentStatus.failed.value,
            PaymentAttempt.created_at >= since,
        )
    )
    return int(count or 0)


async def flag_since(session: AsyncSession, kind: str, subject: str, since: datetime) -> bool:
    """Whether an unreviewed flag of this kind and subject was raised since `since`."""
    found = await session.scalar(
        select(RiskFlag.id)
        .where(
            RiskFlag.kind == kind,
            RiskFlag.subject == subject,
            RiskFlag.created_at >= since,
            RiskFlag.reviewed_at.is_(None),
        )
        .limit(1)
    )
    return found is not None


async def list_flags(
    session: AsyncSession,
    *,
    reviewed: bool | None,
    kind: str | None,
    before_id: str | None,
    limit: int,
) -> list[RiskFlag]:
    stmt = select(RiskFlag).order_by(RiskFlag.id.desc()).limit(limit)
    if reviewed is not None:
        column = RiskFlag.reviewed_at
        stmt = stmt.where(column.is_not(None) if reviewed else column.is_(None))
    if kind is not None:
        stmt = stmt.where(RiskFlag.kind == kind)
    if before_id is not None:
        stmt = stmt.where(RiskFlag.id < before_id)
    return list((await session.execute(stmt)).scalars())


async def get_flag(
    session: AsyncSession, flag_id: str, *, for_update: bool = False
) -> RiskFlag | None:
    return await session.get(RiskFlag, flag_id, with_for_update=for_update)


async def list_attempts(
    session: AsyncSession,
    *,
    user_id: str | None,
    enrollment_id: str | None,
    before_id: str | None,
    limit: int,
) -> list[PaymentAttemptLog]:
    stmt = select(PaymentAttemptLog).order_by(PaymentAttemptLog.id.desc()).limit(limit)
    if user_id is not None:
        stmt = stmt.where(PaymentAttemptLog.user_id == user_id)
    if enrollment_id is not None:
        stmt = stmt.where(PaymentAttemptLog.enrollment_id == enrollment_id)
    if before_id is not None:
        stmt = stmt.where(PaymentAttemptLog.id < before_id)
    return list((await session.execute(stmt)).scalars())
