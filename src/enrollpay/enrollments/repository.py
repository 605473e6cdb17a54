"""Queries on one learner's enrollments (catalog-wide counts live in courses.repository)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.courses.models import Course
from enrollpay.enrollments.models import UNPAID_STATUSES, Enrollment
from enrollpay.payments.models import Payment
from enrollpay.payments.state import PaymentStatus
from enrollpay.pricing.models import Coupon


async def get_enrollment(session: AsyncSession, enrollment_id: str) -> Enrollment | None:
    return await session.get(Enrollment, enrollment_id)


async def list_of_user(
    session: AsyncSession,
    user_id: str,
    *,
    status: str | None,
    before_id: str | None,
    limit: int,
) -> list[Enrollment]:
    """Newest first (ids sort by creation time), before the cursor id."""
    stmt = (
        select(Enrollment)
        .where(Enrollment.user_id == user_id)
        .order_by(Enrollment.id.desc())
        .limit(limit)
    )
    if status is not None:
        stmt = stmt.where(Enrollment.status == status)
    if before_id is not None:
        stmt = stmt.where(Enrollment.id < before_id)
    return list((await session.execute(stmt)).scalars())


async def courses_by_id(session: AsyncSession, course_ids: set[str]) -> dict[str, Course]:
    if not course_ids:
        return {}
    result = await session.execute(select(Course).where(Course.id.in_(course_ids)))
    return {course.id: course for course in result.scalars()}


async def coupon_codes(session: AsyncSession, coupon_ids: set[str]) -> dict[str, str]:
    if not coupon_ids:
        return {}
    result = await session.execute(select(Coupon.id, Coupon.code).where(Coupon.id.in_(coupon_ids)))
    return {coupon_id: code for coupon_id, code in result.all()}


async def due_for_expiry(session: AsyncSession, *, now: datetime, limit: int) -> list[str]:
    """Unpaid live enrollments whose hold has run out, oldest first — except those whose
    current payment is authorized (money on its way; excluded here so they cannot crowd out
    the rest of the batch)."""
    result = await session.execute(
        select(Enrollment.id)
        .outerjoin(Payment, Payment.id == Enrollment.current_payment_id)
        .where(
            Enrollment.status.in_(UNPAID_STATUSES),
            Enrollment.expires_at.is_not(None),
            Enrollment.expires_at <= now,
            or_(Payment.id.is_(None), Payment.status != PaymentStatus.authorized),
        )
        .order_by(Enrollment.expires_at)
        .limit(limit)
    )
    return list(result.scalars())
