"""Follow-ups of payment transitions, run by the job worker: capture an authorized payment, and
refund a capture that can never count (SPEC §3 automatic refunds). Both talk to the gateway
before touching the job's session (no database lock is held across the call) and feed what
the gateway answers back through `record_gateway_fact`."""

from __future__ import annotations

import structlog

from enrollpay.jobs import JobContext, PermanentJobError, job_handler
from enrollpay.kit.clock import utcnow
from enrollpay.kit.ids import new_id
from enrollpay.payments.facts import FactSource, GatewayFact
from enrollpay.payments.gateway.errors import GatewayRejected
from enrollpay.payments.gateway.factory import job_gateway
from enrollpay.payments.models import PaymentEvent
from enrollpay.payments.service import record_gateway_fact

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
    """Refund a capture that must not be kept. The idempotency key is derived from the Razorpay
    payment id, so however often this runs, Razorpay refunds it once."""
    gateway = job_gateway(ctx.settings, ctx.db)
    razorpay_payment_id = ctx.payload["razorpay_payment_id"]
    try:
        refund = await gateway.create_refund(
            razorpay_payment_id,
            amount=ctx.payload["amount"],
            idempotency_key=f"auto-refund-{razorpay_payment_id}",
            notes={"reason": ctx.payload["reason"], "source": "enrollpay automatic refund"},
        )
    except GatewayRejected as exc:
        if "fully refunded" in exc.description.lower():
            log.info("payments.auto_refund_already_done", razorpay_payment_id=razorpay_payment_id)
            return
        raise PermanentJobError(f"automatic refund refused: {exc.description}") from exc
    ctx.session.add(
        PaymentEvent(
            id=new_id("evt"),
            payment_id=ctx.payload["payment_id"],
            razorpay_payment_id=razorpay_payment_id,
            source=FactSource.reconcile,
            status="refund",
            amount=refund.amount,
            currency=refund.currency,
            outcome="refund_requested",
            note=f"automatic refund {refund.id} ({refund.status}): {ctx.payload['reason']}",
            reference=refund.id,
            actions=[],
            created_at=utcnow(),
        )
    )
