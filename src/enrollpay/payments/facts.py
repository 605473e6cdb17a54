"""A gateway fact: one thing Razorpay told us about one payment, from any source.

Verify calls, webhooks and reconciliation all reduce what they learn to `GatewayFact`s and feed
them through the same transition function (SPEC §3), so the outcome never depends on which
source spoke first, or how often."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from enrollpay.payments.gateway.entities import RazorpayPayment


class FactSource(StrEnum):
    verify = "verify"
    webhook = "webhook"
    reconcile = "reconcile"


class FactStatus(StrEnum):
    """A Razorpay payment's status as reported. `refunded` only arrives with refunds."""

    created = "created"
    authorized = "authorized"
    captured = "captured"
    failed = "failed"
    refunded = "refunded"


@dataclass(frozen=True)
class GatewayFact:
    razorpay_payment_id: str
    razorpay_order_id: str | None  # None: a payment made without an order (never ours)
    status: FactStatus
    amount: int  # paise
    currency: str
    source: FactSource
    method: str | None = None
    error_code: str | None = None
    error_description: str | None = None
    error_source: str | None = None
    error_step: str | None = None
    error_reason: str | None = None
    # Where it came from, for the payment event log (event id, webhook event name, …).
    reference: str | None = None
    raw: dict[str, Any] | None = None

    @classmethod
    def from_payment(
        cls, payment: RazorpayPayment, source: FactSource, *, reference: str | None = None
    ) -> GatewayFact:
        return cls(
            razorpay_payment_id=payment.id,
            razorpay_order_id=payment.order_id,
            status=FactStatus(payment.status),
            amount=payment.amount,
            currency=payment.currency,
            source=source,
            method=payment.method,
            error_code=payment.error_code,
            error_description=payment.error_description,
            error_source=payment.error_source,
            error_step=payment.error_step,
            error_reason=payment.error_reason,
            reference=reference,
            raw=payment.model_dump(mode="json"),
        )
