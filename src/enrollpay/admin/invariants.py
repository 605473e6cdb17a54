"""SPEC §1's money promises, checked against the database (`enrollpay check-invariants`).

Read-only. Run it when nothing is in flight — after the workers have drained the job queue — for
a verdict on the whole install: some states are legitimately in between while jobs are pending
(a capture whose automatic refund job has not run yet). The scale-out script and the proof
suites use the same checks.

The promises:
- `one_live_enrollment`: at most one live (pending, failed, enrolled) enrollment per learner and
  course;
- `seats`: never more live enrollments than a course's capacity;
- `coupon_limit`: never more live enrollments holding a coupon than its max_redemptions;
- `refunds_within_capture`: refunds holding money (all but failed ones) never exceed the captured
  amount of the Razorpay payment they refund;
- `access_needs_money`: an enrolled enrollment with something to pay was enrolled by a captured
  Razorpay payment of its own that is not fully refunded;
- `captured_money_accounted`: every captured Razorpay payment either enrolled its live
  enrollment, or is refunded in full (refund requested, pending or processed), or was lost in a
  dispute.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.courses.models import Course
from enrollpay.enrollments.models import LIVE_STATUSES, Enrollment, EnrollmentStatus
from enrollpay.payments.facts import FactStatus
from enrollpay.payments.models import Payment, PaymentAttempt
from enrollpay.pricing.models import Coupon
from enrollpay.refunds.models import RESERVED_STATUSES, Dispute, Refund

CAPTURED = (FactStatus.captured, FactStatus.refunded)
LOST_DISPUTE = "lost"


@dataclass
class InvariantReport:
    """Each promise's violations (empty lists: kept), and how much was looked at."""

    violations: dict[str, list[str]] = field(default_factory=dict)
    enrollments: int = 0
    captured_payments: int = 0

    @property
    def ok(self) -> bool:
        return not any(self.violations.values())


async def check_invariants(session: AsyncSession) -> InvariantReport:
    report = InvariantReport()
    live = Enrollment.status.in_([status.value for status in LIVE_STATUSES])
    report.enrollments = int(await session.scalar(select(func.count(Enrollment.id))) or 0)

    doubled = await session.execute(
        select(Enrollment.user_id, Enrollment.course_id, func.count())
        .where(live)
        .group_by(Enrollment.user_id, Enrollment.course_id)
        .having(func.count() > 1)
    )
    report.violations["one_live_enrollment"] = [
        f"learner {user} has {count} live enrollments in {course}"
        for user, course, count in doubled.all()
    ]

    overbooked = await session.execute(
        select(Course.id, Course.capacity, func.count(Enrollment.id))
        .join(Enrollment, Enrollment.course_id == Course.id)
        .where(live, Course.capacity.is_not(None))
        .group_by(Course.id, Course.capacity)
        .having(func.count(Enrollment.id) > Course.capacity)
    )
    report.violations["seats"] = [
        f"course {course} has {taken} live enrollments for {capacity} seats"
        for course, capacity, taken in overbooked.all()
    ]

    overused = await session.execute(
        select(Coupon.id, Coupon.max_redemptions, func.count(Enrollment.id))
        .join(Enrollment, Enrollment.coupon_id == Coupon.id)
        .where(live, Coupon.max_redemptions.is_not(None))
        .group_by(Coupon.id, Coupon.max_redemptions)
        .having(func.count(Enrollment.id) > Coupon.max_redemptions)
    )
    report.violations["coupon_limit"] = [
        f"coupon {coupon} is held by {held} live enrollments, limit {limit}"
        for coupon, limit, held in overused.all()
    ]

    refunded = (
        select(Refund.razorpay_payment_id, func.sum(Refund.amount).label("amount"))
        .where(Refund.status.in_([status.value for status in RESERVED_STATUSES]))
        .group_by(Refund.razorpay_payment_id)
        .subquery()
    )
    captures = (
        await session.execute(
            select(
                PaymentAttempt.razorpay_payment_id,
                PaymentAttempt.amount,
                func.coalesce(refunded.c.amount, 0),
                Payment.enrollment_id,
            )
            .join(Payment, Payment.id == PaymentAttempt.payment_id)
            .outerjoin(
                refunded, refunded.c.razorpay_payment_id == PaymentAttempt.razorpay_payment_id
            )
            .where(PaymentAttempt.status.in_([status.value for status in CAPTURED]))
        )
    ).all()
    report.captured_payments = len(captures)
    report.violations["refunds_within_capture"] = [
        f"{pay_id}: refunds of {refund} exceed the capture of {amount}"
        for pay_id, amount, refund, _ in captures
        if refund > amount
    ]

    enrolled = {
        row.id: row
        for row in (
            await session.scalars(
                select(Enrollment).where(Enrollment.status == EnrollmentStatus.enrolled)
            )
        ).all()
    }
    by_payment = {pay_id: (amount, refund, enr) for pay_id, amount, refund, enr in captures}
    report.violations["access_needs_money"] = [
        f"enrollment {enrollment.id} is enrolled by {enrollment.enrolled_by!r}, which is not "
        "a capture of its own that is still (partly) kept"
        for enrollment in enrolled.values()
        if enrollment.total_payable > 0
        and not (
            enrollment.enrolled_by in by_payment
            and by_payment[enrollment.enrolled_by][2] == enrollment.id
            and by_payment[enrollment.enrolled_by][1] < by_payment[enrollment.enrolled_by][0]
        )
    ]

    lost = set(
        (
            await session.scalars(
                select(Dispute.razorpay_payment_id).where(Dispute.status == LOST_DISPUTE)
            )
        ).all()
    )
    report.violations["captured_money_accounted"] = [
        f"{pay_id}: captured {amount}, refunded {refund}, and it enrolled nobody"
        for pay_id, amount, refund, enrollment_id in captures
        if refund < amount
        and pay_id not in lost
        and not (enrollment_id in enrolled and enrolled[enrollment_id].enrolled_by == pay_id)
    ]
    return report
