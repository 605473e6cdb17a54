"""The learner's checkout page (SPEC §5): `/checkout/{enrollment_id}`, signed in with the session
cookie. The course page's Enroll lands here (`?start=1` opens Checkout at once); "My courses"
links here to continue or retry a payment.

The page renders where the enrollment stands; static/checkout-page.js then runs Razorpay
Checkout with a `handler` (no redirect): on success it calls verify-payment, then polls
payment-status with a visible progress state until enrolled — the same API a platform uses, so
it works whichever of the browser and the webhook reaches us first. A failure or a dismissal
shows why with a retry button; retrying asks payment-status first and calls retry-payment when
the old session is over.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from enrollpay.courses.models import Course
from enrollpay.db.session import SessionDep
from enrollpay.enrollments.checkout import payment_session
from enrollpay.enrollments.models import Enrollment, EnrollmentStatus
from enrollpay.enrollments.service import get_owned_enrollment, retry_allowed
from enrollpay.errors import NotFound
from enrollpay.kit.clock import utcnow
from enrollpay.payments.gateway.factory import gateway_credentials
from enrollpay.payments.models import Payment
from enrollpay.payments.state import PaymentStatus
from enrollpay.web.paypage import BRAND_COLOR
from enrollpay.web.site import page_user, render

router = APIRouter(include_in_schema=False)

API = "/api/v1"

# What the page shows first; checkout-page.js moves between them.
PageState = Literal["pay", "confirming", "retry", "enrolled", "closed", "wait"]

_CLOSED_REASONS = {
    EnrollmentStatus.cancelled: "This enrollment was cancelled, so nothing is due.",
    EnrollmentStatus.refunded: "This enrollment was refunded and its access has ended.",
    EnrollmentStatus.expired: "The time to pay for this enrollment ran out and the seat held "
    "for you was released.",
}


def page_state(enrollment: Enrollment, payment: Payment | None, now: datetime) -> PageState:
    if enrollment.status == EnrollmentStatus.enrolled:
        return "enrolled"
    if enrollment.status not in (EnrollmentStatus.pending, EnrollmentStatus.failed):
        return "closed"
    if payment is not None and payment.status in (PaymentStatus.authorized, PaymentStatus.captured):
        return "confirming"  # the money is on its way: no second Checkout
    if retry_allowed(enrollment, payment, now):
        return "retry"
    if enrollment.status == EnrollmentStatus.pending and payment is not None:
        return "pay" if payment.razorpay_order_id is not None else "wait"
    return "closed"


def _retry_message(enrollment: Enrollment) -> str:
    if enrollment.status == EnrollmentStatus.failed:
        return enrollment.failure_reason or "Your payment did not go through."
    if enrollment.expires_at is not None and enrollment.expires_at <= utcnow():
        return "The time to pay ran out. Start again to get a new payment window."
    return "The payment could not be set up with Razorpay. Try again."


@router.get("/checkout/{enrollment_id}")
async def checkout_page(
    enrollment_id: str, request: Request, session: SessionDep, start: bool = False
) -> Response:
    settings = request.app.state.settings
    user = await page_user(session, request)
    if user is None:
        next_path = quote(f"/checkout/{enrollment_id}", safe="/")
        return RedirectResponse(f"/login?next={next_path}", status_code=303)
    try:
        enrollment = await get_owned_enrollment(session, user.id, enrollment_id)
    except NotFound:
        heading = {"heading": "Enrollment not found"}
        return render(request, "site/not_found.html", heading, user=user, status_code=404)
    course = await session.get(Course, enrollment.course_id)
    assert course is not None
    payment = (
        await session.get(Payment, enrollment.current_payment_id)
        if enrollment.current_payment_id is not None
        else None
    )
    now = utcnow()
    state = page_state(enrollment, payment, now)
    checkout_session = payment_session(settings, enrollment, course, user, payment, now=now)
    base = f"{API}/enrollments/{enrollment.id}"
    config: dict[str, Any] = {
        "state": state,
        "start": start and state == "pay",
        "session": checkout_session.model_dump(mode="json") if checkout_session else None,
        "theme_color": BRAND_COLOR,
        "verify_url": f"{base}/verify-payment",
        "status_url": f"{base}/payment-status",
        "retry_url": f"{base}/retry-payment",
        "access_url": access_link(course),
    }
    context: dict[str, Any] = {
        "enrollment": enrollment,
        "course": course,
        "currency": enrollment.currency,
        "state": state,
        "retry_message": _retry_message(enrollment) if state == "retry" else None,
        "closed_message": _CLOSED_REASONS.get(EnrollmentStatus(enrollment.status)),
        "config": config,
        "access_url": access_link(course),
        "checkout_js_url": gateway_credentials(settings).checkout_js_url,
    }
    return render(request, "site/checkout.html", context, user=user)


def access_link(course: Course) -> str:
    """Where "Open the course" goes: the platform's page for it, else our course page."""
    return course.access_url or f"/courses/{course.id}"
