"""The emails the enrollment flow sends, decided by trigger jobs (SPEC §3 "Notifications").

The code that changes an enrollment (`payments.service.apply_gateway_fact`, checkout) has no
settings and should not render emails, so it only calls a `notify_*` helper here, which
enqueues a small trigger job in the same transaction (the outbox, SPEC §1.4). The trigger runs
in the worker: it re-reads the rows, decides whether the email is still due and queues it with
`queue_email` in the job's own transaction. Each email has a dedupe key naming its cause, so
however often a trigger is enqueued or run, the email is queued once.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.config import Settings
from enrollpay.courses import repository as courses_repository
from enrollpay.courses.models import Course, CourseStatus
from enrollpay.courses.service import course_access_path
from enrollpay.enrollments import repository as enrollments_repository
from enrollpay.enrollments.models import UNPAID_STATUSES, Enrollment, EnrollmentStatus
from enrollpay.enrollments.paylink import payment_url
from enrollpay.jobs import JobContext, PermanentJobError, enqueue
from enrollpay.kit.clock import utcnow
from enrollpay.notifications.service import drop_email, queue_email
from enrollpay.payments import repository as payments_repository
from enrollpay.payments.models import Payment
from enrollpay.payments.state import PaymentStatus
from enrollpay.users.models import User

log = structlog.get_logger(__name__)

ENROLLMENT_CONFIRMED_JOB = "notifications.enrollment_confirmed"
PAYMENT_FAILED_JOB = "notifications.payment_failed"
ABANDONED_CHECKOUT_JOB = "notifications.abandoned_checkout"

# A failed payment is often authorized after all within minutes (a bank's late answer, a UPI
# collect approved on the second try): waiting this long spares the learner a "payment failed"
# email for money that is on its way.
PAYMENT_FAILED_DELAY_SECONDS = 300

# Payment states after which an attempt was not abandoned: the money came (or went back).
_PAID_STATUSES = frozenset(
    {
        PaymentStatus.authorized,
        PaymentStatus.captured,
        PaymentStatus.partially_refunded,
        PaymentStatus.refunded,
    }
)


def enrollment_confirmed_key(enrollment_id: str) -> str:
    return f"enrollment_confirmed:{enrollment_id}"


def payment_failed_key(payment_id: str) -> str:
    return f"payment_failed:{payment_id}"


def abandoned_checkout_key(payment_id: str) -> str:
    return f"abandoned_checkout:{payment_id}"


# ---- what the state changes call (inside their transaction) ---------------------------------


async def notify_enrolled(session: AsyncSession, enrollment_id: str) -> None:
    """The enrollment became `enrolled`: send the receipt, once per enrollment."""
    await enqueue(
        session,
        ENROLLMENT_CONFIRMED_JOB,
        {"enrollment_id": enrollment_id},
        dedupe_key=enrollment_confirmed_key(enrollment_id),
    )


async def notify_payment_failed(session: AsyncSession, enrollment_id: str, payment_id: str) -> None:
    """The enrollment became `failed` on `payment_id`: tell the learner after a delay, unless
    it has moved on by then. Once per attempt (our payment, i.e. one gateway order)."""
    await enqueue(
        session,
        PAYMENT_FAILED_JOB,
        {"enrollment_id": enrollment_id, "payment_id": payment_id},
        delay=PAYMENT_FAILED_DELAY_SECONDS,
        dedupe_key=payment_failed_key(payment_id),
    )


async def notify_checkout_started(
    session: AsyncSession, settings: Settings, enrollment_id: str, payment_id: str
) -> None:
    """A new payment attempt: remind the learner once if it is still unpaid after
    ABANDONED_CHECKOUT_DELAY_SECONDS."""
    await enqueue(
        session,
        ABANDONED_CHECKOUT_JOB,
        {"enrollment_id": enrollment_id, "payment_id": payment_id},
        delay=settings.ABANDONED_CHECKOUT_DELAY_SECONDS,
        dedupe_key=abandoned_checkout_key(payment_id),
    )


async def notify_enrollment_status(session: AsyncSession, enrollment: Enrollment) -> None:
    """For code that just changed `enrollment.status`: the email its new status calls for."""
    if enrollment.status == EnrollmentStatus.enrolled:
        await notify_enrolled(session, enrollment.id)
    elif enrollment.status == EnrollmentStatus.failed and enrollment.current_payment_id:
        await notify_payment_failed(session, enrollment.id, enrollment.current_payment_id)


# ---- the trigger jobs -------------------------------------------------------------------------


def _payload_id(ctx: JobContext, name: str) -> str:
    value = ctx.payload.get(name)
    if not isinstance(value, str):
        raise PermanentJobError(f"the job payload has no {name}")
    return value


async def _load(session: AsyncSession, enrollment_id: str) -> tuple[Enrollment, Course, User]:
    """The enrollment locked: a gateway fact being applied meanwhile either commits first (and
    the trigger sees it) or waits until the trigger has decided (and a receipt's trigger then
    drops a notice that has not left yet)."""
    enrollment = await payments_repository.enrollment_for_update(session, enrollment_id)
    course = await session.get(Course, enrollment.course_id)
    user = await session.get(User, enrollment.user_id)
    assert course is not None and user is not None  # foreign keys
    return enrollment, course, user


def access_link(settings: Settings, course: Course) -> str:
    """Where the receipt's "Start learning" goes: the host platform's course URL when it is
    absolute (a bare path belongs to a host we do not know), else our access API."""
    if course.access_url and urlsplit(course.access_url).scheme in ("http", "https"):
        return course.access_url
    return settings.PUBLIC_BASE_URL + course_access_path(course.id)


def course_page_link(settings: Settings, course_id: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}/courses/{course_id}"


def retry_link(settings: Settings, enrollment: Enrollment, now: datetime) -> str:
    """The hosted payment page while the hold lasts; after it, the course page to start over."""
    expires_at = enrollment.expires_at
    if enrollment.status in UNPAID_STATUSES and expires_at is not None and expires_at > now:
        return payment_url(settings, enrollment.id, expires_at)
    return course_page_link(settings, enrollment.course_id)


async def send_enrollment_confirmed(ctx: JobContext) -> None:
    session, settings = ctx.session, ctx.settings
    enrollment, course, user = await _load(session, _payload_id(ctx, "enrollment_id"))
    if enrollment.enrolled_at is None:
        raise PermanentJobError(f"enrollment {enrollment.id} was never enrolled")
    coupon_code = None
    if enrollment.coupon_id is not None:
        codes = await enrollments_repository.coupon_codes(session, {enrollment.coupon_id})
        coupon_code = codes.get(enrollment.coupon_id)
    await queue_email(
        session,
        settings=settings,
        kind="enrollment_confirmed",
        to=user.email,
        context={
            "learner_name": user.full_name,
            "course_title": course.title,
            "original_amount": enrollment.original_amount,
            "course_discount": enrollment.course_discount,
            "coupon_discount": enrollment.coupon_discount,
            "coupon_code": coupon_code,
            "tax_amount": enrollment.tax_amount,
            "total_paid": enrollment.total_payable,
            "currency": enrollment.currency,
            "payment_id": enrollment.enrolled_by,  # None on the free path
            "paid_at": enrollment.enrolled_at,
            "access_url": access_link(settings, course),
        },
        dedupe_key=enrollment_confirmed_key(enrollment.id),
        user_id=user.id,
        enrollment_id=enrollment.id,
    )
    # A reminder or failure notice queued earlier but not yet sent (say, the mail server is
    # down and its send job is retrying) would now be wrong.
    for payment in await payments_repository.payments_of_enrollment(session, enrollment.id):
        for key in (payment_failed_key(payment.id), abandoned_checkout_key(payment.id)):
            await drop_email(session, key, "the learner is enrolled")


async def send_payment_failed(ctx: JobContext) -> None:
    session, settings = ctx.session, ctx.settings
    payment_id = _payload_id(ctx, "payment_id")
    enrollment, course, user = await _load(session, _payload_id(ctx, "enrollment_id"))
    payment = await session.get(Payment, payment_id)
    if (
        payment is None
        or enrollment.status != EnrollmentStatus.failed
        or enrollment.current_payment_id != payment_id
    ):
        # A capture or late authorization arrived, a retry started, or it was cancelled or
        # expired meanwhile: the notice would be stale.
        log.info("notifications.payment_failed_moot", enrollment_id=enrollment.id)
        return
    await queue_email(
        session,
        settings=settings,
        kind="payment_failed",
        to=user.email,
        context={
            "learner_name": user.full_name,
            "course_title": course.title,
            "amount": payment.amount,
            "currency": payment.currency,
            "reason": enrollment.failure_reason,
            "payment_url": retry_link(settings, enrollment, utcnow()),
        },
        dedupe_key=payment_failed_key(payment_id),
        user_id=user.id,
        enrollment_id=enrollment.id,
    )


async def _still_abandoned(
    session: AsyncSession, enrollment: Enrollment, course: Course, payment: Payment | None
) -> bool:
    """The attempt is the enrollment's latest, unpaid, and the learner has not enrolled (or
    started again) since. An enrollment that expired meanwhile still counts: with the default
    settings the hold (30 minutes) ends before the reminder (1 hour) is due."""
    if (
        payment is None
        or enrollment.current_payment_id != payment.id
        or payment.status in _PAID_STATUSES
        or course.status != CourseStatus.published
    ):
        return False
    if enrollment.status in UNPAID_STATUSES:
        return True  # the learner's one live enrollment in the course (SPEC §1.2)
    if enrollment.status != EnrollmentStatus.expired:
        return False  # enrolled, cancelled or refunded
    live = await courses_repository.live_enrollments_of_user(
        session, enrollment.user_id, [enrollment.course_id]
    )
    return not live  # a newer enrollment (paid, or with its own reminder) wins


async def send_abandoned_checkout(ctx: JobContext) -> None:
    session, settings = ctx.session, ctx.settings
    payment_id = _payload_id(ctx, "payment_id")
    enrollment, course, user = await _load(session, _payload_id(ctx, "enrollment_id"))
    payment = await session.get(Payment, payment_id)
    if not await _still_abandoned(session, enrollment, course, payment):
        log.info("notifications.abandoned_checkout_moot", enrollment_id=enrollment.id)
        return
    assert payment is not None
    await queue_email(
        session,
        settings=settings,
        kind="abandoned_checkout",
        to=user.email,
        context={
            "learner_name": user.full_name,
            "course_title": course.title,
            "amount": payment.amount,
            "currency": payment.currency,
            "payment_url": retry_link(settings, enrollment, utcnow()),
        },
        dedupe_key=abandoned_checkout_key(payment_id),
        user_id=user.id,
        enrollment_id=enrollment.id,
    )
