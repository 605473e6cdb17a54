from __future__ import annotations

import json
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enrollpay.kit.money import format_money, round_half_up, to_major, to_minor


@pytest.mark.parametrize(
    ("major", "minor"),
    [("4999", 499900), ("2999.1", 299910), ("2999.10", 299910), ("539.82", 53982), ("0", 0)],
)
def test_to_minor(major, minor):
    assert to_minor(Decimal(major)) == minor


@pytest.mark.parametrize("bad", ["1.001", "0.005", "2999.999"])
def test_more_than_two_decimals_is_refused(bad):
    with pytest.raises(ValueError, match="at most 2 decimal places"):
        to_minor(Decimal(bad))


def test_to_major_is_a_json_number_rounded_to_paise():
    assert json.dumps(to_major(353882)) == "3538.82"
    assert json.dumps(to_major(299910)) == "2999.1"
    assert to_major(1) == 0.01


@given(st.integers(min_value=0, max_value=10**13))
def test_round_trip(minor):
    assert to_minor(Decimal(str(to_major(minor)))) == minor


def test_round_half_up():
    assert round_half_up(Decimal("0.5")) == 1
    assert round_half_up(Decimal("1.5")) == 2
    assert round_half_up(Decimal("2.5")) == 3  # not banker's rounding
    assert round_half_up(Decimal("2.49")) == 2


@pytest.mark.parametrize(
    ("minor", "text"),
    [
        (589882, "₹5,898.82"),
        (1234567800, "₹1,23,45,678.00"),
        (5, "₹0.05"),
        (0, "₹0.00"),
        (-5, "-₹0.05"),  # a day's net can be negative (more refunded than captured)
        (-589882, "-₹5,898.82"),
    ],
)
def test_format_money_groups_the_indian_way_and_keeps_the_sign(minor, text):
    assert format_money(minor) == text
