"""The one pricing function: the PRD example exactly, and properties over random inputs."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enrollpay.kit.money import to_major
from enrollpay.pricing.calculate import (
    CouponTerms,
    PriceBreakdown,
    calculate_price,
    discount_is_active,
)
from enrollpay.pricing.models import DiscountType

NOW = datetime(2026, 1, 15, 10, 0, tzinfo=UTC)
GST = Decimal("0.18")


def test_prd_example_exactly() -> None:
    result = calculate_price(
        price=499900, discount_price=299900, now=NOW, tax_rate=GST, tax_inclusive=False
    )
    assert result == PriceBreakdown(
        original_amount=499900,
        course_discount=200000,
        coupon_discount=0,
        discount_applied=200000,
        final_amount=299900,
        tax_amount=53982,
        total_payable=353882,
        currency="INR",
    )
    assert to_major(result.final_amount) == 2999.0
    assert to_major(result.tax_amount) == 539.82
    assert to_major(result.total_payable) == 3538.82


def test_percent_coupon_on_the_discounted_price() -> None:
    # SAVE10 on the demo course: 2999 - 299.90 = 2699.10; GST 485.838 → 485.84.
    result = calculate_price(
        price=499900,
        discount_price=299900,
        now=NOW,
        tax_rate=GST,
        tax_inclusive=False,
        coupon=CouponTerms(DiscountType.percent, 1000),
    )
    assert result.coupon_discount == 29990
    assert result.discount_applied == 229990
    assert result.final_amount == 269910
    assert result.tax_amount == 48584
    assert result.total_payable == 318494


def test_percent_rounds_half_up() -> None:
    # 12.5 % of 1.00 is 12.5 paise → 13; GST on 87 paise = 15.66 → 16.
    result = calculate_price(
        price=100,
        now=NOW,
        tax_rate=GST,
        tax_inclusive=False,
        coupon=CouponTerms(DiscountType.percent, 1250),
    )
    assert result.coupon_discount == 13
    assert result.final_amount == 87
    assert result.tax_amount == 16


def test_flat_coupon_is_capped_at_the_price() -> None:
    result = calculate_price(
        price=50000,
        now=NOW,
        tax_rate=GST,
        tax_inclusive=False,
        coupon=CouponTerms(DiscountType.flat, 90000),
    )
    assert result.coupon_discount == 50000
    assert result.final_amount == 0
    assert result.total_payable == 0
    assert result.is_free
    assert not result.below_gateway_minimum


def test_inclusive_tax_is_split_out_of_the_price() -> None:
    # ₹1180 including 18 % GST = ₹1000 + ₹180.
    result = calculate_price(price=118000, now=NOW, tax_rate=GST, tax_inclusive=True)
    assert result.final_amount == 100000
    assert result.tax_amount == 18000
    assert result.total_payable == 118000


def test_inclusive_tax_rounds_half_up() -> None:
    # 2999 * 0.18 / 1.18 = 457.4745… → 457.47
    result = calculate_price(price=299900, now=NOW, tax_rate=GST, tax_inclusive=True)
    assert result.tax_amount == 45747
    assert result.final_amount == 299900 - 45747
    assert result.total_payable == 299900


def test_small_total_is_flagged_below_the_gateway_minimum() -> None:
    result = calculate_price(
        price=10000,
        now=NOW,
        tax_rate=GST,
        tax_inclusive=False,
        coupon=CouponTerms(DiscountType.flat, 9950),
    )
    assert result.total_payable == 59  # 50 paise + 9 paise GST
    assert result.below_gateway_minimum
    assert not result.is_free


def test_zero_rate_means_no_tax() -> None:
    result = calculate_price(price=12345, now=NOW, tax_rate=Decimal(0), tax_inclusive=False)
    assert (result.tax_amount, result.total_payable) == (0, 12345)


@pytest.mark.parametrize(
    ("starts", "ends", "active"),
    [
        (None, None, True),
        (NOW - timedelta(days=1), None, True),
        (NOW, None, True),  # starts inclusive
        (NOW + timedelta(seconds=1), None, False),
        (None, NOW + timedelta(seconds=1), True),
        (None, NOW, False),  # ends exclusive
        (NOW - timedelta(days=2), NOW - timedelta(days=1), False),
    ],
)
def test_discount_window(starts: datetime | None, ends: datetime | None, active: bool) -> None:
    assert discount_is_active(299900, starts, ends, NOW) is active
    result = calculate_price(
        price=499900,
        discount_price=299900,
        discount_starts_at=starts,
        discount_ends_at=ends,
        now=NOW,
        tax_rate=GST,
        tax_inclusive=False,
    )
    assert result.course_discount == (200000 if active else 0)


def test_no_discount_price_means_no_discount() -> None:
    assert not discount_is_active(None, None, None, NOW)


def test_negative_inputs_are_programming_errors() -> None:
    with pytest.raises(ValueError):
        calculate_price(price=-1, now=NOW, tax_rate=GST, tax_inclusive=False)
    with pytest.raises(ValueError):
        calculate_price(price=100, now=NOW, tax_rate=Decimal("-0.1"), tax_inclusive=False)


# ---- properties -------------------------------------------------------------------------------

prices = st.integers(min_value=0, max_value=1_000_000_000)
rates = st.decimals(min_value=0, max_value=Decimal("0.99"), places=4)
coupons = st.one_of(
    st.none(),
    st.builds(CouponTerms, st.just(DiscountType.percent), st.integers(1, 10000)),
    st.builds(CouponTerms, st.just(DiscountType.flat), st.integers(1, 2_000_000_000)),
)


@st.composite
def priced(draw: st.DrawFn) -> tuple[dict[str, object], PriceBreakdown]:
    price = draw(prices)
    discount_price = draw(st.one_of(st.none(), st.integers(0, max(price - 1, 0))))
    kwargs: dict[str, object] = {
        "price": price,
        "discount_price": discount_price if price > 0 else None,
        "now": NOW,
        "tax_rate": draw(rates),
        "tax_inclusive": draw(st.booleans()),
        "coupon": draw(coupons),
    }
    return kwargs, calculate_price(**kwargs)  # type: ignore[arg-type]


@given(priced())
def test_amounts_are_non_negative_integers(case: tuple[dict[str, object], PriceBreakdown]) -> None:
    _, result = case
    for name in (
        "original_amount",
        "course_discount",
        "coupon_discount",
        "discount_applied",
        "final_amount",
        "tax_amount",
        "total_payable",
    ):
        value = getattr(result, name)
        assert isinstance(value, int) and not isinstance(value, bool), name
        assert value >= 0, name


@given(priced())
def test_discounts_never_exceed_the_price(case: tuple[dict[str, object], PriceBreakdown]) -> None:
    kwargs, result = case
    assert result.original_amount == kwargs["price"]
    assert result.discount_applied == result.course_discount + result.coupon_discount
    assert result.discount_applied <= result.original_amount


@given(priced())
def test_totals_add_up(case: tuple[dict[str, object], PriceBreakdown]) -> None:
    kwargs, result = case
    after_discounts = result.original_amount - result.discount_applied
    if kwargs["tax_inclusive"]:
        assert result.total_payable == after_discounts
        assert result.final_amount + result.tax_amount == after_discounts
    else:
        assert result.final_amount == after_discounts
        assert result.total_payable == result.final_amount + result.tax_amount
    assert result.tax_amount <= result.total_payable


@given(priced())
def test_tax_matches_the_rate(case: tuple[dict[str, object], PriceBreakdown]) -> None:
    kwargs, result = case
    rate = kwargs["tax_rate"]
    assert isinstance(rate, Decimal)
    taxed_base = Decimal(result.final_amount)
    # Within half a paisa of the exact tax on what it is charged on.
    if kwargs["tax_inclusive"]:
        exact = (taxed_base + result.tax_amount) * rate / (1 + rate)
    else:
        exact = taxed_base * rate
    assert abs(result.tax_amount - exact) <= Decimal("0.5")


@given(
    price=prices,
    rate=rates,
    inclusive=st.booleans(),
    kind=st.sampled_from(list(DiscountType)),
    values=st.tuples(st.integers(1, 1_000_000_000), st.integers(1, 1_000_000_000)),
)
def test_a_bigger_coupon_never_costs_more(
    price: int, rate: Decimal, inclusive: bool, kind: DiscountType, values: tuple[int, int]
) -> None:
    low, high = sorted(values)
    if kind == DiscountType.percent:
        low, high = min(low, 10000), min(high, 10000)

    def total(value: int) -> PriceBreakdown:
        return calculate_price(
            price=price,
            now=NOW,
            tax_rate=rate,
            tax_inclusive=inclusive,
            coupon=CouponTerms(kind, value),
        )

    smaller, bigger = total(low), total(high)
    assert bigger.coupon_discount >= smaller.coupon_discount
    assert bigger.total_payable <= smaller.total_payable
    assert bigger.final_amount <= smaller.final_amount


@given(price=prices, rate=rates, inclusive=st.booleans())
def test_full_percent_coupon_makes_it_free(price: int, rate: Decimal, inclusive: bool) -> None:
    result = calculate_price(
        price=price,
        now=NOW,
        tax_rate=rate,
        tax_inclusive=inclusive,
        coupon=CouponTerms(DiscountType.percent, 10000),
    )
    assert result.total_payable == 0 and result.is_free


@given(priced())
def test_below_minimum_flag(case: tuple[dict[str, object], PriceBreakdown]) -> None:
    _, result = case
    assert result.below_gateway_minimum == (0 < result.total_payable < 100)
