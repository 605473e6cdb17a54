"""Disputes (chargebacks), control API only: Razorpay's test mode has no way to raise one, so
POST /_sandbox/payments/{payment_id}/dispute sends what a chargeback would, in Razorpay's
envelopes (`contains: ["payment", "dispute"]`, facts §6): `payment.dispute.created` (open), then
`payment.dispute.won` or `.lost`. The dispute entity follows the docs' samples; no dispute REST
API is emulated and nothing but the events is stored."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.kit.clock import utcnow
from enrollpay.sandbox import repository
from enrollpay.sandbox.config import SandboxConfig
from enrollpay.sandbox.entities import payment_entity, unix
from enrollpay.sandbox.errors import SandboxError, not_found
from enrollpay.sandbox.ids import new_id
from enrollpay.sandbox.models import SandboxPayment
from enrollpay.sandbox.service import check_id
from enrollpay.sandbox.webhooks import NewEvent, emit

# How long the merchant has to answer (the docs' samples show about a week).
RESPOND_WITHIN = timedelta(days=7)


def dispute_entity(
    dispute_id: str,
    payment: SandboxPayment,
    *,
    status: str,
    amount_deducted: int,
    created: datetime,
) -> dict[str, Any]:
    return {
        "id": dispute_id,
        "entity": "dispute",
        "payment_id": payment.id,
        "amount": payment.amount,
        "currency": payment.currency,
        "amount_deducted": amount_deducted,
        "reason_code": "chargeback",
        "respond_by": unix(created + RESPOND_WITHIN),
        "status": status,
        "phase": "chargeback",
        "created_at": unix(created),
        "evidence": {
            "amount": payment.amount,
            "summary": None,
            "shipping_proof": None,
            "billing_proof": None,
            "cancellation_proof": None,
            "customer_communication": None,
            "proof_of_service": None,
            "explanation_letter": None,
            "refund_confirmation": None,
            "access_activity_log": None,
            "refund_cancellation_policy": None,
            "term_and_conditions": None,
            "others": None,
            "submitted_at": None,
        },
    }


async def raise_dispute(
    session: AsyncSession,
    config: SandboxConfig,
    payment_id: str,
    *,
    outcome: Literal["won", "lost"],
    send_webhooks: bool = True,
) -> dict[str, Any]:
    """A captured payment is disputed and the dispute decided: lost means the amount was
    deducted from the merchant (`amount_deducted`)."""
    check_id(payment_id, "pay")
    payment = await repository.get_payment(session, config.key_id, payment_id, lock=True)
    if payment is None:
        raise not_found()
    if not payment.captured:
        raise SandboxError("Only a captured payment can be disputed.")
    now = utcnow()
    dispute_id = new_id("disp")
    opened = dispute_entity(dispute_id, payment, status="open", amount_deducted=0, created=now)
    decided = dispute_entity(
        dispute_id,
        payment,
        status=outcome,
        amount_deducted=payment.amount if outcome == "lost" else 0,
        created=now,
    )
    snapshot = payment_entity(payment)
    events = [
        NewEvent("payment.dispute.created", {"payment": snapshot, "dispute": opened}),
        NewEvent(f"payment.dispute.{outcome}", {"payment": snapshot, "dispute": decided}),
    ]
    if send_webhooks:
        await emit(session, config, events)
    return {"dispute": decided, "events": [event.name for event in events]}
