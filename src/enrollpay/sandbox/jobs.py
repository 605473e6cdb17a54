"""Sandbox jobs: webhook deliveries (one job per delivery) and automatic refund settlement.

A delivery job never holds a database transaction while it waits for the receiver: the receiver
may be our own app in this very process, writing to the same (SQLite) database."""

from __future__ import annotations

from enrollpay.jobs import JobContext, PermanentJobError, job_handler
from enrollpay.kit.clock import utcnow
from enrollpay.sandbox import repository
from enrollpay.sandbox.config import DEFAULT_WEBHOOK_TIMEOUT_SECONDS, active_config
from enrollpay.sandbox.errors import SandboxError
from enrollpay.sandbox.models import SandboxWebhookAttempt
from enrollpay.sandbox.service import SETTLE_REFUND_JOB, settle_refund
from enrollpay.sandbox.webhooks import DELIVERY_JOB, delivery_headers, send

# Exponential backoff with full jitter between attempts: up to 1, 2, 4 … minutes, then at most
# 2 hours; with 30 attempts (SandboxConfig.webhook_max_attempts) that spans about 24 hours.
DELIVERY_BACKOFF_BASE_SECONDS = 60.0
DELIVERY_BACKOFF_CAP_SECONDS = 2 * 3600.0


class DeliveryFailed(Exception):
    """The receiver did not answer 2xx in time: the job system retries with backoff."""


@job_handler(
    DELIVERY_JOB,
    max_attempts=30,
    backoff_base_seconds=DELIVERY_BACKOFF_BASE_SECONDS,
    backoff_cap_seconds=DELIVERY_BACKOFF_CAP_SECONDS,
)
async def deliver_webhook(ctx: JobContext) -> None:
    delivery_id = int(ctx.payload["delivery_id"])
    timeout = float(ctx.payload.get("timeout_seconds", DEFAULT_WEBHOOK_TIMEOUT_SECONDS))
    deadline = ctx.payload.get("deadline")
    async with ctx.db.transaction() as session:
        found = await repository.get_delivery(session, delivery_id)
        if found is None:
            return  # the sandbox's data was reset
        delivery, event = found
        if delivery.status != "pending":
            return
        url, body, headers = delivery.url, event.body, delivery_headers(event)

    started_at = utcnow()
    result = await send(url, body, headers, timeout)

    out_of_time = deadline is not None and utcnow().timestamp() >= float(deadline)
    giving_up = not result.ok and (ctx.is_last_attempt or out_of_time)
    async with ctx.db.transaction() as session:
        found = await repository.get_delivery(session, delivery_id)
        if found is None:
            return
        delivery = found[0]
        delivery.attempts += 1
        delivery.last_status_code = result.status_code
        delivery.last_error = result.error
        delivery.last_attempt_at = started_at
        if result.ok:
            delivery.status = "delivered"
            delivery.delivered_at = utcnow()
        elif giving_up:
            delivery.status = "failed"
        session.add(
            SandboxWebhookAttempt(
                delivery_id=delivery_id,
                attempt=delivery.attempts,
                status_code=result.status_code,
                error=result.error,
                started_at=started_at,
                duration_ms=result.duration_ms,
            )
        )
    if not result.ok and not giving_up:
        raise DeliveryFailed(
            f"HTTP {result.status_code}" if result.status_code is not None else str(result.error)
        )


@job_handler(SETTLE_REFUND_JOB, max_attempts=5)
async def settle_refund_automatically(ctx: JobContext) -> None:
    """Embedded mode: a refund still pending after `refund_settle_seconds` is processed."""
    config = active_config(str(ctx.payload["key_id"]), ctx.settings)
    if config is None:
        raise PermanentJobError(f"no running sandbox has key id {ctx.payload['key_id']}")
    try:
        await settle_refund(ctx.session, config, str(ctx.payload["refund_id"]), outcome="processed")
    except SandboxError:
        return  # settled by hand already, or the data was reset
