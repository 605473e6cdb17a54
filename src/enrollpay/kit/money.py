"""Money is integers in minor units (paise). The API shows major units as JSON numbers."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal

# Version 1 sells in INR only (SPEC §1.6); the exponent table is where another currency goes.
CURRENCY_EXPONENTS = {"INR": 2}
SUPPORTED_CURRENCIES = frozenset(CURRENCY_EXPONENTS)
CURRENCY_SYMBOLS = {"INR": "₹"}


def to_minor(amount: Decimal, currency: str = "INR") -> int:
    """Major units → minor units; more decimals than the currency has is an error."""
    exponent = CURRENCY_EXPONENTS[currency]
    scaled = amount.scaleb(exponent)
    if scaled != scaled.to_integral_value():
        raise ValueError(f"at most {exponent} decimal places are allowed for {currency}")
    return int(scaled)


def to_major(minor: int, currency: str = "INR") -> float:
    """Minor units → a JSON number rounded to the currency's exponent (539.82, 2999.1)."""
    exponent = CURRENCY_EXPONENTS[currency]
    return float(Decimal(minor).scaleb(-exponent))


def round_half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def _group_indian(whole: int) -> str:
    """12345678 → 1,23,45,678 (lakh/crore grouping, as Indian prices are written)."""
    digits = str(whole)
    head, tail = digits[:-3], digits[-3:]
    groups: list[str] = []
    while len(head) > 2:
        groups.insert(0, head[-2:])
        head = head[:-2]
    if head:
        groups.insert(0, head)
    return ",".join([*groups, tail])


def format_money(minor: int, currency: str = "INR") -> str:
    """Paise → "₹5,898.82" (a negative amount, e.g. a day's net after refunds: "-₹5,898.82"),
    for pages and emails."""
    exponent = CURRENCY_EXPONENTS[currency]
    whole, _, fraction = f"{to_major(abs(minor), currency):.{exponent}f}".partition(".")
    symbol = CURRENCY_SYMBOLS.get(currency, currency + " ")
    text = symbol + _group_indian(int(whole))
    text = f"{text}.{fraction}" if fraction else text
    return f"-{text}" if minor < 0 else text
