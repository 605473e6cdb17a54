"""The console's enrollments (issue 8): search, one enrollment with its money, its full
timeline, and access granted without payment. It reads across every domain that touches an
enrollment, so it lives here rather than in any one of them. Nothing here commits."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.admin import repository
from enrollpay.admin.repository import EnrollmentFilters, EnrollmentRow
from enrollpay.admin.schemas import AdminEnrollmentDetail, AdminEnrollmentOut, TimelineEvent
from enrollpay.admin.service import record_admin_action
from enrollpay.courses import repository as courses_repository
from enrollpay.courses.models import CourseStatus
from enrollpay.courses.service import (
    AlreadyEnrolled,
    CourseFull,
    course_access_path,
    enrollment_facts,
)
from enrollpay.enrollments import service as enrollments_service
from enrollpay.enrollments.models import UNPAID_STATUSES, Enrollment, EnrollmentStatus
from enrollpay.errors import NotFound
from enrollpay.kit.ids import has_prefix, new_id
from enrollpay.kit.money import CURRENCY_EXPONENTS, format_money, to_major
from enrollpay.kit.pagination import Page, checked_cursor
from enrollpay.notifications.rendering import IST
from enrollpay.notifications.triggers import notify_enrolled
from enrollpay.payments import repository as payments_repository
from enrollpay.platform.outbound import record_enrollment_event
from enrollpay.platform.outbound_models import DeliveryStatus, EventType
from enrollpay.refunds import repository as refunds_repository
from enrollpay.refunds.schemas import DisputeOut
from enrollpay.users import repository as users_repository
from enrollpay.users.models import User

# ---- search -----------------------------------------------------------------------------------


def _as_aware(moment: datetime) -> datetime:
    # Operators read times in IST (the console shows them so): a bare datetime means IST too.
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=IST)


def range_start(value: date | datetime) -> datetime:
    """`created_from`: a day starts at its midnight in IST; a datetime is itself (inclusive)."""
    if isinstance(value, datetime):
        return _as_aware(value)
    return datetime.combine(value, time.min, tzinfo=IST)


def range_end(value: date | datetime) -> datetime:
    """`created_to`, made exclusive: a day includes all of itself (until the next midnight in
    IST); a datetime includes itself."""
    if isinstance(value, datetime):
        return _as_aware(value) + timedelta(microseconds=1)
    return datetime.combine(value + timedelta(days=1), time.min, tzinfo=IST)


def _enrollment_out(row: EnrollmentRow) -> AdminEnrollmentOut:
    enrollment, payment = row.enrollment, row.current_payment
    currency = enrollment.currency
    holds = enrollment.status in (*UNPAID_STATUSES, EnrollmentStatus.expired)
    return AdminEnrollmentOut(
        id=enrollment.id,
        status=enrollment.status,
        user_id=row.user.id,
        user_email=row.user.email,
        user_name=row.user.full_name,
        course_id=row.course.id,
        course_title=row.course.title,
        original_amount=to_major(enrollment.original_amount, currency),
        course_discount=to_major(enrollment.course_discount, currency),
        coupon_discount=to_major(enrollment.coupon_discount, currency),
        final_amount=to_major(enrollment.final_amount, currency),
        tax_amount=to_major(enrollment.tax_amount, currency),
        total_payable=to_major(enrollment.total_payable, currency),
        currency=currency,
        coupon_code=row.coupon_code,
        created_at=enrollment.created_at,
        enrolled_at=enrollment.enrolled_at,
        # A paid enrollment keeps its old hold's end in the row; it means nothing any more.
        expires_at=enrollment.expires_at if holds else None,
        cancelled_at=enrollment.cancelled_at,
        failure_reason=enrollment.failure_reason,
        cancel_reason=enrollment.cancel_reason,
        enrolled_by=enrollment.enrolled_by,
        progress=enrollment.progress,
        payment_id=payment.id if payment else None,
        razorpay_order_id=payment.razorpay_order_id if payment else None,
        payment_status=payment.status if payment else None,
    )


async def search_enrollments(
    session: AsyncSession,
    *,
    status: EnrollmentStatus | None = None,
    course_id: str | None = None,
    user_id: str | None = None,
    q: str | None = None,
    created_from: date | datetime | None = None,
    created_to: date | datetime | None = None,
    cursor: str | None = None,
    limit: int,
) -> Page[AdminEnrollmentOut]:
    """Newest first; `next_cursor` continues with older enrollments."""
    filters = EnrollmentFilters(
        status=status,
        course_id=course_id or None,
        user_id=user_id or None,
        q=(q or "").strip() or None,
        created_from=range_start(created_from) if created_from is not None else None,
        created_before=range_end(created_to) if created_to is not None else None,
    )
    rows = await repository.search_enrollments(
        session, filters, before_id=checked_cursor(cursor, "enr"), limit=limit + 1
    )
    page = rows[:limit]
    return Page[AdminEnrollmentOut](
        items=[_enrollment_out(row) for row in page],
        next_cursor=page[-1].enrollment.id if len(rows) > limit else None,
    )


# ---- one enrollment ---------------------------------------------------------------------------


async def enrollment_row(session: AsyncSession, enrollment_id: str) -> EnrollmentRow:
    """The enrollment with its learner, course and current payment; 404 when unknown."""
    rows = (
        await repository.search_enrollments(
            session, EnrollmentFilters(q=enrollment_id), before_id=None, limit=1
        )
        if has_prefix(enrollment_id, "enr")
        else []
    )
    if not rows:
        raise NotFound("No enrollment with this id.")
    return rows[0]


async def detail_of(session: AsyncSession, row: EnrollmentRow) -> AdminEnrollmentDetail:
    # The learner's own detail view already assembles payments, attempts and refunds.
    learner_view = await enrollments_service.enrollment_detail(session, row.enrollment)
    disputes = await repository.disputes_of(session, row.enrollment.id)
    return AdminEnrollmentDetail(
        **_enrollment_out(row).model_dump(),
        payments=learner_view.payments,
        refunds=learner_view.refunds,
        disputes=[DisputeOut.of(dispute) for dispute in disputes],
    )


async def enrollment_detail(session: AsyncSession, enrollment_id: str) -> AdminEnrollmentDetail:
    return await detail_of(session, await enrollment_row(session, enrollment_id))


# ---- timeline ---------------------------------------------------------------------------------


def _money(amount: int, currency: str) -> str:
    # Disputes may name a currency we do not sell in; Razorpay's subunit is 1/100 for those.
    if currency in CURRENCY_EXPONENTS:
        return format_money(amount, currency)
    return f"{amount / 100:.2f} {currency}"


def _joined(*parts: str | None) -> str | None:
    text = "; ".join(part for part in parts if part)
    return text or None


def _enrollment_events(enrollment: Enrollment, granted: bool) -> Iterable[TimelineEvent]:
    price = _money(enrollment.total_payable, enrollment.currency)
    yield TimelineEvent(
        at=enrollment.created_at,
        kind="enrollment",
        title="Enrollment created",
        detail=f"Total payable {price}",
        reference_id=enrollment.id,
    )
    if enrollment.enrolled_at is not None:
        if enrollment.enrolled_by is not None:
            how = f"Paid by Razorpay payment {enrollment.enrolled_by}"
        else:
            how = "Access granted by an admin" if granted else "Nothing to pay"
        yield TimelineEvent(
            at=enrollment.enrolled_at,
            kind="enrollment",
            title="Enrolled",
            detail=how,
            reference_id=enrollment.enrolled_by,
            status=EnrollmentStatus.enrolled,
        )
    if enrollment.cancelled_at is not None:
        yield TimelineEvent(
            at=enrollment.cancelled_at,
            kind="enrollment",
            title="Cancelled",
            detail=enrollment.cancel_reason,
            status=EnrollmentStatus.cancelled,
        )
    if enrollment.status == EnrollmentStatus.expired and enrollment.expires_at is not None:
        yield TimelineEvent(
            at=enrollment.expires_at,
            kind="enrollment",
            title="Hold expired unpaid",
            detail=enrollment.failure_reason,
            status=EnrollmentStatus.expired,
        )


async def timeline_of(session: AsyncSession, enrollment: Enrollment) -> list[TimelineEvent]:
    """Every event of the enrollment, oldest first, from one query per source table (their
    number does not grow with the enrollment's history)."""
    payments = await payments_repository.payments_of_enrollment(session, enrollment.id)
    payment_ids = [payment.id for payment in payments]
    attempts = await payments_repository.attempts_of_payments(session, payment_ids)
    gateway_facts = await repository.payment_events_of(session, payment_ids)
    checkout_calls = await repository.checkout_calls_of(session, enrollment.id)
    order_ids = [p.razorpay_order_id for p in payments if p.razorpay_order_id]
    razorpay_payment_ids = [attempt.razorpay_payment_id for attempt in attempts]
    inbox = await repository.inbox_events_of(session, order_ids, razorpay_payment_ids)
    refunds = await refunds_repository.refunds_of_enrollment(session, enrollment.id)
    disputes = await repository.disputes_of(session, enrollment.id)
    emails = await repository.emails_of(session, enrollment.id)
    outbound = await repository.outbound_messages_of(session, enrollment.id)
    actions = await repository.actions_of_enrollment(session, enrollment.id)
    jobs = await repository.jobs_naming(
        session,
        [
            enrollment.id,
            *payment_ids,
            *razorpay_payment_ids,
            *(refund.id for refund in refunds),
            *(row.id for row in inbox),
            *(email.id for email in emails),
            *(delivery.id for _, deliveries in outbound for delivery in deliveries),
        ],
    )

    granted = any(action.action == "enrollment.grant" for action in actions)
    events = list(_enrollment_events(enrollment, granted))
    for payment in payments:
        amount = _money(payment.amount, payment.currency)
        order = payment.razorpay_order_id or "no Razorpay order yet"
        events.append(
            TimelineEvent(
                at=payment.created_at,
                kind="payment",
                title="Payment opened",
                detail=f"{amount}, order {order}",
                reference_id=payment.id,
                status=payment.status,
            )
        )
        if payment.captured_at is not None:
            captured = _money(payment.amount_captured, payment.currency)
            events.append(
                TimelineEvent(
                    at=payment.captured_at,
                    kind="payment",
                    title="Payment captured",
                    detail=f"{captured} captured",
                    reference_id=payment.id,
                    status="captured",
                )
            )
        if payment.superseded_at is not None:
            events.append(
                TimelineEvent(
                    at=payment.superseded_at,
                    kind="payment",
                    title="Order superseded",
                    detail="A newer attempt replaced this order; a late capture of it is "
                    "refunded automatically",
                    reference_id=payment.id,
                    status="superseded",
                )
            )
    for attempt in attempts:
        error = None
        if attempt.error_code or attempt.error_description:
            where = ", ".join(
                filter(None, (attempt.error_source, attempt.error_step, attempt.error_reason))
            )
            error = f"{attempt.error_code or 'error'}: {attempt.error_description or ''}".strip()
            error = f"{error} ({where})" if where else error
        events.append(
            TimelineEvent(
                at=attempt.created_at,
                kind="payment_attempt",
                title=f"Razorpay payment by {attempt.method or 'an unknown method'}",
                detail=_joined(_money(attempt.amount, attempt.currency), error),
                reference_id=attempt.razorpay_payment_id,
                status=attempt.status,
            )
        )
    for fact in gateway_facts:
        events.append(
            TimelineEvent(
                at=fact.created_at,
                kind="payment_event",
                title=f"Gateway fact {fact.status} via {fact.source}",
                # The reference is the webhook's event id, or what else brought the fact.
                detail=_joined(
                    fact.note, f"reference {fact.reference}" if fact.reference else None
                ),
                reference_id=fact.razorpay_payment_id,
                status=fact.outcome,
            )
        )
    for call in checkout_calls:
        events.append(
            TimelineEvent(
                at=call.created_at,
                kind="checkout_call",
                title=f"Checkout call: {call.action}",
                detail=_joined(f"from {call.client_ip}", call.user_agent),
                reference_id=call.id,
                status=call.outcome,
            )
        )
    for row in inbox:
        events.append(
            TimelineEvent(
                at=row.received_at,
                kind="webhook",
                title=f"Razorpay webhook {row.event or '(not an event)'}",
                detail=_joined(
                    f"deliveries: {row.deliveries}, replays: {row.replays}",
                    row.outcome,
                    row.last_error,
                ),
                reference_id=row.id,
                status=row.status,
            )
        )
    for job in jobs:
        events.append(
            TimelineEvent(
                at=job.created_at,
                kind="job",
                title=f"Job {job.kind}",
                detail=_joined(f"attempts {job.attempts}/{job.max_attempts}", job.last_error),
                reference_id=job.id,
                status=job.status,
            )
        )
    for email in emails:
        events.append(
            TimelineEvent(
                at=email.created_at,
                kind="email",
                title=f"Email {email.kind} to {email.to_address}",
                detail=_joined(email.subject, email.last_error),
                reference_id=email.id,
                status=email.status,
            )
        )
    for refund in refunds:
        amount = _money(refund.amount, refund.currency)
        events.append(
            TimelineEvent(
                at=refund.created_at,
                kind="refund",
                title=f"Refund of {amount} requested ({refund.kind})",
                detail=_joined(refund.reason, refund.failure_reason),
                reference_id=refund.id,
                status=refund.status,
            )
        )
        if refund.processed_at is not None:
            events.append(
                TimelineEvent(
                    at=refund.processed_at,
                    kind="refund",
                    title=f"Refund of {amount} processed",
                    detail=refund.razorpay_refund_id,
                    reference_id=refund.id,
                    status=refund.status,
                )
            )
    for dispute in disputes:
        events.append(
            TimelineEvent(
                at=dispute.created_at,
                kind="dispute",
                title=f"Dispute of {_money(dispute.amount, dispute.currency)}",
                detail=_joined(
                    dispute.reason_code, f"last event {dispute.last_event}", dispute.note
                ),
                reference_id=dispute.razorpay_dispute_id,
                status=dispute.status,
            )
        )
    for message, deliveries in outbound:
        counts = {status: 0 for status in DeliveryStatus}
        for delivery in deliveries:
            counts[DeliveryStatus(delivery.status)] += 1
        overall = (
            DeliveryStatus.failed
            if counts[DeliveryStatus.failed]
            else DeliveryStatus.pending
            if counts[DeliveryStatus.pending]
            else DeliveryStatus.delivered
        )
        events.append(
            TimelineEvent(
                at=message.created_at,
                kind="outbound_webhook",
                title=f"Webhook {message.event_type} to platforms",
                detail=", ".join(f"{n} {status}" for status, n in counts.items() if n) or None,
                reference_id=message.id,
                status=overall,
            )
        )
    for action in actions:
        events.append(
            TimelineEvent(
                at=action.created_at,
                kind="admin_action",
                title=f"Admin action {action.action}",
                detail=_joined(*(f"{key}: {value}" for key, value in action.details.items())),
                reference_id=action.id,
                status=None,
            )
        )
    # Stable: events at the same instant keep the order above (cause before effect).
    events.sort(key=lambda event: event.at)
    return events


async def enrollment_timeline(session: AsyncSession, enrollment_id: str) -> list[TimelineEvent]:
    row = await enrollment_row(session, enrollment_id)
    return await timeline_of(session, row.enrollment)


# ---- grant ------------------------------------------------------------------------------------

GRANT_RULES = """Enrolls the learner at no charge (all amounts zero), at once, and records the
grant in the audit trail with its reason. The learner gets the usual enrollment email and
platforms the `enrollment.enrolled` webhook.

- Unknown learner or course, or a draft course: 404 `not_found`. Archived courses, a passed
  enrollment deadline and missing prerequisites do not stop a grant (the operator decides).
- Already enrolled (a live `enrolled` enrollment): 409 `already_enrolled`, with its id.
- A pending or failed enrollment in the course is cancelled and replaced by the granted one
  (`details.replaced` in the audit trail); its open order is superseded, so a payment that
  still lands on it is refunded automatically.
- The grant takes a seat: a full course answers 409 `course_full` (a replaced enrollment's seat
  passes to the grant)."""


async def grant_access(
    session: AsyncSession,
    admin: User,
    *,
    user_id: str,
    course_id: str,
    reason: str,
    now: datetime,
) -> AdminEnrollmentOut:
    """See GRANT_RULES. Lock order as at initialize: course, then enrollment, then payment."""
    learner = (
        await users_repository.get_by_id(session, user_id) if has_prefix(user_id, "usr") else None
    )
    if learner is None:
        raise NotFound("No learner with this id.")
    course = (
        await courses_repository.get_course(session, course_id, for_update=True)
        if has_prefix(course_id, "crs")
        else None
    )
    if course is None or course.status == CourseStatus.draft:
        raise NotFound("No course with this id.")
    facts = await enrollment_facts(session, course, learner.id)
    replaced = None
    if facts.live_enrollment is not None:
        replaced = await payments_repository.enrollment_for_update(
            session, facts.live_enrollment.id
        )
        if replaced.status == EnrollmentStatus.enrolled:
            raise AlreadyEnrolled(
                "The learner is already enrolled in this course.",
                hint="Nothing to grant; details.enrollment_id is their enrollment.",
                details={
                    "enrollment_id": replaced.id,
                    "course_access_url": course_access_path(course.id),
                },
            )
        await _replace(session, replaced, now=now)
    elif facts.seats_left is not None and facts.seats_left <= 0:
        raise CourseFull(hint="Raise the course's capacity first to grant a seat beyond it.")

    enrollment = Enrollment(
        id=new_id("enr"),
        user_id=learner.id,
        course_id=course.id,
        status=EnrollmentStatus.enrolled,
        original_amount=0,
        course_discount=0,
        coupon_discount=0,
        final_amount=0,
        tax_amount=0,
        total_payable=0,
        currency=course.currency,
        enrolled_at=now,
    )
    session.add(enrollment)
    await session.flush()
    await notify_enrolled(session, enrollment.id)
    await record_enrollment_event(session, enrollment, EventType.enrollment_enrolled)
    await record_admin_action(
        session,
        admin,
        "enrollment.grant",
        target_type="enrollment",
        target_id=enrollment.id,
        enrollment_id=enrollment.id,
        details={
            "reason": reason,
            "course_id": course.id,
            "user_id": learner.id,
            "replaced": replaced.id if replaced is not None else None,
        },
    )
    return await enrollment_out(session, enrollment.id)


async def _replace(session: AsyncSession, enrollment: Enrollment, *, now: datetime) -> None:
    """Cancel a pending or failed enrollment as the learner's cancel would, and supersede its
    open order (SPEC §3 then refunds a capture that still lands on it)."""
    if enrollment.current_payment_id is not None:
        payment = await payments_repository.payment_for_update(
            session, enrollment.current_payment_id
        )
        payment.superseded_at = payment.superseded_at or now
        payment.order_lease_expires_at = None
    enrollment.status = EnrollmentStatus.cancelled
    enrollment.cancelled_at = now
    enrollment.cancel_reason = "Replaced by access an admin granted"
    # Out of the live set before the grant is inserted (one live enrollment per course).
    await session.flush()
    await record_enrollment_event(session, enrollment, EventType.enrollment_cancelled)


async def enrollment_out(session: AsyncSession, enrollment_id: str) -> AdminEnrollmentOut:
    return _enrollment_out(await enrollment_row(session, enrollment_id))
