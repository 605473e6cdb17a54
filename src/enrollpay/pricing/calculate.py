"""The one pricing function (SPEC §3). Pure: integers in paise in, integers in paise out.

The quote endpoint, the course pages and enrollment initialize all price through
`calculate_price`, so what a learner is shown is what the gateway charges."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from enrollpay.kit.money import round_half_up
from enrollpay.pricing.models import FULL_PERCENT_BP, DiscountType

# Razorpay refuses orders under 100 paise (₹1.00); a total of 0 takes the free path instead.
GATEWAY_MINIMUM_MINOR = 100


@dataclass(frozen=True)
class CouponTerms:
    """What a coupon takes off: `value` is basis points (percent) or paise (flat)."""

    discount_type: DiscountType
    value: int


@dataclass(frozen=True)
class PriceBreakdown:
    original_amount: int
    course_discount: int
    coupon_discount: int
    discount_applied: int
    final_amount: int  # after discounts, before tax (net of tax when prices include it)
    tax_amount: int
    total_payable: int  # what the gateway charges
    currency: str

    @property
    def is_free(self) -> bool:
        return self.total_payable == 0

    @property
    def below_gateway_minimum(self) -> bool:
        """Chargeable but under Razorpay's minimum: refused (only a coupon can cause it)."""
        return 0 < self.total_payable < GATEWAY_MINIMUM_MINOR


def discount_is_active(
    discount_price: int | None,
    starts_at: datetime | None,
    ends_at: datetime | None,
    now: datetime,
) -> bool:
    """The window is half-open, [starts_at, ends_at): the discount ends exactly at ends_at."""
    if discount_price is None:
        return False
    if starts_at is not None and now < starts_at:
        return False
    return not (ends_at is not None and now >= ends_at)


def coupon_discount_for(amount: int, coupon: CouponTerms) -> int:
    """The coupon's discount on `amount` (already course-discounted), never more than it."""
    if coupon.discount_type == DiscountType.percent:
        basis_points = min(max(coupon.value, 0), FULL_PERCENT_BP)
        return round_half_up(Decimal(amount) * basis_points / FULL_PERCENT_BP)
    return min(max(coupon.value, 0), amount)


def calculate_price(
    *,
    price: int,
    discount_price: int | None = None,
    discount_starts_at: datetime | None = None,
    discount_ends_at: datetime | None = None,
    now: datetime,
    tax_rate: Decimal,
    tax_inclusive: bool,
    coupon: CouponTerms | None = None,
    currency: str = "INR",
) -> PriceBreakdown:
    if price < 0:
        raise ValueError("price must not be negative")
    if tax_rate < 0:
        raise ValueError("tax_rate must not be negative")

    course_discount = 0
    if discount_is_active(discount_price, discount_starts_at, discount_ends_at, now):
        assert discount_price is not None
        # Clamped so a bad row can never raise the price or push it below zero.
        course_discount = price - min(max(discount_price, 0), price)
    discounted = price - course_discount

    coupon_discount = coupon_discount_for(discounted, coupon) if coupon is not None else 0
    after_discounts = discounted - coupon_discount

    if tax_inclusive:
        # The price already contains GST: split it out; the learner pays the shelf price.
        tax_amount = round_half_up(Decimal(after_discounts) * tax_rate / (1 + tax_rate))
        final_amount = after_discounts - tax_amount
        total_payable = after_discounts
    else:
        tax_amount = round_half_up(Decimal(after_discounts) * tax_rate)
        final_amount = after_discounts
        total_payable = after_discounts + tax_amount

    return PriceBreakdown(
        original_amount=price,
        course_discount=course_discount,
        coupon_discount=coupon_discount,
        discount_applied=course_discount + coupon_discount,
        final_amount=final_amount,
        tax_amount=tax_amount,
        total_payable=total_payable,
        currency=currency,
    )
