"""Razorpay's test-mode rules for the Checkout stand-in (razorpay-facts.md §7), as pure functions.

The modal collects what the customer types; these functions decide what Razorpay's test mode
would do with it. Failure reasons are names only: `service.FAILURE_REASONS` turns a reason into
Razorpay's code, description, source and step. Two kinds of answers:

- `CheckoutInputError`: the input is refused before any payment exists (real Checkout validates
  these in the browser or with a lookup): a malformed card number, a past expiry, a VPA other than
  the two test VPAs. The customer fixes the field; no `payment.failed` fires.
- an `Outcome`: a payment is attempted and either succeeds or fails with a Razorpay `reason`.

Choices not found in Razorpay's docs (UNCONFIRMED, documented in the sandbox docs):
- Only Razorpay's published test cards are accepted; any other number is refused as an input
  error (real test mode answers live cards with "card issuer is invalid").
- An error test card fails with its listed reason whatever the customer does on the mock bank
  page (the docs say to press Failure; failing always keeps tests deterministic).
- Pressing Failure on the bank page, or an OTP shorter than 4 (or longer than 10) digits, fails
  with `authentication_failed` (the docs' reason for "cancels ... or enters incorrect
  authentication details such as OTP").
- `failure@razorpay` fails with `payment_failed` (the reason of Razorpay's UPI `payment.failed`
  webhook sample); any other well-formed VPA is refused as invalid (real Checkout validates the
  VPA before creating the payment).
- Netbanking and wallet: Success / Failure on the mock page; Failure is `authentication_failed`.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Literal

Method = Literal["card", "upi", "netbanking", "wallet"]
BankAction = Literal["success", "failure"]
METHODS: tuple[Method, ...] = ("card", "upi", "netbanking", "wallet")


@dataclass(frozen=True)
class TestCard:
    network: str
    international: bool = False
    error_reason: str | None = None


def _cards(numbers: str, network: str, *, international: bool = False) -> dict[str, TestCard]:
    return {n.replace(" ", ""): TestCard(network, international) for n in numbers.split(",")}


# Razorpay's published test cards (test-card-details page); network names as in the payment entity.
TEST_CARDS: dict[str, TestCard] = {
    **_cards("4100 2800 0000 1007", "Visa"),
    **_cards("5500 6700 0000 1002", "MasterCard"),
    **_cards("6527 6589 0000 1005", "RuPay"),
    **_cards("3608 280009 1007", "Diners Club"),
    **_cards("3402 560004 01007", "American Express"),
    # international
    **_cards("5555 5555 5555 4444,5105 1051 0510 5100,5104 0600 0000 0008", "MasterCard",
             international=True),
    **_cards("4012 8888 8888 1881", "Visa", international=True),
    # subscriptions and EMI test cards: plain successes here
    **_cards("4718 6091 0820 4366", "Visa"),
    **_cards("5104 0155 5555 5558", "MasterCard", international=True),
    **_cards("5241 8100 0000 0000", "MasterCard"),
}  # fmt: skip

ERROR_CARDS: dict[str, str] = {
    "4100280000090000": "payment_timed_out",
    "5305620000060000": "payment_timed_out",
    "4100280000080001": "insufficient_fund",
    "5305620000050001": "insufficient_fund",
    "4100280000070002": "payment_cancelled",
    "5305620000040002": "payment_cancelled",
    "4100280000060003": "card_declined",
    "5305620000030003": "card_declined",
    "4100280000050004": "card_declined",
    "5305620000020004": "card_declined",
    "4100280000040005": "card_declined",
    "5305620000010005": "card_declined",
    "4100280000030006": "card_disabled_for_online_payments",
    "5305620000000006": "card_disabled_for_online_payments",
    "4100280000010008": "card_number_invalid",
    "5305620000080008": "card_number_invalid",
    "4100280000020007": "gateway_technical_error",
    "5305620000090007": "gateway_technical_error",
    "4100280000000009": "authentication_failed",
    "5305620000070009": "authentication_failed",
}
for _number, _reason in ERROR_CARDS.items():
    TEST_CARDS[_number] = TestCard(
        "Visa" if _number.startswith("4") else "MasterCard", error_reason=_reason
    )

# The reason of Razorpay's own UPI payment.failed webhook sample (the service's default for UPI).
UPI_FAILURE_REASON = "payment_failed"
# "cancels ... or enters incorrect authentication details such as OTP" (Razorpay's reasons list).
AUTHENTICATION_FAILED = "authentication_failed"

SUCCESS_VPA = "success@razorpay"
FAILURE_VPA = "failure@razorpay"
_VPA_SHAPE = re.compile(r"[A-Za-z0-9._-]{2,256}@[A-Za-z][A-Za-z0-9.-]{1,63}")

# What the mock pages offer (Razorpay's codes for banks and wallets).
NETBANKING_BANKS: dict[str, str] = {
    "HDFC": "HDFC Bank",
    "ICIC": "ICICI Bank",
    "SBIN": "State Bank of India",
    "UTIB": "Axis Bank",
    "KKBK": "Kotak Mahindra Bank",
    "YESB": "Yes Bank",
}
WALLETS: dict[str, str] = {
    "amazonpay": "Amazon Pay",
    "phonepe": "PhonePe",
    "mobikwik": "MobiKwik",
    "freecharge": "Freecharge",
    "airtelmoney": "Airtel Payments Bank",
    "jiomoney": "JioMoney",
}

OTP_MIN_DIGITS = 4
OTP_MAX_DIGITS = 10


class CheckoutInputError(Exception):
    """The customer's input is refused before a payment is created (fix the field, try again)."""

    def __init__(self, field: str, description: str) -> None:
        super().__init__(description)
        self.field = field
        self.description = description


@dataclass(frozen=True)
class Outcome:
    outcome: Literal["success", "failure"]
    error_reason: str | None = None

    @classmethod
    def success(cls) -> Outcome:
        return cls("success")

    @classmethod
    def failure(cls, reason: str) -> Outcome:
        return cls("failure", reason)


@dataclass(frozen=True)
class CheckedCard:
    number: str
    last4: str
    network: str
    international: bool
    error_reason: str | None


def is_digits(value: str) -> bool:
    """ASCII digits only: str.isdigit() also accepts other scripts' digits and superscripts."""
    return bool(re.fullmatch(r"[0-9]+", value))


def digits_only(value: str) -> str:
    """Card numbers are typed with spaces or dashes; keep the digits."""
    return re.sub(r"[\s-]", "", value)


def luhn_valid(number: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(number)):
        digit = int(char)
        if index % 2:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return total % 10 == 0


def parse_expiry(value: str) -> tuple[int, int]:
    """`MM/YY`, `MM / YY`, `MM/YYYY` or `MMYY` → (month, four-digit year)."""
    match = re.fullmatch(r"\s*(\d{1,2})\s*/?\s*(\d{2}|\d{4})\s*", value)
    if not match:
        raise CheckoutInputError("card[expiry]", "Enter the expiry date as MM/YY.")
    month, year = int(match.group(1)), int(match.group(2))
    if year < 100:
        year += 2000
    if not 1 <= month <= 12:
        raise CheckoutInputError("card[expiry]", "The expiry month must be between 01 and 12.")
    return month, year


def check_card(number: str, expiry: str, cvv: str, *, today: dt.date) -> CheckedCard:
    """Validate what the card form holds; the card must be one of Razorpay's test cards."""
    digits = digits_only(number)
    if not is_digits(digits) or not 12 <= len(digits) <= 19 or not luhn_valid(digits):
        raise CheckoutInputError("card[number]", "Enter a valid card number.")
    card = TEST_CARDS.get(digits)
    if card is None:
        raise CheckoutInputError(
            "card[number]",
            "This is not a test card. In test mode use one of Razorpay's test cards, "
            "for example 4100 2800 0000 1007.",
        )
    month, year = parse_expiry(expiry)
    if (year, month) < (today.year, today.month):
        raise CheckoutInputError("card[expiry]", "This card has expired: use a future date.")
    if year > today.year + 50:
        raise CheckoutInputError("card[expiry]", "Enter a valid expiry year.")
    cvv_length = 4 if card.network == "American Express" else 3
    if not (is_digits(cvv) and len(cvv) == cvv_length):
        raise CheckoutInputError("card[cvv]", f"Enter the {cvv_length}-digit CVV.")
    return CheckedCard(
        number=digits,
        last4=digits[-4:],
        network=card.network,
        international=card.international,
        error_reason=card.error_reason,
    )


def card_outcome(
    card: CheckedCard, *, otp: str | None = None, action: BankAction | None = None
) -> Outcome:
    """The mock bank page: an OTP (4 to 10 digits succeed) or the Success / Failure buttons."""
    if otp is None and action is None:
        raise CheckoutInputError("otp", "Enter the OTP, or choose Success or Failure.")
    if otp is not None:
        otp = otp.strip()
        if not is_digits(otp):
            raise CheckoutInputError("otp", "The OTP is made of digits only.")
        authenticated = OTP_MIN_DIGITS <= len(otp) <= OTP_MAX_DIGITS
    else:
        authenticated = action == "success"
    if card.error_reason is not None:
        return Outcome.failure(card.error_reason)
    return Outcome.success() if authenticated else Outcome.failure(AUTHENTICATION_FAILED)


def check_vpa(vpa: str) -> str:
    value = vpa.strip()
    if not _VPA_SHAPE.fullmatch(value):
        raise CheckoutInputError("vpa", "Enter a valid UPI ID, like name@bank.")
    if value.lower() not in (SUCCESS_VPA, FAILURE_VPA):
        raise CheckoutInputError(
            "vpa",
            f"Invalid VPA. In test mode use {SUCCESS_VPA} or {FAILURE_VPA}.",
        )
    return value.lower()


def upi_outcome(vpa: str) -> Outcome:
    vpa = check_vpa(vpa)
    return Outcome.success() if vpa == SUCCESS_VPA else Outcome.failure(UPI_FAILURE_REASON)


def check_bank(code: str) -> str:
    if code not in NETBANKING_BANKS:
        raise CheckoutInputError("bank", "Choose a bank.")
    return code


def check_wallet(code: str) -> str:
    if code not in WALLETS:
        raise CheckoutInputError("wallet", "Choose a wallet.")
    return code


def mock_page_outcome(action: BankAction | None) -> Outcome:
    """Netbanking and wallets: the mock page's Success and Failure buttons."""
    if action not in ("success", "failure"):
        raise CheckoutInputError("action", "Choose Success or Failure on the mock page.")
    return Outcome.success() if action == "success" else Outcome.failure(AUTHENTICATION_FAILED)


_CONTACT = re.compile(r"\+?[0-9]{8,15}")


def normalize_contact(contact: str | None) -> str | None:
    """Checkout adds +91 when no country code is given (facts §7 prefill.contact)."""
    if contact is None or not contact.strip():
        return None
    value = re.sub(r"[\s()-]", "", contact)
    if not _CONTACT.fullmatch(value):
        raise CheckoutInputError("contact", "Enter a valid phone number.")
    if not value.startswith("+"):
        value = "+91" + value[-10:] if len(value) >= 10 else "+91" + value
    return value


def normalize_email(email: str | None) -> str | None:
    if email is None or not email.strip():
        return None
    value = email.strip()
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value) or len(value) > 254:
        raise CheckoutInputError("email", "Enter a valid email address.")
    return value
