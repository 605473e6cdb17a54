"""Checkout: initialize an enrollment and open its payment, retry it, verify it (SPEC §4.2).

It spans courses, pricing, enrollments and payments, so the whole use case lives here. No
database transaction is ever held across a gateway call ("atomic phases"):

1. reserve — one transaction: lock the course (seats) and coupon (redemptions), write the
   enrollment and a payment row with an *order lease*, commit;
2. call Razorpay to create the order, with the payment id as its `receipt`;
3. record — one transaction: store the order id on the payment, release the lease.

While the lease runs, other initializes for the same learner and course answer 409
`request_in_progress`. If step 2 fails the lease is released and the payment stays without an
order; the next initialize resumes it, looking the receipt up first, so a retry never makes a
second order for the same attempt.

Lock order (shared with `payments.service.apply_gateway_fact`): course, coupon, enrollment,
payment."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from dataclasses import dataclass
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import structlog
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.config import Settings
from enrollpay.courses import repository as courses_repository
from enrollpay.courses.models import Course, CourseStatus
from enrollpay.courses.service import (
    AlreadyEnrolled,
    CourseNotAvailable,
    course_access_path,
    ensure_can_enroll,
)
from enrollpay.db.engine import Database
from enrollpay.enrollments import repository as enrollments_repository
from enrollpay.enrollments.models import Enrollment, EnrollmentStatus
from enrollpay.enrollments.paylink import payment_url
from enrollpay.enrollments.schemas import (
    InitializeRequest,
    InitializeResponse,
    PaymentSession,
    PaymentStatusOut,
    Prefill,
)
from enrollpay.enrollments.service import (
    InvalidState,
    get_owned_enrollment,
    payment_status_view,
    pricing_in_major_units,
    retry_allowed,
)
from enrollpay.errors import AppError, BadRequest, NotFound, field_problem
from enrollpay.idempotency.service import RequestInProgress
from enrollpay.kit.ids import has_prefix, new_id
from enrollpay.notifications.triggers import notify_checkout_started, notify_enrolled
from enrollpay.payments import repository as payments_repository
from enrollpay.payments.facts import FactSource, FactStatus, GatewayFact
from enrollpay.payments.gateway.entities import RazorpayOrder, RazorpayPayment
from enrollpay.payments.gateway.errors import GatewayError, GatewayRejected, GatewayUnavailable
from enrollpay.payments.gateway.factory import gateway_credentials
from enrollpay.payments.gateway.protocol import PaymentGateway
from enrollpay.payments.gateway.signatures import verify_payment_signature
from enrollpay.payments.models import Payment
from enrollpay.payments.service import apply_gateway_fact
from enrollpay.payments.state import Capture, PaymentStatus
from enrollpay.platform.outbound import record_enrollment_event
from enrollpay.platform.outbound_models import EventType
from enrollpay.pricing.calculate import PriceBreakdown
from enrollpay.pricing.service import quote_course
from enrollpay.users.models import User

log = structlog.get_logger(__name__)

# How long one initialize may own the order creation of an attempt. Longer than the gateway
# deadline below, so a live request never loses its lease.
ORDER_LEASE = timedelta(seconds=30)
# A learner waits at most this long for Razorpay before getting 503 (the client retries
# safely inside it).
GATEWAY_DEADLINE_SECONDS = 15.0
BUSINESS_NAME = "enrollpay"


class PaymentGatewayUnavailable(AppError):
    status_code = 503
    code = "payment_gateway_unavailable"
    message = "The payment gateway is not reachable right now."
    hint = "Try again in a minute; repeating the request never creates a second payment."


class PaymentGatewayRefused(PaymentGatewayUnavailable):
    status_code = 502
    message = "The payment gateway refused the request."


class InvalidSignature(BadRequest):
    code = "invalid_signature"
    message = "The payment signature is not valid for this enrollment."
    hint = "Send the three razorpay_* fields exactly as Checkout returned them."


class InvalidRedirectUrl(AppError):
    status_code = 422
    code = "invalid_redirect_url"
    message = "success_url and cancel_url must be http(s) URLs on an allowed host."
    hint = "Allowed hosts are set with ALLOWED_REDIRECT_HOSTS."


# ---- initialize -------------------------------------------------------------------------------


@dataclass
class Reservation:
    """What phase 1 decided and wrote."""

    course: Course
    enrollment: Enrollment
    payment: Payment | None  # None on the free path
    coupon_code: str | None
    created: bool  # a new enrollment (201) rather than the learner's live one (200)
    needs_order: bool
    resume: bool = False  # an earlier call may have created the order already


def check_redirect_urls(settings: Settings, *urls: str | None) -> None:
    problems = []
    for name, url in zip(("success_url", "cancel_url"), urls, strict=True):
        if url is None:
            continue
        parts = urlsplit(url)
        # Browsers read "\" as "/" and drop tabs and newlines, so `https://evil\@allowed/`
        # goes to `evil` while urlsplit sees the host `allowed`: refuse what they could
        # read differently (backslashes, whitespace, control characters, userinfo).
        ambiguous = any(c == "\\" or c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in url)
        if (
            ambiguous
            or parts.scheme not in ("http", "https")
            or "@" in parts.netloc
            or (parts.hostname or "").lower() not in settings.allowed_redirect_hosts
        ):
            problems.append(field_problem(name, "not an http(s) URL on an allowed host"))
    if problems:
        raise InvalidRedirectUrl(details={"fields": problems})


async def initialize(
    db: Database,
    gateway: PaymentGateway,
    settings: Settings,
    user: User,
    body: InitializeRequest,
    *,
    now: datetime,
    idempotency_key: str | None = None,
) -> tuple[int, InitializeResponse]:
    """SPEC §4.2. Returns the HTTP status (201 new enrollment, 200 the learner's live one)."""
    check_redirect_urls(settings, body.success_url, body.cancel_url)
    async with db.transaction() as session:
        reservation = await _reserve(
            session,
            settings,
            user,
            course_id=body.course_id,
            coupon_code=body.coupon_code,
            success_url=body.success_url,
            cancel_url=body.cancel_url,
            metadata=body.metadata,
            now=now,
        )
    return await _finish(db, gateway, settings, user, reservation, now, idempotency_key)


async def retry_payment(
    db: Database,
    gateway: PaymentGateway,
    settings: Settings,
    user: User,
    enrollment_id: str,
    *,
    now: datetime,
) -> tuple[int, InitializeResponse]:
    """A fresh payment session for a `failed` enrollment, or a `pending` one whose hold ran out
    or whose order could not be created; same coupon and redirect URLs."""
    async with db.transaction() as session:
        enrollment = await get_owned_enrollment(session, user.id, enrollment_id)
        current = await _current_payment(session, enrollment)
        if not retry_allowed(enrollment, current, now):
            raise InvalidState(
                f"A {enrollment.status} enrollment cannot be retried.",
                hint="Only failed enrollments, or pending ones whose payment session ended, "
                "get a new payment session; a pending one keeps using its payment_url.",
            )
        reservation = await _reserve(
            session,
            settings,
            user,
            course_id=enrollment.course_id,
            coupon_code=await _coupon_code(session, enrollment.coupon_id),
            success_url=current.success_url if current else None,
            cancel_url=current.cancel_url if current else None,
            metadata=_metadata_of(current),
            now=now,
        )
    return await _finish(db, gateway, settings, user, reservation, now, None)


async def _finish(
    db: Database,
    gateway: PaymentGateway,
    settings: Settings,
    user: User,
    reservation: Reservation,
    now: datetime,
    idempotency_key: str | None,
) -> tuple[int, InitializeResponse]:
    payment = reservation.payment
    if reservation.needs_order:
        assert payment is not None
        order = await _create_order(db, gateway, payment, resume=reservation.resume)
        async with db.transaction() as session:
            payment, still_current = await _record_order(session, payment.id, order)
        if not still_current:
            raise InvalidState(
                "The enrollment changed while its payment was being created.",
                hint="Read GET /api/v1/enrollments/{id}/payment-status for where it stands.",
            )
    status_code = 201 if reservation.created else 200
    return status_code, initialize_response(
        settings, user, reservation, payment, now=now, idempotency_key=idempotency_key
    )


async def _reserve(
    session: AsyncSession,
    settings: Settings,
    user: User,
    *,
    course_id: str,
    coupon_code: str | None,
    success_url: str | None,
    cancel_url: str | None,
    metadata: dict[str, str],
    now: datetime,
) -> Reservation:
    """Phase 1: SPEC §4.2's checks in order, then the enrollment, its holds and the payment."""
    course = (
        await courses_repository.get_course(session, course_id, for_update=True)
        if has_prefix(course_id, "crs")
        else None
    )
    if course is None or course.status == CourseStatus.draft:
        raise NotFound("No course with this id.")
    if course.status != CourseStatus.published:
        raise CourseNotAvailable()
    facts = await ensure_can_enroll(session, course, user.id, now=now)
    quote = await quote_course(
        session,
        settings,
        course=course,
        coupon_code=coupon_code,
        user_id=user.id,
        now=now,
        lock_coupon=True,
    )
    breakdown = quote.breakdown
    coupon_id = quote.coupon.id if quote.coupon is not None else None

    existing = None
    current = None
    if facts.live_enrollment is not None:
        existing = await payments_repository.enrollment_for_update(
            session, facts.live_enrollment.id
        )
        if existing.status == EnrollmentStatus.enrolled:  # a capture landed meanwhile
            raise AlreadyEnrolled(
                details={
                    "enrollment_id": existing.id,
                    "course_access_url": course_access_path(course.id),
                }
            )
        if not existing.is_live:  # cancelled or expired meanwhile: start afresh
            existing = None
        else:
            current = await _current_payment(session, existing, lock=True)

    enrollment = existing

    def reserved(
        payment: Payment | None, *, needs_order: bool, resume: bool = False
    ) -> Reservation:
        assert enrollment is not None
        return Reservation(
            course=course,
            enrollment=enrollment,
            payment=payment,
            coupon_code=quote.coupon_code,
            created=existing is None,
            needs_order=needs_order,
            resume=resume,
        )

    if current is not None and current.status == PaymentStatus.authorized:
        # Money is on its way for this attempt: a new order now could charge the learner twice.
        raise RequestInProgress(5, "A payment for this enrollment is being confirmed.")
    if current is not None and current.razorpay_order_id is None:
        lease = current.order_lease_expires_at
        if lease is not None and lease > now:
            raise RequestInProgress(
                (lease - now).total_seconds(),
                "Another request is creating the payment for this enrollment.",
            )
    if (
        existing is not None
        and current is not None
        and existing.status == EnrollmentStatus.pending
        and not _hold_over(existing, now)
        and _same_pricing(existing, breakdown, coupon_id)
    ):
        # The same checkout again (a double click, a reload, a retried request).
        current.success_url = success_url or current.success_url
        current.cancel_url = cancel_url or current.cancel_url
        if current.razorpay_order_id is not None:
            return reserved(current, needs_order=False)
        current.order_lease_expires_at = now + ORDER_LEASE
        return reserved(current, needs_order=True, resume=True)

    # A new attempt: the first one, a changed price or coupon (the old order is superseded; a
    # late capture of it is handled by SPEC §3's rules), a retry after a failure.
    if current is not None:
        current.superseded_at = current.superseded_at or now
        current.order_lease_expires_at = None
    if enrollment is None:
        enrollment = Enrollment(id=new_id("enr"), user_id=user.id, course_id=course.id)
        session.add(enrollment)
    _apply_pricing(enrollment, breakdown, coupon_id)
    enrollment.failure_reason = None

    if breakdown.is_free:
        enrollment.status = EnrollmentStatus.enrolled
        enrollment.enrolled_at = now
        enrollment.expires_at = None
        enrollment.current_payment_id = None
        await _flush_enrollment(session)
        await notify_enrolled(session, enrollment.id)
        await record_enrollment_event(session, enrollment, EventType.enrollment_enrolled)
        return reserved(None, needs_order=False)

    enrollment.status = EnrollmentStatus.pending
    enrollment.expires_at = now + timedelta(seconds=settings.PENDING_ENROLLMENT_TTL_SECONDS)
    payment_id = new_id("pmt")
    enrollment.current_payment_id = payment_id
    await _flush_enrollment(session)
    payment = Payment(
        id=payment_id,
        enrollment_id=enrollment.id,
        user_id=user.id,
        amount=breakdown.total_payable,
        currency=breakdown.currency,
        receipt=payment_id,
        expires_at=enrollment.expires_at,
        order_lease_expires_at=now + ORDER_LEASE,
        success_url=success_url,
        cancel_url=cancel_url,
        notes={
            **metadata,
            "enrollment_id": enrollment.id,
            "course_id": course.id,
            "user_id": user.id,
        },
    )
    session.add(payment)
    await session.flush()
    await notify_checkout_started(session, settings, enrollment.id, payment_id)
    return reserved(payment, needs_order=True)


def _hold_over(enrollment: Enrollment, now: datetime) -> bool:
    return enrollment.expires_at is not None and enrollment.expires_at <= now


def _same_pricing(enrollment: Enrollment, breakdown: PriceBreakdown, coupon_id: str | None) -> bool:
    return (
        enrollment.coupon_id == coupon_id
        and enrollment.total_payable == breakdown.total_payable
        and enrollment.currency == breakdown.currency
    )


def _apply_pricing(
    enrollment: Enrollment, breakdown: PriceBreakdown, coupon_id: str | None
) -> None:
    enrollment.coupon_id = coupon_id
    enrollment.original_amount = breakdown.original_amount
    enrollment.course_discount = breakdown.course_discount
    enrollment.coupon_discount = breakdown.coupon_discount
    enrollment.final_amount = breakdown.final_amount
    enrollment.tax_amount = breakdown.tax_amount
    enrollment.total_payable = breakdown.total_payable
    enrollment.currency = breakdown.currency


async def _flush_enrollment(session: AsyncSession) -> None:
    try:
        # The partial unique index is the last word on "one live enrollment" (SPEC §1.2).
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise RequestInProgress(1, "Another request is enrolling you in this course.") from None


async def _current_payment(
    session: AsyncSession, enrollment: Enrollment, *, lock: bool = False
) -> Payment | None:
    if enrollment.current_payment_id is None:
        return None
    if lock:
        return await payments_repository.payment_for_update(session, enrollment.current_payment_id)
    return await session.get(Payment, enrollment.current_payment_id)


async def _coupon_code(session: AsyncSession, coupon_id: str | None) -> str | None:
    if coupon_id is None:
        return None
    return (await enrollments_repository.coupon_codes(session, {coupon_id})).get(coupon_id)


def _metadata_of(payment: Payment | None) -> dict[str, str]:
    if payment is None:
        return {}
    reserved = ("enrollment_id", "course_id", "user_id")
    return {key: value for key, value in payment.notes.items() if key not in reserved}


async def _create_order(
    db: Database, gateway: PaymentGateway, payment: Payment, *, resume: bool
) -> RazorpayOrder:
    """Phase 2. On failure the lease is released so the next request resumes at once."""
    try:
        async with asyncio.timeout(GATEWAY_DEADLINE_SECONDS):
            return await gateway.create_order(
                amount=payment.amount,
                currency=payment.currency,
                receipt=payment.receipt,
                notes=payment.notes,
                may_exist=resume,
            )
    except (GatewayError, TimeoutError) as exc:
        log.warning("checkout.order_failed", payment_id=payment.id, error=repr(exc))
        async with db.transaction() as session:
            row = await session.get(Payment, payment.id, with_for_update=True)
            if row is not None and row.razorpay_order_id is None:
                row.order_lease_expires_at = None
        if isinstance(exc, GatewayRejected):
            raise PaymentGatewayRefused() from exc
        raise PaymentGatewayUnavailable() from exc


async def _record_order(
    session: AsyncSession, payment_id: str, order: RazorpayOrder
) -> tuple[Payment, bool]:
    """Phase 3: the order id is stored whatever happened meanwhile (a cancel, say), so webhooks
    and reconciliation recognise the order. Also says whether the payment is still the
    enrollment's current, pending attempt."""
    found = await session.get(Payment, payment_id)
    assert found is not None
    enrollment = await payments_repository.enrollment_for_update(session, found.enrollment_id)
    payment = await payments_repository.payment_for_update(session, payment_id)
    payment.razorpay_order_id = order.id
    payment.order_lease_expires_at = None
    still_current = (
        enrollment.status == EnrollmentStatus.pending
        and enrollment.current_payment_id == payment.id
    )
    return payment, still_current


def initialize_response(
    settings: Settings,
    user: User,
    reservation: Reservation,
    payment: Payment | None,
    *,
    now: datetime,
    idempotency_key: str | None,
) -> InitializeResponse:
    enrollment, course = reservation.enrollment, reservation.course
    enrolled = enrollment.status == EnrollmentStatus.enrolled
    return InitializeResponse(
        enrollment_id=enrollment.id,
        status="enrolled" if enrolled else "pending",
        payment_required=not enrolled,
        **pricing_in_major_units(enrollment),
        currency=enrollment.currency,
        coupon_code=reservation.coupon_code,
        expires_at=enrollment.expires_at,
        payment_session=payment_session(settings, enrollment, course, user, payment, now=now),
        course_access_url=course_access_path(course.id) if enrolled else None,
        idempotency_key=idempotency_key,
    )


def payment_session(
    settings: Settings,
    enrollment: Enrollment,
    course: Course,
    user: User,
    payment: Payment | None,
    *,
    now: datetime,
) -> PaymentSession | None:
    """What Checkout needs to pay `payment`'s order, while the enrollment is pending on it
    and its hold lasts; None otherwise."""
    if (
        payment is None
        or payment.razorpay_order_id is None
        or enrollment.status != EnrollmentStatus.pending
        or enrollment.expires_at is None
        or enrollment.expires_at <= now
    ):
        return None
    credentials = gateway_credentials(settings)
    return PaymentSession(
        razorpay_order_id=payment.razorpay_order_id,
        razorpay_key_id=credentials.key_id,
        amount=payment.amount,
        currency=payment.currency,
        payment_url=payment_url(settings, enrollment.id, enrollment.expires_at),
        expires_at=enrollment.expires_at,
        timeout=max(int((enrollment.expires_at - now).total_seconds()), 1),
        prefill=Prefill(name=user.full_name, email=user.email, contact=user.phone),
        name=BUSINESS_NAME,
        description=checkout_description(course),
        checkout_js_url=credentials.checkout_js_url,
    )


def checkout_description(course: Course) -> str:
    # Checkout requires the description to start with a letter or digit.
    return f"Enrollment: {course.title}"[:255]


# ---- verify -----------------------------------------------------------------------------------


async def verify_payment(
    db: Database,
    gateway: PaymentGateway,
    settings: Settings,
    *,
    user_id: str,
    enrollment_id: str,
    razorpay_order_id: str,
    razorpay_payment_id: str,
    razorpay_signature: str,
    now: datetime,
) -> PaymentStatusOut:
    """SPEC §4.2 verify: 200 with the status body for every signature-valid call."""
    async with db.transaction() as session:
        enrollment = await get_owned_enrollment(session, user_id, enrollment_id)
        payment = await payments_repository.payment_by_order_id(session, razorpay_order_id)
    if payment is None or payment.enrollment_id != enrollment.id:
        raise InvalidSignature()
    await confirm_checkout(db, gateway, settings, payment, razorpay_payment_id, razorpay_signature)
    async with db.transaction() as session:
        enrollment = await get_owned_enrollment(session, user_id, enrollment_id)
        return await payment_status_view(session, settings, enrollment, now=now)


async def confirm_checkout(
    db: Database,
    gateway: PaymentGateway,
    settings: Settings,
    payment: Payment,
    razorpay_payment_id: str,
    razorpay_signature: str,
) -> None:
    """Check Checkout's signature against *our* order id, then learn the truth from Razorpay."""
    assert payment.razorpay_order_id is not None
    key_secret = gateway_credentials(settings).key_secret
    if not verify_payment_signature(
        payment.razorpay_order_id, razorpay_payment_id, razorpay_signature, key_secret
    ):
        raise InvalidSignature()
    await apply_gateway_payment(db, gateway, payment, razorpay_payment_id)


async def apply_gateway_payment(
    db: Database, gateway: PaymentGateway, payment: Payment, razorpay_payment_id: str
) -> None:
    """Fetch the payment from Razorpay (never trust the browser's word), require that it
    belongs to this order, capture it if it is only authorized and may count, and apply the
    facts through the one transition function."""
    fetched = await _gateway_call(gateway.fetch_payment(razorpay_payment_id))
    if fetched.order_id != payment.razorpay_order_id:
        raise InvalidSignature()
    async with db.transaction() as session:
        applied = await apply_gateway_fact(session, _verify_fact(fetched))
    capture = next((a for a in applied.actions if isinstance(a, Capture)), None)
    if capture is None:
        return
    try:
        captured = await gateway.capture_payment(
            capture.razorpay_payment_id, amount=capture.amount, currency=capture.currency
        )
    except GatewayError as exc:
        # The capture job enqueued with the authorized fact keeps trying.
        log.warning("checkout.capture_deferred", razorpay_payment_id=fetched.id, error=repr(exc))
        return
    if captured.status == FactStatus.captured:
        async with db.transaction() as session:
            await apply_gateway_fact(session, _verify_fact(captured))


def _verify_fact(payment: RazorpayPayment) -> GatewayFact:
    return GatewayFact.from_payment(payment, FactSource.verify, reference="checkout")


async def _gateway_call(call: Awaitable[RazorpayPayment]) -> RazorpayPayment:
    try:
        async with asyncio.timeout(GATEWAY_DEADLINE_SECONDS):
            return await call
    except GatewayRejected as exc:
        raise PaymentGatewayRefused() from exc
    except (GatewayUnavailable, TimeoutError) as exc:
        raise PaymentGatewayUnavailable() from exc
