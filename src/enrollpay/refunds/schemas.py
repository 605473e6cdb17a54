"""API shapes for refunds and disputes. Amounts in: rupees (admin, like other admin amounts);
amounts out: major units as JSON numbers (SPEC §1.6)."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, Field, StringConstraints

from enrollpay.auth.schemas import StrictBody
from enrollpay.kit.money import CURRENCY_EXPONENTS, to_major
from enrollpay.pricing.schemas import MajorAmount
from enrollpay.refunds.models import Dispute, Refund, RefundKind, RefundStatus

Reason = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]


class LearnerRefundRequest(StrictBody):
    reason: Reason


class AdminRefundRequest(StrictBody):
    # Rupees; left out: everything not refunded yet.
    amount: MajorAmount | None = None
    reason: Reason


class RefundOut(BaseModel):
    id: str
    enrollment_id: str
    payment_id: str
    razorpay_payment_id: str
    razorpay_refund_id: str | None
    amount: float
    currency: str
    status: RefundStatus
    kind: RefundKind
    reason: str
    failure_reason: str | None
    requested_by: str | None
    created_at: datetime
    processed_at: datetime | None

    @classmethod
    def of(cls, refund: Refund) -> RefundOut:
        return cls(
            id=refund.id,
            enrollment_id=refund.enrollment_id,
            payment_id=refund.payment_id,
            razorpay_payment_id=refund.razorpay_payment_id,
            razorpay_refund_id=refund.razorpay_refund_id,
            amount=to_major(refund.amount, refund.currency),
            currency=refund.currency,
            status=RefundStatus(refund.status),
            kind=RefundKind(refund.kind),
            reason=refund.reason,
            failure_reason=refund.failure_reason,
            requested_by=refund.requested_by,
            created_at=refund.created_at,
            processed_at=refund.processed_at,
        )


class RefundResult(RefundOut):
    """A refund just requested, and what it did to the enrollment (`refunded`: access is gone)."""

    enrollment_status: str = Field(description="The enrollment's status after the request")


def _major(amount: int, currency: str) -> float:
    # Disputes of other products' payments may be in currencies we do not sell in; Razorpay's
    # subunit is 1/100 for nearly all of them.
    return to_major(amount, currency) if currency in CURRENCY_EXPONENTS else amount / 100


class DisputeOut(BaseModel):
    id: str
    razorpay_dispute_id: str
    razorpay_payment_id: str
    payment_id: str | None
    enrollment_id: str | None
    amount: float
    amount_deducted: float
    currency: str
    reason_code: str | None
    status: str
    phase: str | None
    respond_by: datetime | None
    last_event: str
    note: str | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, dispute: Dispute) -> DisputeOut:
        return cls(
            id=dispute.id,
            razorpay_dispute_id=dispute.razorpay_dispute_id,
            razorpay_payment_id=dispute.razorpay_payment_id,
            payment_id=dispute.payment_id,
            enrollment_id=dispute.enrollment_id,
            amount=_major(dispute.amount, dispute.currency),
            amount_deducted=_major(dispute.amount_deducted, dispute.currency),
            currency=dispute.currency,
            reason_code=dispute.reason_code,
            status=dispute.status,
            phase=dispute.phase,
            respond_by=dispute.respond_by,
            last_event=dispute.last_event,
            note=dispute.note,
            created_at=dispute.created_at,
            updated_at=dispute.updated_at,
        )
