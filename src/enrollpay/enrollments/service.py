"""A learner's enrollments: lookups, the status and detail views, cancel, access and
progress. (Initialize, retry and verify, which talk to the gateway, are in `checkout`.)"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.config import Settings
from enrollpay.courses import repository as courses_repository
from enrollpay.courses.models import Course
from enrollpay.courses.service import course_access_path
from enrollpay.enrollments import repository
from enrollpay.enrollments.models import UNPAID_STATUSES, Enrollment, EnrollmentStatus
from enrollpay.enrollments.paylink import payment_url
from enrollpay.enrollments.schemas import (
    AttemptOut,
    CourseAccess,
    EnrollmentDetail,
    EnrollmentOut,
    PaymentOut,
    PaymentStatusName,
    PaymentStatusOut,
)
from enrollpay.errors import Conflict, NotFound
from enrollpay.kit.ids import has_prefix
from enrollpay.kit.money import to_major
from enrollpay.kit.pagination import Page
from enrollpay.payments import repository as payments_repository
from enrollpay.payments.models import Payment, PaymentAttempt
from enrollpay.payments.state import PaymentStatus
from enrollpay.platform.outbound import record_enrollment_event
from enrollpay.platform.outbound_models import EventType
from enrollpay.refunds import repository as refunds_repository
from enrollpay.refunds.schemas import RefundOut


class InvalidState(Conflict):
    code = "invalid_state"
    message = "The enrollment is not in a state that allows this."


class NotEnrolled(InvalidState):
    message = "You are not enrolled in this course."
    hint = "Progress can be reported once the enrollment is complete."


async def get_owned_enrollment(
    session: AsyncSession, user_id: str, enrollment_id: str, *, lock: bool = False
) -> Enrollment:
    """The caller's enrollment; someone else's (or a malformed id) is 404, like a missing one."""
    enrollment = (
        await repository.get_enrollment(session, enrollment_id)
        if has_prefix(enrollment_id, "enr")
        else None
    )
    if enrollment is None or enrollment.user_id != user_id:
        raise NotFound("No enrollment with this id.")
    if lock:
        enrollment = await payments_repository.enrollment_for_update(session, enrollment.id)
    return enrollment


# ---- payment status ---------------------------------------------------------------------------

_PAYMENT_STATUS_NAMES: dict[str, PaymentStatusName] = {
    PaymentStatus.created: "pending",
    PaymentStatus.authorized: "authorized",
    PaymentStatus.captured: "completed",
    PaymentStatus.failed: "failed",
    PaymentStatus.partially_refunded: "partially_refunded",
    PaymentStatus.refunded: "refunded",
    PaymentStatus.not_required: "not_required",
}


def _shown_payment(
    enrollment: Enrollment, payments: Sequence[Payment], attempts: Sequence[PaymentAttempt]
) -> Payment | None:
    """The payment that enrolled the learner, else the current attempt, else the latest."""
    by_id = {payment.id: payment for payment in payments}
    if enrollment.enrolled_by is not None:
        for attempt in attempts:
            if attempt.razorpay_payment_id == enrollment.enrolled_by:
                return by_id[attempt.payment_id]
    if enrollment.current_payment_id in by_id:
        return by_id[enrollment.current_payment_id]
    return payments[-1] if payments else None


def retry_allowed(enrollment: Enrollment, current: Payment | None, now: datetime) -> bool:
    """Whether POST retry-payment opens a new session: a failed enrollment, or a pending one
    whose hold ran out or whose order was never created (after a gateway outage such a learner
    has no payment_url, so the status must point to the retry)."""
    if enrollment.status == EnrollmentStatus.failed:
        return True
    return enrollment.status == EnrollmentStatus.pending and (
        (enrollment.expires_at is not None and enrollment.expires_at <= now)
        or (current is not None and current.razorpay_order_id is None)
    )


def live_payment_url(
    settings: Settings, enrollment: Enrollment, payment: Payment | None, now: datetime
) -> str | None:
    """The hosted page link while the hold lasts and the current payment has an order."""
    if (
        enrollment.status in UNPAID_STATUSES
        and payment is not None
        and payment.id == enrollment.current_payment_id
        and payment.razorpay_order_id is not None
        and enrollment.expires_at is not None
        and enrollment.expires_at > now
    ):
        return payment_url(settings, enrollment.id, enrollment.expires_at)
    return None


async def payment_status_view(
    session: AsyncSession, settings: Settings, enrollment: Enrollment, *, now: datetime
) -> PaymentStatusOut:
    payments = await payments_repository.payments_of_enrollment(session, enrollment.id)
    attempts = await payments_repository.attempts_of_payments(session, [p.id for p in payments])
    shown = _shown_payment(enrollment, payments, attempts)
    if shown is None:  # free enrollment
        payment_status: PaymentStatusName = "not_required"
        razorpay_payment_id = None
        completed_at = enrollment.enrolled_at
    else:
        payment_status = _PAYMENT_STATUS_NAMES[shown.status]
        own = [a for a in attempts if a.payment_id == shown.id]
        razorpay_payment_id = enrollment.enrolled_by or (
            own[-1].razorpay_payment_id if own else None
        )
        completed_at = shown.captured_at
    enrolled = enrollment.status == EnrollmentStatus.enrolled
    return PaymentStatusOut(
        enrollment_id=enrollment.id,
        enrollment_status=enrollment.status,
        payment_status=payment_status,
        payment_id=shown.id if shown else None,
        razorpay_order_id=shown.razorpay_order_id if shown else None,
        razorpay_payment_id=razorpay_payment_id,
        amount=to_major(enrollment.total_payable, enrollment.currency),
        currency=enrollment.currency,
        completed_at=completed_at,
        course_access_url=course_access_path(enrollment.course_id) if enrolled else None,
        failure_reason=enrollment.failure_reason,
        retry_allowed=retry_allowed(
            enrollment,
            next((p for p in payments if p.id == enrollment.current_payment_id), None),
            now,
        ),
        payment_url=live_payment_url(settings, enrollment, shown, now),
        expires_at=enrollment.expires_at if enrollment.status in UNPAID_STATUSES else None,
    )


# ---- lists and detail -------------------------------------------------------------------------


def pricing_in_major_units(enrollment: Enrollment) -> dict[str, float]:
    """The enrollment's price snapshot as the API shows it (SPEC §1.6)."""
    amounts = {
        "original_amount": enrollment.original_amount,
        "course_discount": enrollment.course_discount,
        "coupon_discount": enrollment.coupon_discount,
        "discount_applied": enrollment.course_discount + enrollment.coupon_discount,
        "final_amount": enrollment.final_amount,
        "tax_amount": enrollment.tax_amount,
        "total_payable": enrollment.total_payable,
    }
    return {name: to_major(amount, enrollment.currency) for name, amount in amounts.items()}


def _enrollment_out(
    enrollment: Enrollment, course: Course | None, coupon_code: str | None
) -> EnrollmentOut:
    return EnrollmentOut(
        id=enrollment.id,
        course_id=enrollment.course_id,
        course_title=course.title if course else "",
        status=enrollment.status,
        **pricing_in_major_units(enrollment),
        currency=enrollment.currency,
        coupon_code=coupon_code,
        created_at=enrollment.created_at,
        expires_at=enrollment.expires_at if enrollment.status in UNPAID_STATUSES else None,
        enrolled_at=enrollment.enrolled_at,
        cancelled_at=enrollment.cancelled_at,
        failure_reason=enrollment.failure_reason,
        progress=enrollment.progress,
        course_access_url=(
            course_access_path(enrollment.course_id)
            if enrollment.status == EnrollmentStatus.enrolled
            else None
        ),
    )


async def enrollment_page(
    session: AsyncSession,
    user_id: str,
    *,
    status: EnrollmentStatus | None,
    cursor: str | None,
    limit: int,
) -> Page[EnrollmentOut]:
    rows = await repository.list_of_user(
        session, user_id, status=status, before_id=cursor, limit=limit + 1
    )
    page = rows[:limit]
    courses = await repository.courses_by_id(session, {e.course_id for e in page})
    codes = await repository.coupon_codes(session, {e.coupon_id for e in page if e.coupon_id})
    items = [
        _enrollment_out(e, courses.get(e.course_id), codes.get(e.coupon_id or "")) for e in page
    ]
    return Page[EnrollmentOut](items=items, next_cursor=page[-1].id if len(rows) > limit else None)


async def enrollment_view(session: AsyncSession, enrollment: Enrollment) -> EnrollmentOut:
    courses = await repository.courses_by_id(session, {enrollment.course_id})
    codes = await repository.coupon_codes(
        session, {enrollment.coupon_id} if enrollment.coupon_id else set()
    )
    return _enrollment_out(
        enrollment, courses.get(enrollment.course_id), codes.get(enrollment.coupon_id or "")
    )


async def enrollment_detail(session: AsyncSession, enrollment: Enrollment) -> EnrollmentDetail:
    summary = await enrollment_view(session, enrollment)
    payments = await payments_repository.payments_of_enrollment(session, enrollment.id)
    attempts = await payments_repository.attempts_of_payments(session, [p.id for p in payments])
    refunds = await refunds_repository.refunds_of_enrollment(session, enrollment.id)
    return EnrollmentDetail(
        **summary.model_dump(),
        refunds=[RefundOut.of(refund) for refund in refunds],
        payments=[
            PaymentOut(
                id=payment.id,
                razorpay_order_id=payment.razorpay_order_id,
                amount=to_major(payment.amount, payment.currency),
                currency=payment.currency,
                status=payment.status,
                current=payment.id == enrollment.current_payment_id,
                created_at=payment.created_at,
                expires_at=payment.expires_at,
                captured_at=payment.captured_at,
                superseded_at=payment.superseded_at,
                attempts=[
                    AttemptOut(
                        razorpay_payment_id=attempt.razorpay_payment_id,
                        status=attempt.status,
                        method=attempt.method,
                        amount=to_major(attempt.amount, attempt.currency),
                        currency=attempt.currency,
                        error_code=attempt.error_code,
                        error_description=attempt.error_description,
                        created_at=attempt.created_at,
                    )
                    for attempt in attempts
                    if attempt.payment_id == payment.id
                ],
            )
            for payment in payments
        ],
    )


# ---- cancel -----------------------------------------------------------------------------------


async def cancel(
    session: AsyncSession, user_id: str, enrollment_id: str, reason: str | None, *, now: datetime
) -> EnrollmentOut:
    """pending/failed → cancelled: the seat and coupon hold are released at once. A payment
    captured later for it is refunded automatically (SPEC §3)."""
    enrollment = await get_owned_enrollment(session, user_id, enrollment_id, lock=True)
    if enrollment.status not in UNPAID_STATUSES:
        raise InvalidState(
            f"A {enrollment.status} enrollment cannot be cancelled.",
            hint="Only pending or failed enrollments can be cancelled; an enrolled learner "
            "may request a refund instead.",
        )
    enrollment.status = EnrollmentStatus.cancelled
    enrollment.cancelled_at = now
    enrollment.cancel_reason = reason
    await record_enrollment_event(session, enrollment, EventType.enrollment_cancelled)
    return await enrollment_view(session, enrollment)


async def enrolled_enrollment(
    session: AsyncSession, user_id: str, course_id: str
) -> Enrollment | None:
    live = await courses_repository.live_enrollments_of_user(session, user_id, [course_id])
    enrollment = live.get(course_id)
    return enrollment if enrollment and enrollment.status == EnrollmentStatus.enrolled else None


def access_view(course: Course, enrollment: Enrollment | None) -> CourseAccess:
    if enrollment is None:
        return CourseAccess(
            has_access=False,
            enrollment_id=None,
            enrollment_date=None,
            course_progress=0,
            next_lesson_url=None,
        )
    return CourseAccess(
        has_access=True,
        enrollment_id=enrollment.id,
        enrollment_date=enrollment.enrolled_at,
        course_progress=enrollment.progress,
        # The host platform serves the lessons; access_url is where they start.
        next_lesson_url=course.access_url,
    )


async def set_progress(
    session: AsyncSession, course: Course, user_id: str, progress: int
) -> CourseAccess:
    enrollment = await enrolled_enrollment(session, user_id, course.id)
    if enrollment is None:
        raise NotEnrolled()
    enrollment.progress = progress
    return access_view(course, enrollment)
