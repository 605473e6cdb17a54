"""API shapes for quotes and coupons, and the money field types the admin APIs share.

Admin amounts arrive in major units (rupees, like the PRD) and are stored in paise; the API
shows major units as JSON numbers (SPEC §1.6)."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from decimal import Decimal
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    Field,
    StrictBool,
)

from enrollpay.auth.schemas import StrictBody
from enrollpay.kit.money import to_major, to_minor
from enrollpay.pricing.calculate import PriceBreakdown
from enrollpay.pricing.models import DiscountType

# A sanity ceiling (₹1 crore): far above any course price, far below BigInteger's range.
MAX_MAJOR_AMOUNT = Decimal("10000000")
MAX_COUNT = 1_000_000_000


def _two_decimals(value: Decimal) -> Decimal:
    try:
        to_minor(value)
    except ValueError:
        raise ValueError("at most 2 decimal places are allowed (INR)") from None
    return value


def _chargeable(value: Decimal) -> Decimal:
    # Razorpay's minimum charge is ₹1.00; 0 is the free path, anything in between is unsellable.
    if Decimal(0) < value < Decimal(1):
        raise ValueError("must be 0 (free) or at least 1.00: Razorpay's minimum charge is ₹1.00")
    return value


# A non-negative amount in rupees with at most two decimals.
MajorAmount = Annotated[
    Decimal, Field(ge=0, le=MAX_MAJOR_AMOUNT, allow_inf_nan=False), AfterValidator(_two_decimals)
]
# A price a learner can be charged: 0 (free) or at least ₹1.00.
Price = Annotated[MajorAmount, AfterValidator(_chargeable)]


class QuoteOut(BaseModel):
    """SPEC §4.1 quote, in major units; the same numbers initialize will charge."""

    original_amount: float
    course_discount: float
    coupon_discount: float
    discount_applied: float
    final_amount: float
    tax_amount: float
    total_payable: float
    currency: str
    coupon_code: str | None
    tax_rate: float
    tax_inclusive: bool

    @classmethod
    def from_breakdown(
        cls,
        breakdown: PriceBreakdown,
        *,
        coupon_code: str | None,
        tax_rate: Decimal,
        tax_inclusive: bool,
    ) -> QuoteOut:
        currency = breakdown.currency
        return cls(
            original_amount=to_major(breakdown.original_amount, currency),
            course_discount=to_major(breakdown.course_discount, currency),
            coupon_discount=to_major(breakdown.coupon_discount, currency),
            discount_applied=to_major(breakdown.discount_applied, currency),
            final_amount=to_major(breakdown.final_amount, currency),
            tax_amount=to_major(breakdown.tax_amount, currency),
            total_payable=to_major(breakdown.total_payable, currency),
            currency=currency,
            coupon_code=coupon_code,
            tax_rate=float(tax_rate),
            tax_inclusive=tax_inclusive,
        )


def _utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


# A timestamp with an explicit offset (naive ones are ambiguous: 422), kept in UTC.
UtcDatetime = Annotated[AwareDatetime, AfterValidator(_utc)]


# ---- coupons (admin) ------------------------------------------------------------------------

COUPON_CODE_PATTERN = re.compile(r"^[A-Za-z0-9_-]{3,40}$")


def normalize_coupon_code(code: str) -> str:
    """Codes are case-insensitive: stored and compared upper-cased."""
    return code.strip().upper()


def _coupon_code(value: str) -> str:
    value = value.strip()
    if not COUPON_CODE_PATTERN.match(value):
        raise ValueError("3 to 40 characters: letters, digits, '-' and '_'")
    return normalize_coupon_code(value)


CouponCode = Annotated[str, Field(max_length=100), AfterValidator(_coupon_code)]
# Percent (0 < v ≤ 100) or rupees (flat); the type-dependent ceiling is checked with the type.
DiscountValue = Annotated[
    Decimal, Field(gt=0, le=MAX_MAJOR_AMOUNT, allow_inf_nan=False), AfterValidator(_two_decimals)
]
Id = Annotated[str, Field(min_length=1, max_length=64)]
Count = Annotated[int, Field(ge=1, le=MAX_COUNT, strict=True)]


def _reject_null(value: Any) -> Any:
    if value is None:
        raise ValueError("may not be null; leave the field out to keep its value")
    return value


# For PATCH bodies: the field may be left out (default None, never validated) but an explicit
# null is refused, because the column cannot be empty.
NotNull = AfterValidator(_reject_null)


class CouponCreate(StrictBody):
    code: CouponCode
    discount_type: DiscountType
    discount_value: DiscountValue
    course_ids: list[Id] = Field(default_factory=list, max_length=200)
    valid_from: UtcDatetime | None = None
    valid_until: UtcDatetime | None = None
    max_redemptions: Count | None = None
    per_user_limit: Count | None = None
    min_amount: MajorAmount | None = None
    active: StrictBool = True


class CouponPatch(StrictBody):
    """Only the fields sent change (`model_fields_set`); null clears a nullable field."""

    code: Annotated[CouponCode | None, NotNull] = None
    discount_type: Annotated[DiscountType | None, NotNull] = None
    discount_value: Annotated[DiscountValue | None, NotNull] = None
    course_ids: Annotated[list[Id] | None, NotNull, Field(max_length=200)] = None
    valid_from: UtcDatetime | None = None
    valid_until: UtcDatetime | None = None
    max_redemptions: Count | None = None
    per_user_limit: Count | None = None
    min_amount: MajorAmount | None = None
    active: Annotated[StrictBool | None, NotNull] = None


class CouponOut(BaseModel):
    id: str
    code: str
    discount_type: DiscountType
    # Percent as a number of percent (12.5), flat in rupees.
    discount_value: float
    course_ids: list[str]
    valid_from: datetime | None
    valid_until: datetime | None
    max_redemptions: int | None
    per_user_limit: int | None
    min_amount: float | None
    active: bool
    # Live enrollments holding the coupon (pending, failed, enrolled).
    redemptions: int
    created_at: datetime
    updated_at: datetime
