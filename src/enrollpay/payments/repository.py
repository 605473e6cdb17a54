"""Every query on payments, their attempts and events (and the enrollment rows they move)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.courses.models import Course, CourseStatus
from enrollpay.enrollments.models import LIVE_STATUSES, Enrollment
from enrollpay.payments.models import Payment, PaymentAttempt
from enrollpay.pricing import repository as pricing_repository
from enrollpay.pricing.models import Coupon


async def payment_by_order_id(session: AsyncSession, razorpay_order_id: str) -> Payment | None:
    stmt = select(Payment).where(Payment.razorpay_order_id == razorpay_order_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def payments_of_enrollment(session: AsyncSession, enrollment_id: str) -> list[Payment]:
    """Oldest first (ids sort by creation time)."""
    stmt = select(Payment).where(Payment.enrollment_id == enrollment_id).order_by(Payment.id)
    return list((await session.execute(stmt)).scalars())


async def attempts_of_payments(
    session: AsyncSession, payment_ids: list[str]
) -> list[PaymentAttempt]:
    if not payment_ids:
        return []
    stmt = (
        select(PaymentAttempt)
        .where(PaymentAttempt.payment_id.in_(payment_ids))
        .order_by(PaymentAttempt.created_at, PaymentAttempt.id)
    )
    return list((await session.execute(stmt)).scalars())


async def enrollment_for_update(session: AsyncSession, enrollment_id: str) -> Enrollment:
    """Locked and re-read (an object loaded earlier in the session gets the committed values)."""
    stmt = (
        select(Enrollment)
        .where(Enrollment.id == enrollment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one()


async def payment_for_update(session: AsyncSession, payment_id: str) -> Payment:
    """Locked and re-read; take the enrollment's lock first (the lock order everywhere)."""
    stmt = (
        select(Payment)
        .where(Payment.id == payment_id)
        .with_for_update()
        .execution_options(populate_existing=True)
    )
    return (await session.execute(stmt)).scalar_one()


async def attempt_by_razorpay_id(
    session: AsyncSession, razorpay_payment_id: str
) -> PaymentAttempt | None:
    stmt = select(PaymentAttempt).where(PaymentAttempt.razorpay_payment_id == razorpay_payment_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def can_revive(session: AsyncSession, enrollment: Enrollment) -> bool:
    """An expired enrollment may come back when the learner has no other live enrollment in
    the course, the course is not archived and still has a seat (SPEC §3), and its coupon —
    whose hold expiry released — still has room under its limits: others may have taken the
    redemption meanwhile, and there are never more redemptions than the limit."""
    course = await session.get(Course, enrollment.course_id, with_for_update=True)
    if course is None or course.status == CourseStatus.archived:
        return False
    live = (
        (
            await session.execute(
                select(Enrollment.user_id).where(
                    Enrollment.course_id == enrollment.course_id,
                    Enrollment.status.in_(LIVE_STATUSES),
                )
            )
        )
        .scalars()
        .all()
    )
    if enrollment.user_id in live:
        return False
    if course.capacity is not None and len(live) >= course.capacity:
        return False
    return enrollment.coupon_id is None or await _coupon_has_room(session, enrollment)


async def _coupon_has_room(session: AsyncSession, enrollment: Enrollment) -> bool:
    """The revived enrollment would hold its coupon again: room under both limits, counted
    under the coupon's lock as initialize counts them."""
    coupon = await session.get(Coupon, enrollment.coupon_id, with_for_update=True)
    if coupon is None:
        return False
    reached = await pricing_repository.reached_limit(
        session, coupon, user_id=enrollment.user_id, course_id=enrollment.course_id
    )
    return reached is None
