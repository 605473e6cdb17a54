"""Every query on payments, their attempts and events (and the enrollment rows they move)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.courses.models import Course, CourseStatus
from enrollpay.enrollments.models import LIVE_STATUSES, Enrollment
from enrollpay.payments.models import Payment, PaymentAttempt, PaymentEvent


async def payment_by_order_id(
    session: AsyncSession, razorpay_order_id: str, *, lock: bool = False
) -> Payment | None:
    stmt = select(Payment).where(Payment.razorpay_order_id == razorpay_order_id)
    if lock:
        # Facts about one order apply one after another (SQLite: BEGIN IMMEDIATE already).
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def enrollment_for_update(session: AsyncSession, enrollment_id: str) -> Enrollment:
    stmt = select(Enrollment).where(Enrollment.id == enrollment_id).with_for_update()
    return (await session.execute(stmt)).scalar_one()


async def attempt_by_razorpay_id(
    session: AsyncSession, razorpay_payment_id: str
) -> PaymentAttempt | None:
    stmt = select(PaymentAttempt).where(PaymentAttempt.razorpay_payment_id == razorpay_payment_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def can_revive(session: AsyncSession, enrollment: Enrollment) -> bool:
    """An expired enrollment may come back when the learner has no other live enrollment in
    the course, the course is not archived and still has a seat (SPEC §3)."""
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
    return course.capacity is None or len(live) < course.capacity


async def events_of_payment(session: AsyncSession, payment_id: str) -> list[PaymentEvent]:
    stmt = (
        select(PaymentEvent)
        .where(PaymentEvent.payment_id == payment_id)
        .order_by(PaymentEvent.created_at, PaymentEvent.id)
    )
    return list((await session.execute(stmt)).scalars())


async def attempts_of_payment(session: AsyncSession, payment_id: str) -> list[PaymentAttempt]:
    stmt = (
        select(PaymentAttempt)
        .where(PaymentAttempt.payment_id == payment_id)
        .order_by(PaymentAttempt.id)
    )
    return list((await session.execute(stmt)).scalars())
