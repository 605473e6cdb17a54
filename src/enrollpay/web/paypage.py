"""The hosted payment page and Checkout's callback (SPEC §4.1): `/pay/{enrollment_id}?t=…`.

The link's token (`enrollments.paylink`) is the only authentication: whoever holds the link may
pay for that enrollment. A missing, tampered, expired or other-enrollment token is a plain 404
that reveals nothing. CSRF tokens cannot work on the callback (Razorpay's Checkout POSTs it
from its own page); the token in its query plus the payment signature authenticate it, and a
posted failure is never taken as fact: the gateway is asked.

No transaction is held across a gateway call: reads here are short transactions of their own,
and `checkout.confirm_checkout` / `apply_gateway_payment` open theirs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response

from enrollpay.abuse.service import AttemptAction, audit_payment_attempt
from enrollpay.auth.ratelimit import VERIFY_PER_LEARNER, RateLimiter
from enrollpay.config import Settings
from enrollpay.courses.models import Course
from enrollpay.db.engine import Database
from enrollpay.enrollments import checkout, paylink
from enrollpay.enrollments import repository as enrollments_repository
from enrollpay.enrollments.models import Enrollment, EnrollmentStatus
from enrollpay.errors import TooManyRequests, error_response
from enrollpay.kit.clock import utcnow
from enrollpay.payments import repository as payments_repository
from enrollpay.payments.gateway.factory import gateway_credentials
from enrollpay.payments.gateway.protocol import PaymentGateway
from enrollpay.payments.models import Payment
from enrollpay.payments.state import PaymentStatus
from enrollpay.users.models import User
from enrollpay.web.site import TOKEN_PAGE_HEADERS
from enrollpay.web.templating import templates

log = structlog.get_logger(__name__)

router = APIRouter(include_in_schema=False)

# The token is in the URL: pages use TOKEN_PAGE_HEADERS (never cached, never sent on as a
# Referer, never framed: no payment button under someone else's overlay).
SUCCESS_FIELDS = ("razorpay_payment_id", "razorpay_order_id", "razorpay_signature")
# Failures come as error[code], error[description], ... How Razorpay encodes error[metadata] is
# unconfirmed: the sandbox posts it as JSON {order_id, payment_id}; nested fields
# (error[metadata][payment_id]) are accepted too.
ERROR_FIELD_PREFIX = "error["
BRAND_COLOR = "#0b57d0"  # the page's --primary
_MONEY_ON_ITS_WAY = (PaymentStatus.authorized, PaymentStatus.captured)


@dataclass
class _Loaded:
    enrollment: Enrollment
    course: Course
    user: User
    payment: Payment | None  # the current attempt's


def _state(request: Request) -> tuple[Database, PaymentGateway, Settings]:
    state = request.app.state
    return state.db, state.gateway, state.settings


async def _load(db: Database, enrollment_id: str) -> _Loaded | None:
    async with db.transaction() as session:
        enrollment = await enrollments_repository.get_enrollment(session, enrollment_id)
        if enrollment is None:
            return None
        course = await session.get(Course, enrollment.course_id)
        user = await session.get(User, enrollment.user_id)
        payment = (
            await session.get(Payment, enrollment.current_payment_id)
            if enrollment.current_payment_id is not None
            else None
        )
    assert course is not None and user is not None
    return _Loaded(enrollment, course, user, payment)


def _page_url(enrollment_id: str, token: str, page: str = "") -> str:
    return f"/pay/{enrollment_id}{page}?t={quote(token, safe='')}"


def with_query(url: str, **params: str) -> str:
    """`url` with `params` set in its query; its other parameters and fragment are kept."""
    parts = urlsplit(url)
    kept = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    return urlunsplit(parts._replace(query=urlencode([*kept, *params.items()])))


def _back_to(url: str | None, enrollment: Enrollment) -> str | None:
    """The integrator's success_url or cancel_url, told which enrollment and where it stands."""
    if not url:
        return None
    return with_query(url, enrollment_id=enrollment.id, status=enrollment.status)


def _redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303, headers=TOKEN_PAGE_HEADERS)


def _render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    return templates.TemplateResponse(
        request, name, context, status_code=status_code, headers=TOKEN_PAGE_HEADERS
    )


def _message(
    request: Request,
    status_code: int,
    heading: str,
    *paragraphs: str,
    link: tuple[str, str] | None = None,
) -> Response:
    context = {
        "heading": heading,
        "paragraphs": paragraphs,
        "link": {"href": link[0], "text": link[1]} if link else None,
    }
    return _render(request, "pay/message.html", context, status_code)


def _invalid_link(request: Request) -> Response:
    return _message(
        request,
        404,
        "This payment link is invalid or has expired",
        "Go back to the course and start the payment again to get a new link.",
    )


# ---- the page ---------------------------------------------------------------------------------


@router.get("/pay/{enrollment_id}")
async def payment_page(request: Request, enrollment_id: str, t: str | None = None) -> Response:
    db, _, settings = _state(request)
    if not paylink.token_allows(settings, t, enrollment_id):
        return _invalid_link(request)
    assert t is not None
    loaded = await _load(db, enrollment_id)
    if loaded is None:
        return _invalid_link(request)
    enrollment, payment = loaded.enrollment, loaded.payment
    context = {"enrollment": enrollment, "course": loaded.course}

    if enrollment.status == EnrollmentStatus.enrolled:
        success_url = _back_to(payment.success_url if payment else None, enrollment)
        if success_url:
            return _redirect(success_url)
        return _render(request, "pay/enrolled.html", context)
    if enrollment.status == EnrollmentStatus.cancelled:
        return _message(
            request,
            410,
            "This payment link can no longer be used",
            "This enrollment was cancelled, so nothing is due.",
            "To join the course, start a new enrollment from the course page.",
        )
    if enrollment.status == EnrollmentStatus.refunded:
        return _message(
            request,
            410,
            "This payment link can no longer be used",
            "This enrollment was refunded and its access has ended.",
            "To join the course again, start a new enrollment from the course page.",
        )
    now = utcnow()
    if (
        enrollment.status == EnrollmentStatus.expired
        or enrollment.expires_at is None
        or enrollment.expires_at <= now
    ):
        return _message(
            request,
            410,
            "This payment link can no longer be used",
            "The time to pay for this enrollment ran out and the seat held for you was released.",
            "Start the enrollment again from the course page to get a new payment link.",
        )
    if payment is None or payment.razorpay_order_id is None:
        return _message(
            request,
            503,
            "This payment is not ready yet",
            "The payment for this enrollment is still being set up with Razorpay.",
            "Try this link again in a minute.",
            link=(_page_url(enrollment.id, t), "Try again"),
        )
    if payment.status in _MONEY_ON_ITS_WAY:
        # The money is on its way (e.g. Checkout came back before the capture): no second
        # Checkout, just wait for the enrollment.
        confirm = {"mode": "confirm", "status_url": _page_url(enrollment.id, t, "/status")}
        return _render(request, "pay/confirming.html", {**context, "config": confirm})

    credentials = gateway_credentials(settings)
    user = loaded.user
    prefill = {"name": user.full_name, "email": user.email, "contact": user.phone}
    options = {
        "key": credentials.key_id,
        "order_id": payment.razorpay_order_id,
        "amount": payment.amount,
        "currency": payment.currency,
        "name": checkout.BUSINESS_NAME,
        "description": checkout.checkout_description(loaded.course),
        "prefill": {key: value for key, value in prefill.items() if value},
        "theme": {"color": BRAND_COLOR},
        "timeout": max(int((enrollment.expires_at - now).total_seconds()), 1),
        "callback_url": settings.PUBLIC_BASE_URL + _page_url(enrollment.id, t, "/callback"),
        "redirect": True,
    }
    config = {
        "mode": "checkout",
        "options": options,
        "auto_open": enrollment.status == EnrollmentStatus.pending,
        "cancel_url": _back_to(payment.cancel_url, enrollment),
    }
    return _render(
        request,
        "pay/checkout.html",
        {
            **context,
            "currency": enrollment.currency,
            "config": config,
            "checkout_js_url": credentials.checkout_js_url,
        },
    )


@router.get("/pay/{enrollment_id}/status")
async def payment_page_status(
    request: Request, enrollment_id: str, t: str | None = None
) -> Response:
    """What the "Confirming your payment…" page polls."""
    db, _, settings = _state(request)
    loaded = (
        await _load(db, enrollment_id) if paylink.token_allows(settings, t, enrollment_id) else None
    )
    if loaded is None:
        return error_response(
            404,
            "not_found",
            "This payment link is invalid or has expired.",
            headers=TOKEN_PAGE_HEADERS,
        )
    enrolled = loaded.enrollment.status == EnrollmentStatus.enrolled
    body = {
        "status": loaded.enrollment.status,
        "access_url": loaded.course.access_url if enrolled else None,
    }
    return JSONResponse(body, headers=TOKEN_PAGE_HEADERS)


# ---- Checkout's callback --------------------------------------------------------------------


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {key: value for key, value in form.items() if isinstance(value, str)}


def _failure_metadata(form: dict[str, str]) -> tuple[str, str] | None:
    """(order_id, payment_id) named by a posted failure, if it names both."""
    metadata: Any = {
        "order_id": form.get("error[metadata][order_id]"),
        "payment_id": form.get("error[metadata][payment_id]"),
    }
    if "error[metadata]" in form:
        try:
            metadata = json.loads(form["error[metadata]"])
        except ValueError:
            return None
    if not isinstance(metadata, dict):
        return None
    order_id, payment_id = metadata.get("order_id"), metadata.get("payment_id")
    if isinstance(order_id, str) and order_id and isinstance(payment_id, str) and payment_id:
        return order_id, payment_id
    return None


async def _payment_of(db: Database, enrollment_id: str, order_id: str) -> Payment | None:
    """Our payment for `order_id`, only if it belongs to this enrollment."""
    async with db.transaction() as session:
        payment = await payments_repository.payment_by_order_id(session, order_id)
    if payment is None or payment.enrollment_id != enrollment_id:
        return None
    return payment


@router.post("/pay/{enrollment_id}/callback")
async def checkout_callback(request: Request, enrollment_id: str, t: str | None = None) -> Response:
    """Counted against the learner's verify limit and written to the payment-attempt log
    (action `callback`), like the API's verify-payment."""
    db, gateway, settings = _state(request)
    if not paylink.token_allows(settings, t, enrollment_id):
        return _invalid_link(request)
    assert t is not None
    loaded = await _load(db, enrollment_id)
    if loaded is None:
        return _invalid_link(request)
    user_id = loaded.user.id
    async with audit_payment_attempt(
        request, user_id, AttemptAction.callback, enrollment_id
    ) as audit:
        limiter: RateLimiter = request.app.state.rate_limiter
        if not await limiter.hit(VERIFY_PER_LEARNER, "verify-learner", user_id):
            audit.outcome = TooManyRequests.code
            response = _message(
                request,
                429,
                "Too many attempts",
                "This payment was checked too many times in a short while. Wait a few "
                "minutes, then open the payment page again.",
                "If money was taken, your enrollment is confirmed automatically as soon as "
                "Razorpay tells us.",
                link=(_page_url(enrollment_id, t), "Back to the payment page"),
            )
            retry_after = await limiter.retry_after(VERIFY_PER_LEARNER, "verify-learner", user_id)
            response.headers["Retry-After"] = str(retry_after)
            return response
        form = await _form(request)
        if all(form.get(name) for name in SUCCESS_FIELDS):
            audit.outcome, response = await _on_success(
                request, db, gateway, settings, enrollment_id, t, form
            )
            return response
        if any(name.startswith(ERROR_FIELD_PREFIX) for name in form):
            audit.outcome = "payment_failed"
            return await _on_failure(request, db, gateway, enrollment_id, t, form)
        audit.outcome = "not_a_payment_result"
        return _message(
            request,
            400,
            "This is not a payment result",
            "Nothing was changed.",
            link=(_page_url(enrollment_id, t), "Back to the payment page"),
        )


async def _on_success(
    request: Request,
    db: Database,
    gateway: PaymentGateway,
    settings: Settings,
    enrollment_id: str,
    token: str,
    form: dict[str, str],
) -> tuple[str, Response]:
    """The outcome for the payment-attempt log, and the answer."""
    payment = await _payment_of(db, enrollment_id, form["razorpay_order_id"])
    try:
        if payment is None:
            raise checkout.InvalidSignature()
        await checkout.confirm_checkout(
            db,
            gateway,
            settings,
            payment,
            form["razorpay_payment_id"],
            form["razorpay_signature"],
        )
    except checkout.InvalidSignature as exc:
        log.warning("paypage.invalid_signature", enrollment_id=enrollment_id)
        return exc.code, _message(
            request,
            400,
            "We could not verify this payment",
            "The payment details sent back by Razorpay do not match this enrollment, so "
            "nothing was changed.",
            "If money was taken, it is refunded automatically or you are enrolled once "
            "Razorpay confirms the payment to us directly.",
            link=(_page_url(enrollment_id, token), "Back to the payment page"),
        )
    except checkout.PaymentGatewayUnavailable as exc:
        return exc.code, _message(
            request,
            exc.status_code,
            "Your payment is being confirmed",
            "We could not reach Razorpay just now to confirm your payment.",
            "You do not need to pay again: if money was taken, your enrollment is confirmed "
            "automatically within a few minutes, as soon as Razorpay tells us.",
            link=(_page_url(enrollment_id, token), "Check again"),
        )
    return "success", await _after_checkout(request, db, enrollment_id, token)


async def _on_failure(
    request: Request,
    db: Database,
    gateway: PaymentGateway,
    enrollment_id: str,
    token: str,
    form: dict[str, str],
) -> Response:
    named = _failure_metadata(form)
    payment = await _payment_of(db, enrollment_id, named[0]) if named else None
    if named and payment is not None:
        try:
            # The gateway's own record of the attempt, not the posted error, decides.
            await checkout.apply_gateway_payment(db, gateway, payment, named[1])
        except (checkout.InvalidSignature, checkout.PaymentGatewayUnavailable) as exc:
            log.warning(
                "paypage.failure_not_confirmed",
                enrollment_id=enrollment_id,
                razorpay_payment_id=named[1],
                error=repr(exc),
            )
    return await _after_checkout(request, db, enrollment_id, token)


async def _after_checkout(
    request: Request, db: Database, enrollment_id: str, token: str
) -> Response:
    """Where the learner goes once the gateway's word is applied: success_url while enrolled or
    pending (authorized, the capture on its way), cancel_url otherwise; without them, the
    payment page, which shows either (and polls while pending)."""
    loaded = await _load(db, enrollment_id)
    if loaded is None:
        return _invalid_link(request)
    enrollment, payment = loaded.enrollment, loaded.payment
    succeeded = enrollment.status == EnrollmentStatus.enrolled or (
        enrollment.status == EnrollmentStatus.pending
        and payment is not None
        and payment.status in _MONEY_ON_ITS_WAY
    )
    url = None
    if payment is not None:
        url = payment.success_url if succeeded else payment.cancel_url
    return _redirect(_back_to(url, enrollment) or _page_url(enrollment_id, token))
