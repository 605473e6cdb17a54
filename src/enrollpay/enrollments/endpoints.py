"""Enrollment routes: initialize, verify, status, retry, cancel, lists, access and progress."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse

from enrollpay.abuse import service as abuse
from enrollpay.abuse.service import AttemptAction, audit_payment_attempt
from enrollpay.auth.dependencies import CurrentUser, UserOutsideTransaction
from enrollpay.auth.ratelimit import (
    INITIALIZE_PER_LEARNER,
    RETRY_PER_LEARNER,
    VERIFY_PER_LEARNER,
    RateLimiter,
)
from enrollpay.config import Settings
from enrollpay.courses.service import get_visible_course
from enrollpay.db.session import SessionDep
from enrollpay.enrollments import checkout, service
from enrollpay.enrollments.models import EnrollmentStatus
from enrollpay.enrollments.schemas import (
    CancelRequest,
    CourseAccess,
    EnrollmentDetail,
    EnrollmentOut,
    InitializeRequest,
    InitializeResponse,
    PaymentStatusOut,
    ProgressUpdate,
    VerifyPaymentRequest,
)
from enrollpay.errors import documented
from enrollpay.idempotency.service import StoredResponse, request_fingerprint, run_once
from enrollpay.kit.client import client_ip
from enrollpay.kit.clock import utcnow
from enrollpay.kit.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, checked_cursor
from enrollpay.metrics import metrics_of
from enrollpay.pricing.service import InvalidCoupon
from enrollpay.users.models import User

router = APIRouter(tags=["enrollments"])

GATEWAY_ERRORS: dict[int | str, dict[str, Any]] = {
    502: documented("payment_gateway_unavailable: Razorpay refused the request"),
    503: documented("payment_gateway_unavailable (Razorpay) or service_unavailable (database)"),
}


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


def _limiter(request: Request) -> RateLimiter:
    limiter: RateLimiter = request.app.state.rate_limiter
    return limiter


async def _guard_new_payment(request: Request, user: User) -> None:
    """Velocity rules shared by initialize and retry (both open a new payment)."""
    await abuse.guard_payment_attempt(
        request.app.state.db,
        _settings(request),
        _limiter(request),
        user.id,
        client_ip(request),
        now=utcnow(),
    )


TOO_MANY = documented(
    "too_many_requests: too many calls, refused coupon codes or failed payments; see Retry-After"
)


def _checkout_response(result: StoredResponse) -> JSONResponse:
    headers = dict(result.headers)
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(result.body, status_code=result.status_code, headers=headers)


@router.post(
    "/enrollments/initialize",
    status_code=201,
    response_model=InitializeResponse,
    summary="Start enrolling: price the course, hold a seat and open a Razorpay order",
    description=(
        "201 with a new enrollment; 200 with the learner's live one (the same checkout again, "
        "or a new attempt after a failure or a changed coupon). Free totals are enrolled at "
        "once. With `Idempotency-Key`, repeating the request answers the stored response "
        "(header `Idempotent-Replayed: true`)."
    ),
    responses={
        200: {"model": InitializeResponse, "description": "The learner's live enrollment"},
        409: documented(
            "already_enrolled, course_full, coupon_exhausted, request_in_progress (Retry-After)"
        ),
        422: documented("validation_error, invalid_redirect_url, idempotency_key_reused"),
        429: TOO_MANY,
        **GATEWAY_ERRORS,
    },
)
async def initialize_enrollment(
    request: Request,
    body: InitializeRequest,
    user: UserOutsideTransaction,
    idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None,
) -> JSONResponse:
    limiter = _limiter(request)
    coupon_client = abuse.coupon_client(user.id, client_ip(request))

    async def work() -> StoredResponse:
        try:
            status_code, response = await checkout.initialize(
                request.app.state.db,
                request.app.state.gateway,
                _settings(request),
                user,
                body,
                now=utcnow(),
                idempotency_key=idempotency_key,
            )
        except InvalidCoupon:
            await abuse.count_bad_coupon(limiter, coupon_client)
            raise
        return StoredResponse(status_code, response.model_dump(mode="json"))

    async with audit_payment_attempt(request, user.id, AttemptAction.initialize) as audit:
        await limiter.consume(INITIALIZE_PER_LEARNER, "initialize-learner", user.id)
        if body.coupon_code:
            await abuse.guard_coupon(limiter, coupon_client)
        await _guard_new_payment(request, user)
        with metrics_of(request).operation("initialize"):
            result = await run_once(
                request.app.state.db,
                user_id=user.id,
                key=idempotency_key,
                fingerprint=request_fingerprint(
                    "POST", "/enrollments/initialize", body.model_dump(mode="json")
                ),
                work=work,
            )
        audit.enrollment_id = result.body.get("enrollment_id")
        if result.status_code >= 400:  # a stored refusal, replayed
            audit.outcome = str(result.body.get("error", {}).get("code", result.status_code))
    return _checkout_response(result)


@router.post(
    "/enrollments/{enrollment_id}/verify-payment",
    response_model=PaymentStatusOut,
    summary="Confirm a Checkout payment: signature, then the gateway's own word",
    description=(
        "Every call with a valid signature answers 200 with the payment status (which may "
        "say `failed`); repeating it is harmless."
    ),
    responses={400: documented("invalid_signature"), 429: TOO_MANY, **GATEWAY_ERRORS},
)
async def verify_payment(
    request: Request, enrollment_id: str, body: VerifyPaymentRequest, user: UserOutsideTransaction
) -> PaymentStatusOut:
    async with audit_payment_attempt(request, user.id, AttemptAction.verify, enrollment_id):
        await _limiter(request).consume(VERIFY_PER_LEARNER, "verify-learner", user.id)
        with metrics_of(request).operation("verify"):
            return await checkout.verify_payment(
                request.app.state.db,
                request.app.state.gateway,
                _settings(request),
                user_id=user.id,
                enrollment_id=enrollment_id,
                razorpay_order_id=body.razorpay_order_id,
                razorpay_payment_id=body.razorpay_payment_id,
                razorpay_signature=body.razorpay_signature,
                now=utcnow(),
            )


@router.get(
    "/enrollments/{enrollment_id}/payment-status",
    response_model=PaymentStatusOut,
    summary="Where an enrollment's payment stands (PRD shape)",
)
async def payment_status(
    request: Request, enrollment_id: str, user: CurrentUser, session: SessionDep
) -> PaymentStatusOut:
    enrollment = await service.get_owned_enrollment(session, user.id, enrollment_id)
    return await service.payment_status_view(session, _settings(request), enrollment, now=utcnow())


@router.post(
    "/enrollments/{enrollment_id}/retry-payment",
    response_model=InitializeResponse,
    summary="A fresh payment session for a failed enrollment (or one whose session ended)",
    responses={
        409: documented("invalid_state, request_in_progress"),
        429: TOO_MANY,
        **GATEWAY_ERRORS,
    },
)
async def retry_payment(
    request: Request, enrollment_id: str, user: UserOutsideTransaction
) -> JSONResponse:
    async with audit_payment_attempt(request, user.id, AttemptAction.retry, enrollment_id):
        await _limiter(request).consume(RETRY_PER_LEARNER, "retry-learner", user.id)
        await _guard_new_payment(request, user)
        with metrics_of(request).operation("retry"):
            status_code, response = await checkout.retry_payment(
                request.app.state.db,
                request.app.state.gateway,
                _settings(request),
                user,
                enrollment_id,
                now=utcnow(),
            )
    return JSONResponse(response.model_dump(mode="json"), status_code=status_code)


@router.post(
    "/enrollments/{enrollment_id}/cancel",
    response_model=EnrollmentOut,
    summary="Cancel a pending or failed enrollment (releases its seat and coupon)",
    responses={409: documented("invalid_state: only pending or failed enrollments")},
)
async def cancel_enrollment(
    request: Request,
    enrollment_id: str,
    user: CurrentUser,
    session: SessionDep,
    body: CancelRequest | None = None,
) -> EnrollmentOut:
    reason = body.reason if body is not None else None
    with metrics_of(request).operation("cancel"):
        return await service.cancel(session, user.id, enrollment_id, reason, now=utcnow())


@router.get(
    "/enrollments",
    response_model=Page[EnrollmentOut],
    summary="The caller's enrollments, newest first",
)
async def list_enrollments(
    user: CurrentUser,
    session: SessionDep,
    status: Annotated[EnrollmentStatus | None, Query()] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[EnrollmentOut]:
    return await service.enrollment_page(
        session, user.id, status=status, cursor=checked_cursor(cursor, "enr"), limit=limit
    )


@router.get(
    "/enrollments/{enrollment_id}",
    response_model=EnrollmentDetail,
    summary="One enrollment with its payments, their attempts and its refunds",
)
async def get_enrollment(
    enrollment_id: str, user: CurrentUser, session: SessionDep
) -> EnrollmentDetail:
    enrollment = await service.get_owned_enrollment(session, user.id, enrollment_id)
    return await service.enrollment_detail(session, enrollment)


@router.get(
    "/courses/{course_id}/access",
    response_model=CourseAccess,
    summary="Whether the caller may open the course, and where to continue (PRD shape)",
)
async def course_access(course_id: str, user: CurrentUser, session: SessionDep) -> CourseAccess:
    course = await get_visible_course(session, course_id)
    enrollment = await service.enrolled_enrollment(session, user.id, course.id)
    return service.access_view(course, enrollment)


@router.put(
    "/courses/{course_id}/progress",
    response_model=CourseAccess,
    summary="Report the learner's progress in a course they are enrolled in (0-100)",
    responses={409: documented("invalid_state: not enrolled in this course")},
)
async def course_progress(
    course_id: str, body: ProgressUpdate, user: CurrentUser, session: SessionDep
) -> CourseAccess:
    course = await get_visible_course(session, course_id)
    return await service.set_progress(session, course, user.id, body.progress)
