from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from enrollpay.auth.schemas import StrictBody
from enrollpay.refunds.schemas import RefundOut


class CourseAccess(BaseModel):
    """PRD shape of GET /courses/{course_id}/access."""

    has_access: bool
    enrollment_id: str | None
    enrollment_date: datetime | None
    access_expires: datetime | None = None  # access does not expire in version 1
    course_progress: int
    next_lesson_url: str | None


class ProgressUpdate(StrictBody):
    progress: int = Field(ge=0, le=100, strict=True, description="percent complete, 0-100")


# ---- initialize -------------------------------------------------------------------------------

MAX_METADATA_ENTRIES = 12  # Razorpay allows 15 notes; enrollment_id, course_id, user_id use 3
MAX_NOTE_LENGTH = 256
RESERVED_NOTE_KEYS = frozenset({"enrollment_id", "course_id", "user_id"})


def _check_metadata(value: dict[str, str]) -> dict[str, str]:
    if len(value) > MAX_METADATA_ENTRIES:
        raise ValueError(f"at most {MAX_METADATA_ENTRIES} entries")
    for key in value:
        if not 1 <= len(key) <= 40:
            raise ValueError("keys must be 1 to 40 characters")
        if key in RESERVED_NOTE_KEYS:
            raise ValueError(f"{key!r} is reserved")
    return value


NoteValue = Annotated[str, StringConstraints(max_length=MAX_NOTE_LENGTH)]
RedirectUrl = Annotated[str, StringConstraints(max_length=2048)]


class InitializeRequest(StrictBody):
    """PRD request. Amounts never come from the client."""

    course_id: Annotated[str, StringConstraints(min_length=1, max_length=64)]
    coupon_code: Annotated[str, StringConstraints(max_length=64)] | None = None
    payment_method_preference: Literal["razorpay"] | None = None
    success_url: RedirectUrl | None = None
    cancel_url: RedirectUrl | None = None
    metadata: Annotated[dict[str, NoteValue], AfterValidator(_check_metadata)] = Field(
        default_factory=dict,
        description=f"at most {MAX_METADATA_ENTRIES} string values (≤ {MAX_NOTE_LENGTH} "
        "characters), copied into the Razorpay order's notes",
    )


class Prefill(BaseModel):
    name: str | None
    email: str | None
    contact: str | None


class PaymentSession(BaseModel):
    """What Razorpay Checkout needs (or open `payment_url`, the hosted page, instead)."""

    razorpay_order_id: str
    razorpay_key_id: str = Field(description="Checkout's `key` (the PRD's `razorpay_key`)")
    amount: int = Field(description="paise, from the order")
    currency: str
    payment_url: str = Field(description="hosted payment page; valid until expires_at")
    expires_at: datetime
    timeout: int = Field(description="Checkout's `timeout`: seconds left on the hold")
    prefill: Prefill
    name: str
    description: str
    checkout_js_url: str


class InitializeResponse(BaseModel):
    """PRD fields plus tax_amount, total_payable and the breakdown (major units)."""

    enrollment_id: str
    status: Literal["pending", "enrolled"]
    payment_required: bool
    original_amount: float
    course_discount: float
    coupon_discount: float
    discount_applied: float
    final_amount: float
    tax_amount: float
    total_payable: float
    currency: str
    coupon_code: str | None
    expires_at: datetime | None
    payment_session: PaymentSession | None
    course_access_url: str | None = Field(description="set when enrolled (free courses)")
    idempotency_key: str | None = Field(description="the Idempotency-Key sent, if any")


# ---- verify, status, retry, cancel ------------------------------------------------------------

RazorpayId = Annotated[str, StringConstraints(min_length=1, max_length=64)]


class VerifyPaymentRequest(StrictBody):
    """What Checkout's `handler` receives."""

    razorpay_payment_id: RazorpayId
    razorpay_order_id: RazorpayId
    razorpay_signature: Annotated[str, StringConstraints(min_length=1, max_length=128)]


class CancelRequest(StrictBody):
    reason: Annotated[str, StringConstraints(max_length=500)] | None = None


PaymentStatusName = Literal[
    "pending",
    "authorized",
    "completed",
    "failed",
    "partially_refunded",
    "refunded",
    "not_required",
]


class PaymentStatusOut(BaseModel):
    """PRD shape plus failure_reason, retry_allowed and payment_url."""

    enrollment_id: str
    enrollment_status: str
    payment_status: PaymentStatusName = Field(description="`completed` means captured")
    payment_id: str | None = Field(description="our payment (pmt_…) for the current attempt")
    razorpay_order_id: str | None
    razorpay_payment_id: str | None
    amount: float
    currency: str
    completed_at: datetime | None
    course_access_url: str | None
    failure_reason: str | None
    retry_allowed: bool
    payment_url: str | None = Field(description="hosted payment page while the hold lasts")
    expires_at: datetime | None


class AttemptOut(BaseModel):
    razorpay_payment_id: str
    status: str
    method: str | None
    amount: float
    currency: str
    error_code: str | None
    error_description: str | None
    created_at: datetime


class PaymentOut(BaseModel):
    id: str
    razorpay_order_id: str | None
    amount: float
    currency: str
    status: str
    current: bool
    created_at: datetime
    expires_at: datetime | None
    captured_at: datetime | None
    superseded_at: datetime | None
    attempts: list[AttemptOut]


class EnrollmentOut(BaseModel):
    id: str
    course_id: str
    course_title: str
    status: str
    original_amount: float
    course_discount: float
    coupon_discount: float
    discount_applied: float
    final_amount: float
    tax_amount: float
    total_payable: float
    currency: str
    coupon_code: str | None
    created_at: datetime
    expires_at: datetime | None
    enrolled_at: datetime | None
    cancelled_at: datetime | None
    failure_reason: str | None
    progress: int
    course_access_url: str | None


class EnrollmentDetail(EnrollmentOut):
    payments: list[PaymentOut]
    refunds: list[RefundOut] = []
