"""Every query on refunds and disputes (and the admins a failed refund alerts)."""

from __future__ import annotations

from sqlalchemy import func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.refunds.models import RESERVED_STATUSES, Dispute, Refund
from enrollpay.users.models import Role, User


async def get_refund(
    session: AsyncSession, refund_id: str, *, for_update: bool = False
) -> Refund | None:
    """With `for_update`: locked and re-read (take the enrollment's and payment's locks first)."""
    stmt = select(Refund).where(Refund.id == refund_id)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def refund_by_razorpay_id(session: AsyncSession, razorpay_refund_id: str) -> Refund | None:
    stmt = select(Refund).where(Refund.razorpay_refund_id == razorpay_refund_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def refund_by_idempotency_key(session: AsyncSession, key: str) -> Refund | None:
    stmt = select(Refund).where(Refund.idempotency_key == key)
    return (await session.execute(stmt)).scalar_one_or_none()


async def reserved_amount(session: AsyncSession, razorpay_payment_id: str) -> int:
    """Paise of one capture already promised back: every refund of it that has not failed."""
    stmt = select(func.coalesce(func.sum(Refund.amount), 0)).where(
        Refund.razorpay_payment_id == razorpay_payment_id,
        Refund.status.in_(RESERVED_STATUSES),
    )
    return int((await session.execute(stmt)).scalar_one())


async def reserved_amount_of_payment(session: AsyncSession, payment_id: str) -> int:
    stmt = select(func.coalesce(func.sum(Refund.amount), 0)).where(
        Refund.payment_id == payment_id, Refund.status.in_(RESERVED_STATUSES)
    )
    return int((await session.execute(stmt)).scalar_one())


async def list_refunds(
    session: AsyncSession,
    *,
    status: str | None,
    kind: str | None,
    before_id: str | None,
    limit: int,
) -> list[Refund]:
    """Newest first (ids sort by creation time), before the cursor id."""
    stmt = select(Refund).order_by(Refund.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(Refund.status == status)
    if kind is not None:
        stmt = stmt.where(Refund.kind == kind)
    if before_id is not None:
        stmt = stmt.where(Refund.id < before_id)
    return list((await session.execute(stmt)).scalars())


async def refunds_of_enrollment(session: AsyncSession, enrollment_id: str) -> list[Refund]:
    stmt = select(Refund).where(Refund.enrollment_id == enrollment_id).order_by(Refund.id)
    return list((await session.execute(stmt)).scalars())


async def active_admins(session: AsyncSession) -> list[User]:
    stmt = select(User).where(User.role == Role.admin, User.is_active.is_(True)).order_by(User.id)
    return list((await session.execute(stmt)).scalars())


# ---- disputes ---------------------------------------------------------------------------------


async def dispute_by_razorpay_id(
    session: AsyncSession, razorpay_dispute_id: str, *, for_update: bool = False
) -> Dispute | None:
    stmt = select(Dispute).where(Dispute.razorpay_dispute_id == razorpay_dispute_id)
    if for_update:
        stmt = stmt.with_for_update().execution_options(populate_existing=True)
    return (await session.execute(stmt)).scalar_one_or_none()


async def is_charged_back(session: AsyncSession, razorpay_payment_id: str) -> bool:
    """A dispute of this capture was lost, or took money from the merchant's balance."""
    stmt = select(Dispute.id).where(
        Dispute.razorpay_payment_id == razorpay_payment_id,
        or_(Dispute.status == "lost", Dispute.amount_deducted > 0),
    )
    return (await session.execute(stmt.limit(1))).first() is not None


async def list_disputes(
    session: AsyncSession, *, status: str | None, before_id: str | None, limit: int
) -> list[Dispute]:
    stmt = select(Dispute).order_by(Dispute.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(Dispute.status == status)
    if before_id is not None:
        stmt = stmt.where(Dispute.id < before_id)
    return list((await session.execute(stmt)).scalars())
