"""Razorpay's test-mode rules as the Checkout stand-in applies them (razorpay-facts.md §7)."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given
from hypothesis import strategies as st

from enrollpay.sandbox.checkout_rules import (
    AUTHENTICATION_FAILED,
    ERROR_CARDS,
    TEST_CARDS,
    UPI_FAILURE_REASON,
    CheckedCard,
    CheckoutInputError,
    Outcome,
    card_outcome,
    check_bank,
    check_card,
    check_vpa,
    check_wallet,
    luhn_valid,
    mock_page_outcome,
    normalize_contact,
    normalize_email,
    parse_expiry,
    upi_outcome,
)
from enrollpay.sandbox.service import FAILURE_REASONS

TODAY = dt.date(2026, 3, 15)
VISA = "4100 2800 0000 1007"


def card(number: str = VISA, expiry: str = "12/30", cvv: str = "123") -> CheckedCard:
    return check_card(number, expiry, cvv, today=TODAY)


# ---- cards -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("number", "network", "international"),
    [
        ("4100 2800 0000 1007", "Visa", False),
        ("5500 6700 0000 1002", "MasterCard", False),
        ("6527 6589 0000 1005", "RuPay", False),
        ("3608 280009 1007", "Diners Club", False),
        ("5555 5555 5555 4444", "MasterCard", True),
        ("5105 1051 0510 5100", "MasterCard", True),
        ("5104 0600 0000 0008", "MasterCard", True),
        ("4012 8888 8888 1881", "Visa", True),
    ],
)
def test_success_cards_succeed_with_a_good_otp(number: str, network: str, international: bool):
    checked = card(number)
    assert (checked.network, checked.international) == (network, international)
    assert checked.last4 == number.replace(" ", "")[-4:]
    assert checked.error_reason is None
    assert card_outcome(checked, otp="123456") == Outcome.success()


def test_amex_takes_a_four_digit_cvv():
    amex = "3402 560004 01007"
    assert card(amex, cvv="1234").network == "American Express"
    with pytest.raises(CheckoutInputError) as exc:
        card(amex, cvv="123")
    assert exc.value.field == "card[cvv]"


@pytest.mark.parametrize("otp", ["1234", "12345", "0000000", "1234567890"])
def test_otp_of_4_to_10_digits_succeeds(otp: str):
    assert card_outcome(card(), otp=otp) == Outcome.success()


@pytest.mark.parametrize("otp", ["", "1", "12", "123", "12345678901"])
def test_otp_outside_4_to_10_digits_fails_authentication(otp: str):
    if otp == "":
        with pytest.raises(CheckoutInputError):
            card_outcome(card(), otp=otp)
        return
    assert card_outcome(card(), otp=otp) == Outcome.failure("authentication_failed")


@given(st.text(alphabet="0123456789", min_size=1, max_size=20))
def test_otp_rule_holds_for_any_digits(otp: str):
    outcome = card_outcome(card(), otp=otp)
    assert (outcome.outcome == "success") == (4 <= len(otp) <= 10)


@pytest.mark.parametrize("otp", ["12a4", "12 34x", "١٢٣٤"])
def test_otp_must_be_digits(otp: str):
    with pytest.raises(CheckoutInputError) as exc:
        card_outcome(card(), otp=otp)
    assert exc.value.field == "otp"


def test_bank_page_buttons():
    assert card_outcome(card(), action="success") == Outcome.success()
    assert card_outcome(card(), action="failure") == Outcome.failure("authentication_failed")
    with pytest.raises(CheckoutInputError):
        card_outcome(card())


ERROR_CARD_TABLE = [
    # (Visa, Mastercard, reason, code): razorpay-facts.md §7
    ("4100 2800 0009 0000", "5305 6200 0006 0000", "payment_timed_out", "BAD_REQUEST_ERROR"),
    ("4100 2800 0008 0001", "5305 6200 0005 0001", "insufficient_fund", "BAD_REQUEST_ERROR"),
    ("4100 2800 0007 0002", "5305 6200 0004 0002", "payment_cancelled", "BAD_REQUEST_ERROR"),
    ("4100 2800 0006 0003", "5305 6200 0003 0003", "card_declined", "BAD_REQUEST_ERROR"),
    ("4100 2800 0005 0004", "5305 6200 0002 0004", "card_declined", "BAD_REQUEST_ERROR"),
    ("4100 2800 0004 0005", "5305 6200 0001 0005", "card_declined", "BAD_REQUEST_ERROR"),
    (
        "4100 2800 0003 0006",
        "5305 6200 0000 0006",
        "card_disabled_for_online_payments",
        "BAD_REQUEST_ERROR",
    ),
    ("4100 2800 0001 0008", "5305 6200 0008 0008", "card_number_invalid", "BAD_REQUEST_ERROR"),
    ("4100 2800 0002 0007", "5305 6200 0009 0007", "gateway_technical_error", "GATEWAY_ERROR"),
    ("4100 2800 0000 0009", "5305 6200 0007 0009", "authentication_failed", "GATEWAY_ERROR"),
]


@pytest.mark.parametrize(("visa", "mastercard", "reason", "code"), ERROR_CARD_TABLE)
@pytest.mark.parametrize(
    "bank_page", [{"otp": "123456"}, {"action": "success"}, {"action": "failure"}]
)
def test_error_cards_fail_with_their_reason(
    visa: str, mastercard: str, reason: str, code: str, bank_page: dict[str, str]
):
    for number, network in ((visa, "Visa"), (mastercard, "MasterCard")):
        checked = card(number)
        assert checked.network == network
        assert card_outcome(checked, **bank_page) == Outcome.failure(reason)  # type: ignore[arg-type]
    assert FAILURE_REASONS[reason].code == code


def test_the_error_card_table_is_complete():
    assert len(ERROR_CARDS) == 2 * len(ERROR_CARD_TABLE)
    for number, reason in ERROR_CARDS.items():
        assert reason in FAILURE_REASONS
        assert TEST_CARDS[number].error_reason == reason


def test_every_test_card_passes_luhn():
    assert all(luhn_valid(number) for number in TEST_CARDS)


@pytest.mark.parametrize(
    "number", ["4100 2800 0000 1008", "1234", "abcd efgh ijkl mnop", "4100 2800 0000 1007 0000 0"]
)
def test_malformed_card_numbers_are_refused(number: str):
    with pytest.raises(CheckoutInputError) as exc:
        card(number)
    assert exc.value.field == "card[number]"
    assert exc.value.description == "Enter a valid card number."


def test_a_real_looking_card_that_is_not_a_test_card_is_refused():
    with pytest.raises(CheckoutInputError) as exc:
        card("4111 1111 1111 1111")  # passes Luhn, not one of Razorpay's test cards
    assert exc.value.field == "card[number]"
    assert "test card" in exc.value.description


def test_card_numbers_may_be_typed_with_dashes():
    assert card("4100-2800-0000-1007").last4 == "1007"


@pytest.mark.parametrize(
    ("expiry", "ok"),
    [
        ("03/26", True),  # the current month is still valid
        ("02/26", False),
        ("12/25", False),
        ("3/26", True),
        ("0326", True),
        ("03/2026", True),
        ("13/27", False),
        ("00/27", False),
        ("03/99", False),  # 2099: implausibly far
        ("nope", False),
    ],
)
def test_expiry(expiry: str, ok: bool):
    if ok:
        assert card(expiry=expiry).last4 == "1007"
    else:
        with pytest.raises(CheckoutInputError) as exc:
            card(expiry=expiry)
        assert exc.value.field == "card[expiry]"


def test_parse_expiry():
    assert parse_expiry(" 7 / 31 ") == (7, 2031)


@pytest.mark.parametrize("cvv", ["", "12", "1234", "12a"])
def test_cvv_must_be_three_digits(cvv: str):
    with pytest.raises(CheckoutInputError) as exc:
        card(cvv=cvv)
    assert exc.value.field == "card[cvv]"


# ---- UPI, netbanking, wallets ----------------------------------------------------------------


def test_upi_test_vpas():
    assert upi_outcome("success@razorpay") == Outcome.success()
    assert upi_outcome(" Success@Razorpay ") == Outcome.success()
    assert upi_outcome("failure@razorpay") == Outcome.failure("payment_failed")


@pytest.mark.parametrize(
    ("vpa", "message"),
    [
        ("someone@okhdfcbank", "Invalid VPA"),
        ("success@razorpay.com", "Invalid VPA"),
        ("no-at-sign", "valid UPI ID"),
        ("@razorpay", "valid UPI ID"),
        ("", "valid UPI ID"),
    ],
)
def test_other_vpas_are_refused(vpa: str, message: str):
    with pytest.raises(CheckoutInputError) as exc:
        check_vpa(vpa)
    assert exc.value.field == "vpa"
    assert message in exc.value.description


def test_mock_page_buttons():
    assert mock_page_outcome("success") == Outcome.success()
    assert mock_page_outcome("failure") == Outcome.failure("authentication_failed")
    with pytest.raises(CheckoutInputError):
        mock_page_outcome(None)


def test_banks_and_wallets_must_be_known():
    assert check_bank("HDFC") == "HDFC"
    assert check_wallet("phonepe") == "phonepe"
    with pytest.raises(CheckoutInputError):
        check_bank("NOPE")
    with pytest.raises(CheckoutInputError):
        check_wallet("")


def test_every_reason_the_rules_give_is_one_the_service_knows():
    reasons = {*ERROR_CARDS.values(), AUTHENTICATION_FAILED, UPI_FAILURE_REASON}
    assert reasons <= set(FAILURE_REASONS)
    assert FAILURE_REASONS[AUTHENTICATION_FAILED].step == "payment_authentication"


# ---- contact and email -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given_contact", "expected"),
    [
        ("9000090000", "+919000090000"),
        ("+91 90000 90000", "+919000090000"),
        ("+1-415-555-0100", "+14155550100"),
        ("", None),
        (None, None),
    ],
)
def test_contact_gets_plus_91_when_no_country_code(given_contact: str | None, expected: str | None):
    assert normalize_contact(given_contact) == expected


@pytest.mark.parametrize("contact", ["abc", "12345", "+91 9000 0900 0000 0000"])
def test_bad_contacts_are_refused(contact: str):
    with pytest.raises(CheckoutInputError) as exc:
        normalize_contact(contact)
    assert exc.value.field == "contact"


def test_email():
    assert normalize_email(" a@example.com ") == "a@example.com"
    assert normalize_email("") is None
    with pytest.raises(CheckoutInputError):
        normalize_email("not-an-email")
