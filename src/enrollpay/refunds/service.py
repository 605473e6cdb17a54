"""Refunds (SPEC §3): asking for one (learner, admin, automatic), sending it to Razorpay, and
what Razorpay says about it afterwards. Nothing here commits.

Atomic phases, as in checkout — no transaction is held across a gateway call:

1. request — one transaction: lock the enrollment, then the payment (the lock order everywhere:
   course, coupon, enrollment, payment, refund); check what is left of the capture; write the
   refund (`requested`) and the `refunds.submit` job that sends it. A full refund of the capture
   that enrolled the learner ends their access right here (enrollment `refunded`).
2. send — `create_refund` with the refund's own `X-Refund-Idempotency` key.
3. record — one transaction: Razorpay's refund id and status.

If 2 or 3 never happen (the gateway is down, the process dies between them) the job repeats them
with the same key, so Razorpay refunds once however often the refund is sent.

Money: a refund is for one Razorpay payment id (one capture), and every refund that has not
failed counts against that capture from the moment it is written, so concurrent requests can
never promise back more than was captured.
"""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.admin.service import record_admin_action
from enrollpay.config import Settings
from enrollpay.courses.models import Course
from enrollpay.db.engine import Database
from enrollpay.enrollments import repository as enrollments_repository
from enrollpay.enrollments.models import Enrollment, EnrollmentStatus
from enrollpay.enrollments.service import get_owned_enrollment
from enrollpay.errors import BadRequest, NotFound
from enrollpay.jobs import enqueue
from enrollpay.kit.clock import utcnow
from enrollpay.kit.ids import has_prefix, new_id
from enrollpay.kit.money import format_money, to_major
from enrollpay.kit.pagination import Page, checked_cursor
from enrollpay.notifications.service import queue_email
from enrollpay.payments import repository as payments_repository
from enrollpay.payments.facts import FactStatus
from enrollpay.payments.gateway.entities import RazorpayRefund
from enrollpay.payments.gateway.errors import GatewayError
from enrollpay.payments.gateway.protocol import PaymentGateway
from enrollpay.payments.models import Payment, PaymentAttempt
from enrollpay.payments.state import AutoRefundReason, PaymentStatus
from enrollpay.platform.outbound import record_enrollment_event
from enrollpay.platform.outbound_models import EventType
from enrollpay.refunds import repository
from enrollpay.refunds.models import Refund, RefundKind, RefundStatus
from enrollpay.refunds.schemas import RefundOut, RefundResult
from enrollpay.users.models import User
from enrollpay.webhooks.parsing import RefundEvent

log = structlog.get_logger(__name__)

SUBMIT_JOB = "refunds.submit"
PROCESSED_EMAIL_JOB = "refunds.processed_email"
FAILED_ALERT_JOB = "refunds.failed_alert"
# The request sends the refund itself; the job is the safety net for when it cannot (gateway
# down, process gone), so it waits rather than race the request with the same key.
SUBMIT_SAFETY_DELAY = timedelta(seconds=60)
# A learner or admin waits at most this long for Razorpay; the job carries on after that.
GATEWAY_DEADLINE_SECONDS = 15.0
MIN_REFUND = 100  # Razorpay: "The amount must be at least INR 1.00."
OUTSIDE_ENROLLPAY = "created outside enrollpay"
NOT_OURS = "not_ours"
# An attempt that moved money (a full refund at Razorpay makes the payment `refunded`).
CAPTURED_ATTEMPT_STATUSES = (FactStatus.captured, FactStatus.refunded)

# A refund only moves forward; processed and failed are final.
_RANK = {
    RefundStatus.requested: 0,
    RefundStatus.pending: 1,
    RefundStatus.processed: 2,
    RefundStatus.failed: 2,
}


class RefundNotAllowed(BadRequest):
    code = "refund_not_allowed"
    message = "This enrollment cannot be refunded."


def automatic_refund_key(razorpay_payment_id: str) -> str:
    return f"auto-refund-{razorpay_payment_id}"


# ---- phase 1: requests ------------------------------------------------------------------------


def learner_refund_deadline(enrollment: Enrollment, course: Course) -> datetime | None:
    """Until when the learner may ask for a full refund: the course's refund window, counted
    from enrollment, of a paid enrollment they are enrolled in. None: never (not enrolled, or
    nothing was paid — a free course or an admin's grant)."""
    if enrollment.status != EnrollmentStatus.enrolled or enrollment.enrolled_by is None:
        return None
    assert enrollment.enrolled_at is not None
    return enrollment.enrolled_at + timedelta(days=course.refund_window_days)


async def request_learner_refund(
    session: AsyncSession, *, user: User, enrollment_id: str, reason: str, now: datetime
) -> Refund:
    """The learner's full refund inside the course's refund window (counted from enrollment)."""
    enrollment = await get_owned_enrollment(session, user.id, enrollment_id, lock=True)
    if enrollment.status == EnrollmentStatus.refunded:
        raise RefundNotAllowed("This enrollment has already been refunded.")
    if enrollment.status != EnrollmentStatus.enrolled:
        raise RefundNotAllowed(
            f"Only an enrollment you are enrolled in can be refunded; this one is "
            f"{enrollment.status}.",
            hint="A pending or failed enrollment has not been paid: cancel it instead.",
        )
    courses = await enrollments_repository.courses_by_id(session, {enrollment.course_id})
    course = courses[enrollment.course_id]
    window_end = learner_refund_deadline(enrollment, course)
    if window_end is None:
        raise RefundNotAllowed(
            "Nothing was paid for this enrollment, so there is nothing to refund."
        )
    if now > window_end:
        window_days = course.refund_window_days
        raise RefundNotAllowed(
            f"The refund window of {window_days} days for this course has passed.",
            hint="Contact support if you believe you are still owed a refund.",
            details={"refund_window_days": window_days, "window_ended_at": window_end.isoformat()},
        )
    payment, attempt = await _enrolling_capture(session, enrollment)
    remaining = await _remaining(session, attempt)
    if remaining <= 0:
        raise RefundNotAllowed("This enrollment has already been refunded.")
    return await _reserve(
        session,
        enrollment=enrollment,
        payment=payment,
        attempt=attempt,
        amount=remaining,
        kind=RefundKind.learner,
        reason=reason,
        requested_by=user.id,
    )


async def request_admin_refund(
    session: AsyncSession,
    *,
    admin: User,
    enrollment_id: str,
    amount: int | None,
    reason: str,
) -> Refund:
    """Full (`amount` None: whatever is left) or partial, at any time; the audit trail records
    it in the same transaction."""
    found = (
        await enrollments_repository.get_enrollment(session, enrollment_id)
        if has_prefix(enrollment_id, "enr")
        else None
    )
    if found is None:
        raise NotFound("No enrollment with this id.")
    enrollment = await payments_repository.enrollment_for_update(session, found.id)
    if enrollment.enrolled_by is None:
        raise RefundNotAllowed(
            f"This {enrollment.status} enrollment has no captured payment to refund."
        )
    payment, attempt = await _enrolling_capture(session, enrollment)
    remaining = await _remaining(session, attempt)
    if remaining <= 0:
        raise RefundNotAllowed("Everything paid for this enrollment has already been refunded.")
    if amount is not None and amount > remaining:
        raise RefundNotAllowed(
            f"At most {format_money(remaining, attempt.currency)} is left to refund.",
            details={
                "refundable_amount": to_major(remaining, attempt.currency),
                "currency": attempt.currency,
            },
        )
    amount = remaining if amount is None else amount
    if amount < MIN_REFUND:
        raise RefundNotAllowed("A refund must be at least ₹1.00 (Razorpay's minimum).")
    refund = await _reserve(
        session,
        enrollment=enrollment,
        payment=payment,
        attempt=attempt,
        amount=amount,
        kind=RefundKind.admin,
        reason=reason,
        requested_by=admin.id,
    )
    await record_admin_action(
        session,
        admin,
        "enrollment.refund",
        target_type="enrollment",
        target_id=enrollment.id,
        enrollment_id=enrollment.id,
        details={
            "refund_id": refund.id,
            "amount": to_major(amount, refund.currency),
            "currency": refund.currency,
            "reason": reason,
        },
    )
    return refund


async def request_automatic_refund(
    session: AsyncSession,
    *,
    payment_id: str,
    razorpay_payment_id: str,
    amount: int,
    reason: AutoRefundReason | str,
) -> Refund | None:
    """SPEC §3 automatic refunds: one `automatic` refund per capture, whoever asks how often
    (its idempotency key is derived from the Razorpay payment id). It never touches the
    enrollment — the capture it returns did not enroll anyone. None: nothing is left to
    refund (e.g. someone refunded it from the Razorpay Dashboard already)."""
    key = automatic_refund_key(razorpay_payment_id)
    found = await session.get(Payment, payment_id)
    if found is None:
        raise LookupError(f"no payment {payment_id}")
    enrollment = await payments_repository.enrollment_for_update(session, found.enrollment_id)
    payment = await payments_repository.payment_for_update(session, found.id)
    existing = await repository.refund_by_idempotency_key(session, key)
    if existing is not None:
        return existing
    attempt = await payments_repository.attempt_by_razorpay_id(session, razorpay_payment_id)
    if attempt is None or attempt.payment_id != payment.id:
        raise LookupError(f"{razorpay_payment_id} is not an attempt of {payment.id}")
    remaining = await _remaining(session, attempt)
    if remaining < MIN_REFUND:
        log.info("refunds.automatic_nothing_left", razorpay_payment_id=razorpay_payment_id)
        return None
    return await _reserve(
        session,
        enrollment=enrollment,
        payment=payment,
        attempt=attempt,
        amount=min(amount, remaining),
        kind=RefundKind.automatic,
        reason=str(reason),
        idempotency_key=key,
    )


async def _enrolling_capture(
    session: AsyncSession, enrollment: Enrollment
) -> tuple[Payment, PaymentAttempt]:
    """The capture that enrolled the learner, its payment locked."""
    assert enrollment.enrolled_by is not None
    attempt = await payments_repository.attempt_by_razorpay_id(session, enrollment.enrolled_by)
    if attempt is None or attempt.status not in CAPTURED_ATTEMPT_STATUSES:
        raise RefundNotAllowed("This enrollment has no captured payment to refund.")
    payment = await payments_repository.payment_for_update(session, attempt.payment_id)
    if await repository.is_charged_back(session, attempt.razorpay_payment_id):
        raise RefundNotAllowed(
            "This payment was charged back (its dispute was lost): the money has gone back "
            "to the payer already."
        )
    return payment, attempt


async def _remaining(session: AsyncSession, attempt: PaymentAttempt) -> int:
    return attempt.amount - await repository.reserved_amount(session, attempt.razorpay_payment_id)


async def _reserve(
    session: AsyncSession,
    *,
    enrollment: Enrollment,
    payment: Payment,
    attempt: PaymentAttempt,
    amount: int,
    kind: RefundKind,
    reason: str,
    requested_by: str | None = None,
    idempotency_key: str | None = None,
) -> Refund:
    """Write a refund of ours and the job that sends it (the outbox: if this request dies after
    the commit, the job still sends it)."""
    refund = await _write_refund(
        session,
        enrollment=enrollment,
        payment=payment,
        attempt=attempt,
        amount=amount,
        kind=kind,
        reason=reason,
        requested_by=requested_by,
        idempotency_key=idempotency_key,
    )
    refund.idempotency_key = refund.idempotency_key or refund.id
    await enqueue(
        session,
        SUBMIT_JOB,
        {"refund_id": refund.id},
        delay=SUBMIT_SAFETY_DELAY,
        dedupe_key=f"{SUBMIT_JOB}:{refund.id}",
    )
    return refund


async def _write_refund(
    session: AsyncSession,
    *,
    enrollment: Enrollment,
    payment: Payment,
    attempt: PaymentAttempt,
    amount: int,
    kind: RefundKind,
    reason: str,
    requested_by: str | None = None,
    idempotency_key: str | None = None,
    razorpay_refund_id: str | None = None,
    revoke: bool = True,
) -> Refund:
    refund = Refund(
        id=new_id("rfd"),
        payment_id=payment.id,
        enrollment_id=enrollment.id,
        razorpay_payment_id=attempt.razorpay_payment_id,
        razorpay_refund_id=razorpay_refund_id,
        amount=amount,
        currency=attempt.currency,
        status=RefundStatus.requested,
        kind=kind,
        reason=reason[:500],
        requested_by=requested_by,
        idempotency_key=idempotency_key,
    )
    session.add(refund)
    await session.flush()
    left = await _remaining(session, attempt)
    await _refresh_payment(session, payment)
    if (
        revoke
        and kind != RefundKind.automatic
        and left <= 0
        and enrollment.status == EnrollmentStatus.enrolled
        and enrollment.enrolled_by == attempt.razorpay_payment_id
    ):
        enrollment.status = EnrollmentStatus.refunded  # access ends now, not when money lands
        await record_enrollment_event(session, enrollment, EventType.enrollment_refunded)
    return refund


async def _refresh_payment(session: AsyncSession, payment: Payment) -> None:
    """`amount_refunded` and the refund part of the status follow the refunds that hold money:
    all of the captured money → refunded, some → partially_refunded, none (they all failed) →
    what the attempts say again."""
    attempts = await payments_repository.attempts_of_payments(session, [payment.id])
    captured = sum(a.amount for a in attempts if a.status in CAPTURED_ATTEMPT_STATUSES)
    reserved = await repository.reserved_amount_of_payment(session, payment.id)
    payment.amount_refunded = reserved
    if reserved > 0:
        refunded = reserved >= captured
        payment.status = PaymentStatus.refunded if refunded else PaymentStatus.partially_refunded
    elif payment.status in (PaymentStatus.partially_refunded, PaymentStatus.refunded):
        payment.status = _status_before_refunds(payment, attempts)


def _status_before_refunds(payment: Payment, attempts: list[PaymentAttempt]) -> PaymentStatus:
    if payment.amount_captured > 0:
        return PaymentStatus.captured
    # Only attempts for the order's exact money count, as in payments.state.
    statuses = {
        a.status for a in attempts if a.amount == payment.amount and a.currency == payment.currency
    }
    for status in (FactStatus.authorized, FactStatus.failed):
        if status in statuses:
            return PaymentStatus(status.value)
    return PaymentStatus.created


# ---- phases 2 and 3: sending --------------------------------------------------------------------


def needs_submission(refund: Refund) -> bool:
    return (
        refund.status == RefundStatus.requested
        and refund.razorpay_refund_id is None
        and refund.idempotency_key is not None
    )


async def send(gateway: PaymentGateway, refund: Refund) -> RazorpayRefund:
    """Phase 2. The body never changes for a refund: Razorpay answers a repeat of the same key
    with another body by 409."""
    assert refund.idempotency_key is not None
    return await gateway.create_refund(
        refund.razorpay_payment_id,
        amount=refund.amount,
        idempotency_key=refund.idempotency_key,
        notes={"refund_id": refund.id, "enrollment_id": refund.enrollment_id},
    )


async def submit(db: Database, gateway: PaymentGateway, refund_id: str) -> Refund:
    """Phases 2 and 3 right away (the request, the automatic refund job). Best effort: when
    Razorpay cannot be reached or refuses, the refund stays `requested` and the
    `refunds.submit` job, which already exists, decides."""
    async with db.transaction() as session:
        refund = await repository.get_refund(session, refund_id)
    if refund is None:
        raise LookupError(f"no refund {refund_id}")
    if not needs_submission(refund):
        return refund
    try:
        async with asyncio.timeout(GATEWAY_DEADLINE_SECONDS):
            created = await send(gateway, refund)
    except (GatewayError, TimeoutError) as exc:
        log.warning("refunds.submit_deferred", refund_id=refund.id, error=repr(exc))
        return refund
    async with db.transaction() as session:
        return await record_submission(session, refund_id, created)


async def record_submission(
    session: AsyncSession, refund_id: str, created: RazorpayRefund
) -> Refund:
    """Phase 3: Razorpay's refund id and status. Idempotent (a webhook may have been first)."""
    refund, payment = await _locked(session, refund_id)
    await _advance(
        session,
        refund,
        payment,
        status=RefundStatus(created.status),
        razorpay_refund_id=created.id,
    )
    return refund


async def record_refusal(session: AsyncSession, refund_id: str, why: str) -> Refund:
    """Razorpay refused the refund (or could not be reached for good): it failed, its amount is
    refundable again, and the admins hear of it."""
    refund, payment = await _locked(session, refund_id)
    if needs_submission(refund):
        await _advance(session, refund, payment, status=RefundStatus.failed, failure_reason=why)
    return refund


async def _locked(session: AsyncSession, refund_id: str) -> tuple[Refund, Payment]:
    """The refund, locked after its enrollment and payment (the lock order)."""
    found = await repository.get_refund(session, refund_id)
    if found is None:
        raise LookupError(f"no refund {refund_id}")
    await payments_repository.enrollment_for_update(session, found.enrollment_id)
    payment = await payments_repository.payment_for_update(session, found.payment_id)
    refund = await repository.get_refund(session, refund_id, for_update=True)
    assert refund is not None
    return refund, payment


async def _advance(
    session: AsyncSession,
    refund: Refund,
    payment: Payment,
    *,
    status: RefundStatus,
    razorpay_refund_id: str | None = None,
    failure_reason: str | None = None,
) -> bool:
    """Move the refund forward (never back: a late `pending` after `processed` is stale) and
    enqueue what the new status causes. False when nothing changed."""
    changed = False
    if razorpay_refund_id is not None and refund.razorpay_refund_id is None:
        refund.razorpay_refund_id = razorpay_refund_id
        changed = True
    if _RANK[status] <= _RANK[RefundStatus(refund.status)]:
        return changed
    refund.status = status
    if status == RefundStatus.processed:
        refund.processed_at = utcnow()
        await enqueue(
            session,
            PROCESSED_EMAIL_JOB,
            {"refund_id": refund.id},
            dedupe_key=f"{PROCESSED_EMAIL_JOB}:{refund.id}",
        )
    elif status == RefundStatus.failed:
        refund.failure_reason = (failure_reason or "Razorpay reported the refund as failed.")[:500]
        await _refresh_payment(session, payment)
        await enqueue(
            session,
            FAILED_ALERT_JOB,
            {"refund_id": refund.id},
            dedupe_key=f"{FAILED_ALERT_JOB}:{refund.id}",
        )
    return True


# ---- what Razorpay tells us (webhooks) ----------------------------------------------------------


async def apply_refund_event(session: AsyncSession, event: RefundEvent) -> str:
    """refund.created / .processed / .failed, in the webhook processing job's transaction.
    Our refund is found by Razorpay's id, else by the `refund_id` we put in its notes; a refund
    of one of our captures that enrollpay did not make (the Razorpay Dashboard) is recorded as
    an `admin` refund. Idempotent: a replay finds nothing to change. Returns the outcome for
    the inbox row."""
    entity = event.refund
    target = (
        RefundStatus(entity.status)
        if event.event == "refund.created"
        else RefundStatus(event.event.removeprefix("refund."))
    )
    why = f"Razorpay reported refund {entity.id} as failed."
    refund = await _find(session, entity)
    if refund is None:
        return await _record_outside_refund(session, entity, target, why)
    refund, payment = await _locked(session, refund.id)
    before = refund.status
    if await _advance(
        session, refund, payment, status=target, razorpay_refund_id=entity.id, failure_reason=why
    ):
        return f"{refund.id}: {before} -> {refund.status}"
    return f"{refund.id}: unchanged ({refund.status})"


async def _find(session: AsyncSession, entity: RazorpayRefund) -> Refund | None:
    refund = await repository.refund_by_razorpay_id(session, entity.id)
    if refund is not None:
        return refund
    ours = entity.notes.get("refund_id", "")
    if has_prefix(ours, "rfd"):
        refund = await repository.get_refund(session, ours)
        if (
            refund is not None
            and refund.razorpay_payment_id == entity.payment_id
            and refund.razorpay_refund_id in (None, entity.id)
        ):
            return refund
    return None


async def _record_outside_refund(
    session: AsyncSession, entity: RazorpayRefund, target: RefundStatus, why: str
) -> str:
    attempt = await payments_repository.attempt_by_razorpay_id(session, entity.payment_id)
    if attempt is None:
        return NOT_OURS
    found = await session.get(Payment, attempt.payment_id)
    assert found is not None
    enrollment = await payments_repository.enrollment_for_update(session, found.enrollment_id)
    payment = await payments_repository.payment_for_update(session, found.id)
    # Under the locks: another delivery of the same refund may have recorded it meanwhile.
    refund = await repository.refund_by_razorpay_id(session, entity.id)
    if refund is None:
        refund = await _write_refund(
            session,
            enrollment=enrollment,
            payment=payment,
            attempt=attempt,
            amount=entity.amount,
            kind=RefundKind.admin,
            reason=OUTSIDE_ENROLLPAY,
            razorpay_refund_id=entity.id,
            revoke=target != RefundStatus.failed,
        )
        log.warning("refunds.outside_enrollpay", refund_id=refund.id, razorpay_refund_id=entity.id)
    await _advance(session, refund, payment, status=target, failure_reason=why)
    return f"{refund.id}: recorded a refund {OUTSIDE_ENROLLPAY} ({refund.status})"


# ---- emails (run by the trigger jobs, which have the settings) ----------------------------------


async def queue_processed_email(session: AsyncSession, settings: Settings, refund_id: str) -> None:
    refund, enrollment, user = await _refund_with_owner(session, refund_id)
    course = await _course_title(session, enrollment)
    await queue_email(
        session,
        settings=settings,
        kind="refund_processed",
        to=user.email,
        context={
            "course_title": course,
            "amount": refund.amount,
            "refund_id": refund.razorpay_refund_id or refund.id,
            "currency": refund.currency,
            "learner_name": user.full_name,
        },
        dedupe_key=f"refund_processed:{refund.id}",
        user_id=user.id,
        enrollment_id=enrollment.id,
    )


async def queue_failure_alerts(session: AsyncSession, settings: Settings, refund_id: str) -> None:
    """One alert per active admin."""
    refund, enrollment, user = await _refund_with_owner(session, refund_id)
    course = await _course_title(session, enrollment)
    admins = await repository.active_admins(session)
    if not admins:
        log.error("refunds.failed_refund_unalerted", refund_id=refund.id, reason="no admins")
    for admin in admins:
        await queue_email(
            session,
            settings=settings,
            kind="refund_failed_alert",
            to=admin.email,
            context={
                "course_title": course,
                "amount": refund.amount,
                "currency": refund.currency,
                "refund_id": refund.id,
                "razorpay_refund_id": refund.razorpay_refund_id,
                "refund_kind": refund.kind,
                "failure_reason": refund.failure_reason or "unknown",
                "enrollment_id": enrollment.id,
                "learner_email": user.email,
                "learner_name": admin.full_name,
            },
            dedupe_key=f"refund_failed:{refund.id}:{admin.id}",
            user_id=admin.id,
            enrollment_id=enrollment.id,
        )


async def _refund_with_owner(
    session: AsyncSession, refund_id: str
) -> tuple[Refund, Enrollment, User]:
    refund = await repository.get_refund(session, refund_id)
    if refund is None:
        raise LookupError(f"no refund {refund_id}")
    enrollment = await enrollments_repository.get_enrollment(session, refund.enrollment_id)
    assert enrollment is not None  # foreign key
    user = await session.get(User, enrollment.user_id)
    assert user is not None
    return refund, enrollment, user


async def _course_title(session: AsyncSession, enrollment: Enrollment) -> str:
    courses = await enrollments_repository.courses_by_id(session, {enrollment.course_id})
    return courses[enrollment.course_id].title


# ---- views ------------------------------------------------------------------------------------


async def refund_result(session: AsyncSession, refund_id: str) -> RefundResult:
    refund = await repository.get_refund(session, refund_id)
    assert refund is not None
    enrollment = await enrollments_repository.get_enrollment(session, refund.enrollment_id)
    assert enrollment is not None
    return RefundResult(**RefundOut.of(refund).model_dump(), enrollment_status=enrollment.status)


async def refund_page(
    session: AsyncSession,
    *,
    status: RefundStatus | None,
    kind: RefundKind | None,
    cursor: str | None,
    limit: int,
) -> Page[RefundOut]:
    rows = await repository.list_refunds(
        session,
        status=status,
        kind=kind,
        before_id=checked_cursor(cursor, "rfd"),
        limit=limit + 1,
    )
    page = rows[:limit]
    return Page[RefundOut](
        items=[RefundOut.of(refund) for refund in page],
        next_cursor=page[-1].id if len(rows) > limit else None,
    )
