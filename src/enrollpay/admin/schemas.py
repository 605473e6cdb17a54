"""API shapes of the admin package: the audit trail and the console's enrollments."""

from __future__ import annotations

from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StringConstraints

from enrollpay.auth.schemas import StrictBody
from enrollpay.enrollments.schemas import PaymentOut
from enrollpay.refunds.schemas import DisputeOut, RefundOut


class AdminActionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    actor_id: str | None  # None: done from the command line
    action: str
    target_type: str
    target_id: str
    enrollment_id: str | None
    details: dict[str, Any]
    created_at: datetime


# ---- enrollments ------------------------------------------------------------------------------


def _day_or_moment(value: object) -> object:
    """`YYYY-MM-DD` stays a day (a range bound covering the whole day); anything longer is read
    as a datetime."""
    if isinstance(value, str) and len(value) == len("YYYY-MM-DD"):
        return date.fromisoformat(value)
    return value


DayOrMoment = Annotated[datetime | date, BeforeValidator(_day_or_moment)]


class AdminEnrollmentOut(BaseModel):
    """One enrollment as an operator needs it: its state and why, its price (major units, like
    every amount the API shows), the learner, the course and the current payment."""

    id: str
    status: str
    user_id: str
    user_email: str
    user_name: str
    course_id: str
    course_title: str
    original_amount: float
    course_discount: float
    coupon_discount: float
    final_amount: float
    tax_amount: float
    total_payable: float
    currency: str
    coupon_code: str | None
    created_at: datetime
    enrolled_at: datetime | None
    expires_at: datetime | None = Field(
        description="when the unpaid hold ends (pending, failed) or ended (expired)"
    )
    cancelled_at: datetime | None
    failure_reason: str | None
    cancel_reason: str | None
    enrolled_by: str | None = Field(
        description="the Razorpay payment id whose capture enrolled the learner; null when "
        "nothing was paid (a free course or an admin's grant)"
    )
    progress: int
    payment_id: str | None = Field(description="the current payment (pmt_…), if any")
    razorpay_order_id: str | None
    payment_status: str | None


class AdminEnrollmentDetail(AdminEnrollmentOut):
    payments: list[PaymentOut]  # oldest first, each with its Razorpay payment attempts
    refunds: list[RefundOut]
    disputes: list[DisputeOut]


TimelineKind = Literal[
    "enrollment",
    "payment",
    "payment_attempt",
    "payment_event",
    "checkout_call",
    "webhook",
    "job",
    "email",
    "refund",
    "dispute",
    "outbound_webhook",
    "admin_action",
]


class TimelineEvent(BaseModel):
    at: datetime
    kind: TimelineKind
    title: str
    detail: str | None = None
    reference_id: str | None = Field(
        default=None, description="the row or gateway id the event is about (whk_…, job_…, …)"
    )
    status: str | None = None


class GrantRequest(StrictBody):
    user_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    course_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    reason: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)]
