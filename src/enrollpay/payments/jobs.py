"""Follow-ups of payment transitions, run by the job worker: capture an authorized payment, and
refund a capture that can never count (SPEC §3 automatic refunds, through the refunds
service). Neither holds a database lock across the gateway call."""

from __future__ import annotations

import structlog

from enrollpay.jobs import JobContext, PermanentJobError, job_handler
from enrollpay.payments.facts import FactSource, GatewayFact
from enrollpay.payments.gateway.errors import GatewayRejected
from enrollpay.payments.gateway.factory import job_gateway
from enrollpay.payments.service import record_gateway_fact
from enrollpay.refunds import service as refunds_service

log = structlog.get_logger(__name__)


@job_handler("payments.capture", max_attempts=12, backoff_base_seconds=10)
async def capture(ctx: JobContext) -> None:
    gateway = job_gateway(ctx.settings, ctx.db)
    payment_id = ctx.payload["razorpay_payment_id"]
    try:
        captured = await gateway.capture_payment(
            payment_id, amount=ctx.payload["amount"], currency=ctx.payload["currency"]
        )
    except GatewayRejected as exc:
        # E.g. the payment was refunded or expired meanwhile: what it is now decides.
        log.warning("payments.capture_refused", razorpay_payment_id=payment_id, error=repr(exc))
        captured = await gateway.fetch_payment(payment_id)
    await record_gateway_fact(
        ctx.session, GatewayFact.from_payment(captured, FactSource.reconcile, reference=ctx.job_id)
    )


@job_handler("payments.auto_refund", max_attempts=20, backoff_base_seconds=30)
async def auto_refund(ctx: JobContext) -> None:
    """Refund a capture that must not be kept, as an `automatic` refund row (with its reason)
    sent at once. The refund's idempotency key is derived from the Razorpay payment id, so
    however often this runs, there is one row and Razorpay refunds once; if Razorpay cannot
    be reached now, the refund's own `refunds.submit` job keeps trying."""
    try:
        async with ctx.db.transaction() as session:
            refund = await refunds_service.request_automatic_refund(
                session,
                payment_id=ctx.payload["payment_id"],
                razorpay_payment_id=ctx.payload["razorpay_payment_id"],
                amount=ctx.payload["amount"],
                reason=ctx.payload["reason"],
            )
    except LookupError as exc:
        raise PermanentJobError(str(exc)) from exc
    if refund is not None:
        await refunds_service.submit(ctx.db, job_gateway(ctx.settings, ctx.db), refund.id)
