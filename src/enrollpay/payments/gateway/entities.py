"""Razorpay's entities as we read them. Unknown fields are kept (extra="allow") but only the
fields below are relied on; everything arriving from the gateway is validated first."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, field_validator


class _Entity(BaseModel):
    model_config = ConfigDict(extra="allow", frozen=True)

    @field_validator("notes", mode="before", check_fields=False)
    @classmethod
    def _notes(cls, value: Any) -> dict[str, str]:
        # Razorpay shows empty notes as [] (PHP-style) and non-empty ones as an object.
        if value in (None, [], {}):
            return {}
        if isinstance(value, dict):
            return {str(k): str(v) for k, v in value.items()}
        raise ValueError("notes must be an object or an empty list")


OrderStatus = Literal["created", "attempted", "paid"]
PaymentStatus = Literal["created", "authorized", "captured", "refunded", "failed"]
RefundStatus = Literal["pending", "processed", "failed"]


class RazorpayOrder(_Entity):
    id: str
    entity: Literal["order"] = "order"
    amount: int
    amount_paid: int = 0
    amount_due: int = 0
    currency: str
    receipt: str | None = None
    status: OrderStatus
    attempts: int = 0
    notes: dict[str, str] = {}
    created_at: int


class RazorpayPayment(_Entity):
    id: str
    entity: Literal["payment"] = "payment"
    amount: int
    currency: str
    status: PaymentStatus
    order_id: str | None = None
    method: str | None = None
    amount_refunded: int = 0
    refund_status: Literal["partial", "full"] | None = None
    captured: bool = False
    email: str | None = None
    contact: str | None = None
    fee: int | None = None
    tax: int | None = None
    error_code: str | None = None
    error_description: str | None = None
    error_source: str | None = None
    error_step: str | None = None
    error_reason: str | None = None
    notes: dict[str, str] = {}
    created_at: int


class RazorpayRefund(_Entity):
    id: str
    entity: Literal["refund"] = "refund"
    amount: int
    currency: str
    payment_id: str
    notes: dict[str, str] = {}
    receipt: str | None = None
    status: RefundStatus
    speed_requested: str | None = None
    speed_processed: str | None = None
    created_at: int


class RazorpayDispute(_Entity):
    """A dispute as webhooks carry it (docs' entity and `payment.dispute.*` samples). Only
    `id`, `payment_id`, `amount`, `currency` and `status` are relied on; the docs show the rest
    in every sample, but which of them are always present is UNCONFIRMED, so they are optional."""

    id: str
    entity: Literal["dispute"] = "dispute"
    payment_id: str
    amount: int
    currency: str
    status: str
    amount_deducted: int = 0
    reason_code: str | None = None
    respond_by: int | None = None
    phase: str | None = None
    created_at: int | None = None
