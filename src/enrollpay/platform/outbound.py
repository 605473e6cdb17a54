"""Outbound webhooks to course platforms (SPEC §4.4), per the Standard Webhooks spec.

Recording (the outbox, SPEC §1.4): the code that changes an enrollment's status calls
`record_enrollment_event` in the same transaction. That writes the message (its exact body,
under a dedupe key naming the cause, so a fact applied twice emits once), one delivery per
enabled endpoint that wants it, and each delivery's job. Nothing here commits.

Delivering (`deliver`, run by the job): read the delivery in one transaction, POST outside any
transaction, record the attempt in another. A failed attempt schedules the next one as a new
job, following RETRY_DELAYS_SECONDS; the delivery row names the one job allowed to make the next
attempt, so a job superseded by a redelivery does nothing.
"""

from __future__ import annotations

import json
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay import __version__
from enrollpay.courses.models import Course
from enrollpay.db.engine import Database
from enrollpay.enrollments.models import UNPAID_STATUSES, Enrollment, EnrollmentStatus
from enrollpay.errors import Conflict, NotFound, field_problem, raise_field_problems
from enrollpay.jobs import enqueue
from enrollpay.jobs.worker import describe_error
from enrollpay.kit.clock import utcnow
from enrollpay.kit.ids import has_prefix, new_id
from enrollpay.kit.money import to_major
from enrollpay.kit.pagination import Page
from enrollpay.payments import repository as payments_repository
from enrollpay.payments.models import Payment
from enrollpay.platform import outbound_repository as repository
from enrollpay.platform.models import Platform
from enrollpay.platform.outbound_models import (
    DeliveryStatus,
    EventType,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from enrollpay.platform.outbound_schemas import (
    DeliveryDetail,
    DeliveryOut,
    EndpointCreate,
    EndpointOut,
    EndpointPatch,
    EndpointWithSecret,
    SentTestEvent,
)
from enrollpay.platform.signing import generate_secret, signature_header
from enrollpay.pricing.models import Coupon
from enrollpay.refunds import repository as refunds_repository
from enrollpay.users.models import User

log = structlog.get_logger(__name__)

DELIVER_JOB = "platform.deliver_webhook"

# Waits after each failed attempt (the Standard Webhooks spec's example schedule): ten attempts
# over about three days. Read at call time, so tests can shorten it.
RETRY_DELAYS_SECONDS: tuple[float, ...] = (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)
# Up to this fraction is added to each wait, so deliveries that failed together (a receiver's
# outage) do not all come back in the same second.
RETRY_JITTER = 0.1
# The spec recommends 15 to 30 s; receivers should answer first and work afterwards.
REQUEST_TIMEOUT_SECONDS = 15.0
# An endpoint whose every attempt has failed for this long is disabled (and says why).
DISABLE_AFTER = timedelta(days=5)
# After a rotation both secrets sign, so receivers can switch over without a gap.
ROTATION_OVERLAP = timedelta(hours=24)
RESPONSE_EXCERPT_CHARS = 500
_RESPONSE_READ_BYTES = 4 * RESPONSE_EXCERPT_CHARS  # never more of a receiver's body than this
USER_AGENT = f"enrollpay-webhooks/{__version__}"

_STATUS_EVENTS: Mapping[str, EventType] = {
    EnrollmentStatus.enrolled: EventType.enrollment_enrolled,
    EnrollmentStatus.refunded: EventType.enrollment_refunded,
    EnrollmentStatus.expired: EventType.enrollment_expired,
    EnrollmentStatus.cancelled: EventType.enrollment_cancelled,
    EnrollmentStatus.failed: EventType.payment_failed,
}
_HELD_STATUSES = (*UNPAID_STATUSES, EnrollmentStatus.expired)


class EndpointDisabled(Conflict):
    code = "invalid_state"
    message = "The webhook endpoint is disabled."
    hint = "Enable it first: PATCH the endpoint with is_enabled: true."


def iso(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z") if value else None


def serialize(body: Mapping[str, Any]) -> str:
    """Compact ASCII JSON: the bytes signed are the bytes sent, the same in every language."""
    return json.dumps(body, separators=(",", ":"))


# ---- recording, inside the caller's transaction -------------------------------------------------


async def record_status_change(session: AsyncSession, enrollment: Enrollment) -> str | None:
    """For code that just changed `enrollment.status`: the event its new status calls for."""
    event_type = _STATUS_EVENTS.get(enrollment.status)
    if event_type is None:
        return None
    return await record_enrollment_event(session, enrollment, event_type)


async def record_enrollment_event(
    session: AsyncSession, enrollment: Enrollment, event_type: EventType
) -> str | None:
    """Queue `event_type` about `enrollment` for every enabled endpoint that wants it (global
    endpoints and those of the learner's platform); returns the message id, or None when no
    endpoint wants it or this cause was already recorded."""
    user = await session.get(User, enrollment.user_id)
    assert user is not None  # foreign key
    endpoints = [
        endpoint
        for endpoint in await repository.enabled_endpoints_for(session, user.platform_id)
        if not endpoint.event_types or event_type in endpoint.event_types
    ]
    if not endpoints:
        return None
    now = utcnow()
    data = await _enrollment_data(session, enrollment, user, event_type)
    # The cause, for final states the enrollment itself: each can be entered only once.
    cause = None
    if event_type == EventType.enrollment_enrolled:
        cause = enrollment.enrolled_by or "free"
    elif event_type == EventType.payment_failed and data["payment"] is not None:
        cause = data["payment"]["razorpay_payment_id"] or data["payment"]["id"]
    message_id = await _insert_message(
        session,
        event_type,
        data,
        now=now,
        enrollment_id=enrollment.id,
        dedupe_key=":".join(filter(None, (event_type, enrollment.id, cause))),
    )
    if message_id is None:
        return None
    for endpoint in endpoints:
        await _schedule_delivery(session, endpoint.id, message_id, now=now)
    return message_id


async def _payment_of_event(
    session: AsyncSession, enrollment: Enrollment, event_type: EventType
) -> tuple[Payment | None, str | None]:
    """Our payment (gateway order) the event is about and the Razorpay payment id: the
    capture that enrolled the learner, or the attempt that failed."""
    razorpay_payment_id = None
    payment_id = enrollment.current_payment_id
    if enrollment.enrolled_by is not None and event_type != EventType.payment_failed:
        razorpay_payment_id = enrollment.enrolled_by
        attempt = await payments_repository.attempt_by_razorpay_id(session, razorpay_payment_id)
        payment_id = attempt.payment_id if attempt is not None else payment_id
    elif event_type == EventType.payment_failed and payment_id is not None:
        failed = await repository.latest_failed_attempt(session, payment_id)
        razorpay_payment_id = failed.razorpay_payment_id if failed is not None else None
    payment = await session.get(Payment, payment_id) if payment_id is not None else None
    return payment, razorpay_payment_id


async def _enrollment_data(
    session: AsyncSession, enrollment: Enrollment, user: User, event_type: EventType
) -> dict[str, Any]:
    course = await session.get(Course, enrollment.course_id)
    assert course is not None  # foreign key
    coupon = await session.get(Coupon, enrollment.coupon_id) if enrollment.coupon_id else None
    currency = enrollment.currency
    payment, razorpay_payment_id = await _payment_of_event(session, enrollment, event_type)
    refund = None
    if event_type == EventType.enrollment_refunded:
        refunds = await refunds_repository.refunds_of_enrollment(session, enrollment.id)
        if refunds:
            latest = refunds[-1]
            refund = {
                "id": latest.id,
                "amount": to_major(latest.amount, latest.currency),
                "currency": latest.currency,
                "status": latest.status,
            }
    return {
        "enrollment_id": enrollment.id,
        "status": enrollment.status,
        "course_id": course.id,
        "course_external_id": course.external_id,
        "user_id": user.id,
        "user_external_id": user.external_id,
        "platform_id": user.platform_id,
        "currency": currency,
        "original_amount": to_major(enrollment.original_amount, currency),
        "discount_applied": to_major(
            enrollment.course_discount + enrollment.coupon_discount, currency
        ),
        "tax_amount": to_major(enrollment.tax_amount, currency),
        "total_payable": to_major(enrollment.total_payable, currency),
        "coupon_code": coupon.code if coupon is not None else None,
        "created_at": iso(enrollment.created_at),
        "enrolled_at": iso(enrollment.enrolled_at),
        "cancelled_at": iso(enrollment.cancelled_at),
        # When the unpaid hold ends (or ended, for an expired one).
        "expires_at": iso(enrollment.expires_at) if enrollment.status in _HELD_STATUSES else None,
        "failure_reason": enrollment.failure_reason,
        "payment": (
            {
                "id": payment.id,
                "razorpay_order_id": payment.razorpay_order_id,
                "razorpay_payment_id": razorpay_payment_id,
            }
            if payment is not None
            else None
        ),
        "refund": refund,
    }


async def _insert_message(
    session: AsyncSession,
    event_type: EventType,
    data: Mapping[str, Any],
    *,
    now: datetime,
    enrollment_id: str | None = None,
    dedupe_key: str | None = None,
) -> str | None:
    message_id = new_id("msg")
    body = serialize({"type": event_type, "timestamp": iso(now), "data": data})
    return await repository.insert_message_unless_duplicate(
        session,
        {
            "id": message_id,
            "event_type": event_type,
            "body": body,
            "enrollment_id": enrollment_id,
            "dedupe_key": dedupe_key,
            "created_at": now,
        },
    )


async def _schedule_delivery(
    session: AsyncSession, endpoint_id: str, message_id: str, *, now: datetime
) -> str:
    delivery_id = new_id("wdl")
    job_id = await enqueue(
        session,
        DELIVER_JOB,
        {"delivery_id": delivery_id},
        dedupe_key=f"{DELIVER_JOB}:{delivery_id}",
    )
    session.add(
        WebhookDelivery(
            id=delivery_id,
            endpoint_id=endpoint_id,
            message_id=message_id,
            status=DeliveryStatus.pending,
            attempts=0,
            consecutive_failures=0,
            next_attempt_at=now,
            job_id=job_id,
            created_at=now,
            updated_at=now,
        )
    )
    return delivery_id


# ---- admin: endpoints, deliveries, test sends ---------------------------------------------------


async def get_endpoint_or_404(session: AsyncSession, endpoint_id: str) -> WebhookEndpoint:
    endpoint = (
        await repository.get_endpoint(session, endpoint_id)
        if has_prefix(endpoint_id, "whe")
        else None
    )
    if endpoint is None:
        raise NotFound("No webhook endpoint with this id.")
    return endpoint


async def create_endpoint(session: AsyncSession, body: EndpointCreate) -> EndpointWithSecret:
    if body.platform_id is not None and await session.get(Platform, body.platform_id) is None:
        raise_field_problems([field_problem("platform_id", "no platform with this id")])
    now = utcnow()
    endpoint = WebhookEndpoint(
        id=new_id("whe"),
        platform_id=body.platform_id,
        url=body.url,
        description=body.description,
        event_types=list(body.event_types),
        secret=generate_secret(),
        is_enabled=True,
        created_at=now,
        updated_at=now,
    )
    session.add(endpoint)
    await session.flush()
    return EndpointWithSecret(**EndpointOut.of(endpoint, now).model_dump(), secret=endpoint.secret)


async def update_endpoint(
    session: AsyncSession, endpoint: WebhookEndpoint, patch: EndpointPatch
) -> EndpointOut:
    sent = patch.model_fields_set
    if "url" in sent:
        assert patch.url is not None  # NotNull refused an explicit null
        endpoint.url = patch.url
    if "description" in sent:
        assert patch.description is not None
        endpoint.description = patch.description
    if "event_types" in sent:
        assert patch.event_types is not None
        endpoint.event_types = list(patch.event_types)
    if "is_enabled" in sent and patch.is_enabled != endpoint.is_enabled:
        endpoint.is_enabled = bool(patch.is_enabled)
        # Re-enabling starts afresh; deliveries that failed meanwhile can be redelivered.
        endpoint.disabled_reason = None if endpoint.is_enabled else "disabled by an admin"
        endpoint.failing_since = None
    now = utcnow()
    endpoint.updated_at = now
    return EndpointOut.of(endpoint, now)


async def rotate_secret(session: AsyncSession, endpoint: WebhookEndpoint) -> EndpointWithSecret:
    """A new secret signs from now on; the replaced one also signs for ROTATION_OVERLAP. A
    second rotation inside the overlap ends the older secret's overlap at once."""
    now = utcnow()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = now + ROTATION_OVERLAP
    endpoint.secret = generate_secret()
    endpoint.updated_at = now
    return EndpointWithSecret(**EndpointOut.of(endpoint, now).model_dump(), secret=endpoint.secret)


async def send_test(session: AsyncSession, endpoint: WebhookEndpoint) -> SentTestEvent:
    """An `endpoint.test` event to this endpoint alone, delivered like any other."""
    if not endpoint.is_enabled:
        raise EndpointDisabled()
    now = utcnow()
    data = {"endpoint_id": endpoint.id, "platform_id": endpoint.platform_id}
    message_id = await _insert_message(session, EventType.endpoint_test, data, now=now)
    assert message_id is not None  # no dedupe key, so never a duplicate
    delivery_id = await _schedule_delivery(session, endpoint.id, message_id, now=now)
    return SentTestEvent(message_id=message_id, delivery_id=delivery_id)


async def endpoint_page(
    session: AsyncSession, *, platform_id: str | None, cursor: str | None, limit: int
) -> Page[EndpointOut]:
    rows = await repository.list_endpoints(
        session, platform_id=platform_id, before_id=cursor, limit=limit + 1
    )
    page, now = rows[:limit], utcnow()
    return Page[EndpointOut](
        items=[EndpointOut.of(endpoint, now) for endpoint in page],
        next_cursor=page[-1].id if len(rows) > limit else None,
    )


async def delivery_page(
    session: AsyncSession,
    *,
    endpoint_id: str | None,
    status: DeliveryStatus | None,
    event_type: EventType | None,
    cursor: str | None,
    limit: int,
) -> Page[DeliveryOut]:
    rows = await repository.list_deliveries(
        session,
        endpoint_id=endpoint_id,
        status=status,
        event_type=event_type,
        before_id=cursor,
        limit=limit + 1,
    )
    page = rows[:limit]
    attempts = await repository.attempts_of_deliveries(session, [d.id for d, _ in page])
    attempts_by_delivery: dict[str, list[WebhookAttempt]] = {}
    for attempt in attempts:
        attempts_by_delivery.setdefault(attempt.delivery_id, []).append(attempt)
    return Page[DeliveryOut](
        items=[
            DeliveryOut.of(delivery, event_type, attempts_by_delivery.get(delivery.id, []))
            for delivery, event_type in page
        ],
        next_cursor=page[-1][0].id if len(rows) > limit else None,
    )


async def _delivery_or_404(
    session: AsyncSession, delivery_id: str, *, lock: bool = False
) -> WebhookDelivery:
    delivery = None
    if has_prefix(delivery_id, "wdl"):
        delivery = await (
            repository.delivery_for_update(session, delivery_id)
            if lock
            else repository.get_delivery(session, delivery_id)
        )
    if delivery is None:
        raise NotFound("No webhook delivery with this id.")
    return delivery


async def delivery_detail(session: AsyncSession, delivery_id: str) -> DeliveryDetail:
    delivery = await _delivery_or_404(session, delivery_id)
    message = await repository.get_message(session, delivery.message_id)
    assert message is not None  # foreign key
    attempts = await repository.attempts_of_deliveries(session, [delivery.id])
    return DeliveryDetail.with_payload(delivery, message, attempts)


async def redeliver(session: AsyncSession, delivery_id: str) -> DeliveryDetail:
    """Send the same message (same webhook-id and body) again now, with a fresh retry
    schedule; a retry that was waiting is superseded."""
    delivery = await _delivery_or_404(session, delivery_id, lock=True)
    endpoint = await repository.get_endpoint(session, delivery.endpoint_id)
    assert endpoint is not None  # foreign key
    if not endpoint.is_enabled:
        raise EndpointDisabled()
    now = utcnow()
    delivery.job_id = await enqueue(session, DELIVER_JOB, {"delivery_id": delivery.id})
    delivery.status = DeliveryStatus.pending
    delivery.consecutive_failures = 0
    delivery.next_attempt_at = now
    delivery.updated_at = now
    await session.flush()
    return await delivery_detail(session, delivery.id)


# ---- delivering (the job) -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Request:
    url: str
    message_id: str
    body: str
    secrets: tuple[str, ...]


@dataclass(frozen=True)
class _Outcome:
    status_code: int | None
    error: str | None
    duration_ms: int
    response_excerpt: str | None
    retry_after_seconds: float | None

    @property
    def delivered(self) -> bool:
        return self.error is None


async def deliver(db: Database, delivery_id: str, job_id: str) -> None:
    """One attempt of one delivery, if `job_id` is still the job meant to make it."""
    async with db.transaction() as session:
        request = await _prepare(session, delivery_id, job_id)
    if request is None:
        return
    outcome = await _post(request)
    async with db.transaction() as session:
        await _record(session, delivery_id, job_id, outcome)


async def _prepare(session: AsyncSession, delivery_id: str, job_id: str) -> _Request | None:
    delivery = await repository.delivery_for_update(session, delivery_id)
    if delivery is None or delivery.status != DeliveryStatus.pending or delivery.job_id != job_id:
        return None  # delivered, given up, or superseded by a redelivery
    endpoint = await repository.get_endpoint(session, delivery.endpoint_id)
    message = await repository.get_message(session, delivery.message_id)
    assert endpoint is not None and message is not None  # foreign keys
    now = utcnow()
    if not endpoint.is_enabled:
        delivery.status = DeliveryStatus.failed
        delivery.last_error = "the endpoint is disabled"
        delivery.next_attempt_at = None
        delivery.updated_at = now
        return None
    secrets: tuple[str, ...] = (endpoint.secret,)
    if (
        endpoint.previous_secret is not None
        and endpoint.previous_secret_expires_at is not None
        and endpoint.previous_secret_expires_at > now
    ):
        secrets += (endpoint.previous_secret,)
    return _Request(endpoint.url, message.id, message.body, secrets)


async def _post(request: _Request) -> _Outcome:
    # The attempt's own time, not the event's: receivers reject stale timestamps (replays),
    # and a retry hours later must still pass.
    timestamp = int(utcnow().timestamp())
    headers = {
        "webhook-id": request.message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": signature_header(
            request.secrets, request.message_id, timestamp, request.body
        ),
        "content-type": "application/json",
        "user-agent": USER_AGENT,
    }
    started = time.monotonic()
    status_code = excerpt = retry_after = None
    try:
        # Redirects are failures (the spec's advice): the URL should be updated instead.
        async with (
            httpx.AsyncClient(timeout=REQUEST_TIMEOUT_SECONDS, follow_redirects=False) as client,
            client.stream("POST", request.url, content=request.body, headers=headers) as response,
        ):
            status_code = response.status_code
            retry_after = _retry_after_seconds(response.headers.get("retry-after"))
            excerpt = await _read_excerpt(response)
    except httpx.TimeoutException:
        error: str | None = f"no answer within {REQUEST_TIMEOUT_SECONDS:g} s"
    except httpx.HTTPError as exc:
        error = describe_error(exc)
    else:
        error = None if 200 <= status_code < 300 else f"HTTP {status_code}"
    return _Outcome(
        status_code=status_code,
        error=error[:RESPONSE_EXCERPT_CHARS] if error else None,
        duration_ms=round((time.monotonic() - started) * 1000),
        response_excerpt=excerpt,
        retry_after_seconds=retry_after,
    )


async def _read_excerpt(response: httpx.Response) -> str | None:
    received = b""
    async for chunk in response.aiter_bytes():
        received += chunk
        if len(received) >= _RESPONSE_READ_BYTES:
            break
    text = received.decode("utf-8", errors="replace")[:RESPONSE_EXCERPT_CHARS]
    return text or None


def _retry_after_seconds(value: str | None) -> float | None:
    """Retry-After in seconds (the HTTP-date form is rare from webhook receivers: ignored)."""
    try:
        seconds = float(value) if value is not None else None
    except ValueError:
        return None
    return seconds if seconds is not None and seconds >= 0 else None


def retry_delay(consecutive_failures: int, retry_after_seconds: float | None) -> float | None:
    """Seconds until the next attempt after this many failures in a row; None: give up."""
    schedule = RETRY_DELAYS_SECONDS
    if consecutive_failures > len(schedule):
        return None
    delay = schedule[consecutive_failures - 1]
    if retry_after_seconds is not None:
        # The receiver asked for a pause (429, 503); never longer than our longest wait.
        delay = max(delay, min(retry_after_seconds, max(schedule)))
    return delay * (1 + random.uniform(0, RETRY_JITTER))  # jitter, not a secret  # noqa: S311


async def _record(session: AsyncSession, delivery_id: str, job_id: str, outcome: _Outcome) -> None:
    now = utcnow()
    delivery = await repository.delivery_for_update(session, delivery_id)
    if delivery is None:
        return
    session.add(
        WebhookAttempt(
            delivery_id=delivery.id,
            attempted_at=now,
            status_code=outcome.status_code,
            error=outcome.error,
            duration_ms=outcome.duration_ms,
            response_excerpt=outcome.response_excerpt,
        )
    )
    delivery.attempts += 1
    delivery.last_status_code = outcome.status_code
    delivery.last_error = outcome.error
    delivery.updated_at = now
    if outcome.delivered:
        # Also when a redelivery superseded this job meanwhile: the receiver has it now.
        delivery.status = DeliveryStatus.delivered
        delivery.delivered_at = now
        delivery.next_attempt_at = None
        await repository.mark_endpoint_healthy(session, delivery.endpoint_id)
        return
    await repository.mark_endpoint_failing(session, delivery.endpoint_id, now=now)
    if delivery.status != DeliveryStatus.pending or delivery.job_id != job_id:
        return  # a redelivery's job decides what comes next
    delivery.consecutive_failures += 1
    delay = None
    if not await _endpoint_gone(session, delivery, outcome, now):
        delay = retry_delay(delivery.consecutive_failures, outcome.retry_after_seconds)
    if delay is None:
        delivery.status = DeliveryStatus.failed
        delivery.next_attempt_at = None
        log.warning("platform.webhook_delivery_failed", delivery_id=delivery.id)
        return
    delivery.job_id = await enqueue(session, DELIVER_JOB, {"delivery_id": delivery.id}, delay=delay)
    delivery.next_attempt_at = now + timedelta(seconds=delay)


async def _endpoint_gone(
    session: AsyncSession, delivery: WebhookDelivery, outcome: _Outcome, now: datetime
) -> bool:
    """Disable the endpoint when it answered 410 Gone (the spec: the receiver wants no more)
    or has failed continuously for DISABLE_AFTER; True when it is disabled now."""
    if outcome.status_code == 410:
        reason, before = "the endpoint answered 410 Gone", None
    else:
        reason = f"every attempt failed for {DISABLE_AFTER.days} days"
        before = now - DISABLE_AFTER
    disabled = await repository.disable_endpoint(
        session, delivery.endpoint_id, reason=reason, now=now, failing_since_before=before
    )
    if disabled:
        log.warning("platform.webhook_endpoint_disabled", endpoint_id=delivery.endpoint_id)
    return disabled or outcome.status_code == 410
