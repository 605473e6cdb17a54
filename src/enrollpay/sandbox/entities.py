"""Rows → Razorpay entities, key for key as in the docs' samples (facts §2-§4, §6).

- Every key the samples show is present, in the samples' order; empty `notes` are `[]`.
- The payment entity is one shape everywhere (REST and webhooks): the union of the documented
  samples, so it also carries `base_amount` and `amount_transferred` (the webhook samples have
  them). `card` appears for card payments and `upi` for UPI payments, as in the samples.
- Times are Unix seconds; `fee`/`tax` are null until capture.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from enrollpay.sandbox.models import SandboxOrder, SandboxPayment, SandboxRefund


def unix(moment: datetime) -> int:
    return int(moment.timestamp())


def notes_out(notes: dict[str, Any] | None) -> dict[str, Any] | list[Any]:
    """Razorpay (PHP) shows empty notes as a JSON array."""
    return dict(notes) if notes else []


def order_entity(order: SandboxOrder) -> dict[str, Any]:
    return {
        "id": order.id,
        "entity": "order",
        "amount": order.amount,
        "amount_paid": order.amount_paid,
        "amount_due": max(order.amount - order.amount_paid, 0),
        "currency": order.currency,
        "receipt": order.receipt,
        "offer_id": None,
        "status": order.status,
        "attempts": order.attempts,
        "notes": notes_out(order.notes),
        "created_at": unix(order.created),
    }


def payment_entity(payment: SandboxPayment) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "id": payment.id,
        "entity": "payment",
        "amount": payment.amount,
        "currency": payment.currency,
        "base_amount": payment.amount,
        "status": payment.status,
        "order_id": payment.order_id,
        "invoice_id": None,
        "international": False,
        "method": payment.method,
        "amount_refunded": payment.amount_refunded,
        "amount_transferred": 0,
        "refund_status": payment.refund_status,
        "captured": payment.captured,
        "description": payment.description,
        "card_id": payment.card_id,
    }
    if payment.card is not None:
        entity["card"] = dict(payment.card)
    entity.update(
        {
            "bank": payment.bank,
            "wallet": payment.wallet,
            "vpa": payment.vpa,
            "email": payment.email,
            "contact": payment.contact,
            "notes": notes_out(payment.notes),
            "fee": payment.fee,
            "tax": payment.tax,
            "error_code": payment.error_code,
            "error_description": payment.error_description,
            "error_source": payment.error_source,
            "error_step": payment.error_step,
            "error_reason": payment.error_reason,
            "acquirer_data": dict(payment.acquirer_data),
            "created_at": unix(payment.created),
        }
    )
    if payment.upi is not None:
        entity["upi"] = dict(payment.upi)
    return entity


def refund_entity(refund: SandboxRefund) -> dict[str, Any]:
    return {
        "id": refund.id,
        "entity": "refund",
        "amount": refund.amount,
        "currency": refund.currency,
        "payment_id": refund.payment_id,
        "notes": notes_out(refund.notes),
        "receipt": refund.receipt,
        "acquirer_data": dict(refund.acquirer_data),
        "created_at": unix(refund.created),
        "batch_id": None,
        "status": refund.status,
        "speed_processed": refund.speed_processed,
        "speed_requested": refund.speed_requested,
    }


def collection(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"entity": "collection", "count": len(items), "items": items}
