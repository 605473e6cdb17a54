"""Refund jobs: send a refund to Razorpay (the outbox side of every refund request), and the
emails a refund's outcome causes (these need the settings, which the code that changes a
refund — a webhook, a gateway answer — does not have)."""

from __future__ import annotations

import structlog

from enrollpay.jobs import JobContext, PermanentJobError, job_handler
from enrollpay.payments.gateway.errors import GatewayRejected, GatewayUnavailable
from enrollpay.payments.gateway.factory import job_gateway
from enrollpay.refunds import repository, service

log = structlog.get_logger(__name__)


def _refund_id(ctx: JobContext) -> str:
    value = ctx.payload.get("refund_id")
    if not isinstance(value, str):
        raise PermanentJobError("the job payload has no refund_id")
    return value


@job_handler(service.SUBMIT_JOB, max_attempts=20, backoff_base_seconds=30)
async def submit_refund(ctx: JobContext) -> None:
    """Phases 2 and 3 of a refund the request could not finish. The gateway is called before
    the job's session is touched (no lock held across it); repeating the call is safe because
    the refund's idempotency key never changes."""
    refund_id = _refund_id(ctx)
    async with ctx.db.transaction() as session:
        refund = await repository.get_refund(session, refund_id)
    if refund is None:
        raise PermanentJobError(f"no refund {refund_id}")
    if not service.needs_submission(refund):
        return
    try:
        created = await service.send(job_gateway(ctx.settings, ctx.db), refund)
    except GatewayRejected as exc:
        log.warning("refunds.refused", refund_id=refund_id, error=repr(exc))
        await service.record_refusal(ctx.session, refund_id, f"Razorpay: {exc.description}")
        return
    except GatewayUnavailable as exc:
        if not ctx.is_last_attempt:
            raise
        await service.record_refusal(
            ctx.session, refund_id, f"Razorpay could not be reached: {exc.description}"
        )
        return
    await service.record_submission(ctx.session, refund_id, created)


@job_handler(service.PROCESSED_EMAIL_JOB, max_attempts=5)
async def email_refund_processed(ctx: JobContext) -> None:
    await service.queue_processed_email(ctx.session, ctx.settings, _refund_id(ctx))


@job_handler(service.FAILED_ALERT_JOB, max_attempts=5)
async def alert_refund_failed(ctx: JobContext) -> None:
    await service.queue_failure_alerts(ctx.session, ctx.settings, _refund_id(ctx))
