"""Payments: attempts (the Checkout service function and the control API), automatic and manual
capture, late authorization, and the order states they drive."""

from __future__ import annotations

import asyncio
import re

import pytest

from enrollpay.payments.gateway.errors import GatewayRejected
from enrollpay.payments.gateway.signatures import verify_payment_signature
from enrollpay.sandbox import service
from enrollpay.sandbox.errors import SandboxError
from enrollpay.sandbox.service import FAILURE_REASONS, attempt_payment, find_order_for_checkout
from tests.sandbox.conftest import Sandbox, assert_razorpay_error

# The docs' captured card payment [D:api/payments/entity], key for key and in order; the
# payment entity also carries the webhook samples' base_amount and amount_transferred.
PAYMENT_SAMPLE_KEYS = [
    "id", "entity", "amount", "currency", "status", "order_id", "invoice_id", "international",
    "method", "amount_refunded", "refund_status", "captured", "description", "card_id", "card",
    "bank", "wallet", "vpa", "email", "contact", "notes", "fee", "tax", "error_code",
    "error_description", "error_source", "error_step", "error_reason", "acquirer_data",
    "created_at",
]  # fmt: skip
CARD_SAMPLE_KEYS = [
    "id", "entity", "name", "last4", "network", "type", "issuer", "international", "emi",
    "sub_type", "token_iin",
]  # fmt: skip


async def test_a_successful_card_payment_is_captured_and_pays_the_order(sandbox: Sandbox):
    order = await sandbox.order(amount=500000)
    result = await sandbox.pay(order["id"], method="card", email="a@example.com")
    payment = result["payment"]

    assert [k for k in payment if k not in ("base_amount", "amount_transferred")] == (
        PAYMENT_SAMPLE_KEYS
    )
    assert list(payment["card"]) == CARD_SAMPLE_KEYS
    assert re.fullmatch(r"pay_[A-Za-z0-9]{14}", payment["id"])
    assert re.fullmatch(r"card_[A-Za-z0-9]{14}", payment["card_id"])
    assert payment["card"]["id"] == payment["card_id"]
    assert (payment["status"], payment["captured"], payment["amount"]) == ("captured", True, 500000)
    assert (payment["fee"], payment["tax"]) == (11800, 1800)  # 2% + 18% GST, as in the docs
    assert payment["notes"] == [] and payment["email"] == "a@example.com"
    assert payment["error_code"] is None and payment["refund_status"] is None
    assert re.fullmatch(r"[0-9]{6}", payment["acquirer_data"]["auth_code"])

    assert result["razorpay_payment_id"] == payment["id"]
    assert result["razorpay_order_id"] == order["id"]
    assert verify_payment_signature(
        order["id"], payment["id"], result["razorpay_signature"], sandbox.config.key_secret
    )
    fetched = (await sandbox.rest("GET", f"/v1/orders/{order['id']}")).json()
    assert (fetched["status"], fetched["attempts"]) == ("paid", 1)
    assert (fetched["amount_paid"], fetched["amount_due"]) == (500000, 0)
    again = (await sandbox.rest("GET", f"/v1/payments/{payment['id']}")).json()
    assert again == payment


OTHER_METHODS_SHOW_THEIR_FIELDS_CASES = [
    ("upi", {"vpa": "success@razorpay", "bank": None, "wallet": None, "card_id": None}),
    ("netbanking", {"bank": "HDFC", "vpa": None, "wallet": None, "card_id": None}),
    ("wallet", {"wallet": "freecharge", "bank": None, "vpa": None, "card_id": None}),
]


async def test_other_methods_show_their_fields(sandbox: Sandbox):
    for method, fields in OTHER_METHODS_SHOW_THEIR_FIELDS_CASES:
        order = await sandbox.order()
        payment = (await sandbox.pay(order["id"], method=method))["payment"]
        assert payment["method"] == method
        assert "card" not in payment
        assert {k: payment[k] for k in fields} == fields
        if method == "upi":
            assert payment["upi"] == {
                "payer_account_type": "bank_account",
                "vpa": "success@razorpay",
                "flow": "collect",
            }
            assert re.fullmatch(r"[0-9]{12}", payment["acquirer_data"]["rrn"])


async def test_a_failed_payment_attempts_the_order(sandbox: Sandbox):
    order = await sandbox.order()
    result = await sandbox.pay(order["id"], outcome="failure", method="upi")
    payment = result["payment"]
    assert result["razorpay_signature"] is None
    assert (payment["status"], payment["captured"]) == ("failed", False)
    assert (payment["fee"], payment["tax"]) == (None, None)
    # The payment.failed UPI sample's error fields.
    assert {k: payment[k] for k in payment if k.startswith("error_")} == {
        "error_code": "BAD_REQUEST_ERROR",
        "error_description": "Payment failed",
        "error_source": "issuer",
        "error_step": "payment_authorization",
        "error_reason": "payment_failed",
    }
    assert payment["vpa"] == "failure@razorpay"
    assert payment["acquirer_data"]["rrn"] is None
    assert result["error"] == {
        "code": "BAD_REQUEST_ERROR",
        "description": "Payment failed",
        "source": "issuer",
        "step": "payment_authorization",
        "reason": "payment_failed",
        "metadata": {"order_id": order["id"], "payment_id": payment["id"]},
    }
    fetched = (await sandbox.rest("GET", f"/v1/orders/{order['id']}")).json()
    assert (fetched["status"], fetched["attempts"], fetched["amount_paid"]) == ("attempted", 1, 0)


FAILURE_REASONS_CARRY_THEIR_CODE_CASES = [
    ("payment_cancelled", "BAD_REQUEST_ERROR"),
    ("insufficient_fund", "BAD_REQUEST_ERROR"),
    ("card_declined", "BAD_REQUEST_ERROR"),
    ("card_number_invalid", "BAD_REQUEST_ERROR"),
    ("payment_timed_out", "BAD_REQUEST_ERROR"),
    ("gateway_technical_error", "GATEWAY_ERROR"),
    ("authentication_failed", "GATEWAY_ERROR"),
]


async def test_failure_reasons_carry_their_code(sandbox: Sandbox):
    for reason, code in FAILURE_REASONS_CARRY_THEIR_CODE_CASES:
        order = await sandbox.order()
        result = await sandbox.pay(order["id"], outcome="failure", error_reason=reason)
        assert result["payment"]["error_code"] == code
        assert result["payment"]["error_reason"] == reason
        assert result["error"]["code"] == code
        assert result["error"]["source"] == FAILURE_REASONS[reason].source
        assert result["error"]["step"] == FAILURE_REASONS[reason].step


async def test_the_card_cancel_sample(sandbox: Sandbox):
    order = await sandbox.order()
    payment = (await sandbox.pay(order["id"], outcome="failure", error_reason="payment_cancelled"))[
        "payment"
    ]
    assert payment["error_description"] == (
        "Your payment has been cancelled. Try again or complete the payment later."
    )
    assert (payment["error_source"], payment["error_step"]) == (
        "customer",
        "payment_authentication",
    )
    assert payment["acquirer_data"] == {"auth_code": None}


PAY_VALIDATION_CASES = [
    ({"outcome": "maybe"}, "The selected outcome is invalid.", "outcome"),
    ({"outcome": "success", "method": "cash"}, "The selected method is invalid.", "method"),
    (
        {"outcome": "failure", "error_reason": "bad_luck"},
        "The selected error reason is invalid.",
        "error_reason",
    ),
    (
        {"outcome": "success", "error_reason": "card_declined"},
        "error_reason is/are not required and should not be sent.",
        "error_reason",
    ),
    ({"outcome": "success", "amount": 99}, "The amount must be at least INR 1.00", "amount"),
    ({"outcome": "success", "amount": "100"}, "The amount must be an integer.", "amount"),
    (
        {"outcome": "success", "card_last4": "12"},
        "The card last4 must be 4 digits.",
        "card_last4",
    ),
]


async def test_pay_validation(sandbox: Sandbox):
    for body, description, field in PAY_VALIDATION_CASES:
        order = await sandbox.order()
        response = await sandbox.control("POST", f"/orders/{order['id']}/pay", json=body)
        assert_razorpay_error(response, 400, description, field=field)
        fetched = (await sandbox.rest("GET", f"/v1/orders/{order['id']}")).json()
        assert fetched["attempts"] == 0


async def test_a_paid_order_refuses_new_payments(sandbox: Sandbox, db):
    order = await sandbox.order()
    await sandbox.pay(order["id"])
    response = await sandbox.control(
        "POST", f"/orders/{order['id']}/pay", json={"outcome": "success"}
    )
    error = assert_razorpay_error(
        response, 400, "Your payment has been declined as the order is already paid."
    )
    assert error["metadata"] == {"order_id": order["id"]}
    async with db.transaction() as session:
        with pytest.raises(SandboxError, match="already paid"):
            await attempt_payment(
                session, sandbox.config, order_id=order["id"], method="upi", outcome="failure"
            )
    fetched = (await sandbox.rest("GET", f"/v1/orders/{order['id']}")).json()
    assert fetched["attempts"] == 1


async def test_the_checkout_service_functions(sandbox: Sandbox, db):
    order = await sandbox.order(amount=20000)
    config = sandbox.config
    async with db.transaction() as session:
        found = await find_order_for_checkout(
            session, config, key_id=config.key_id, order_id=order["id"]
        )
        assert found == order
        with pytest.raises(SandboxError, match="The id provided does not exist"):
            await find_order_for_checkout(
                session, config, key_id="rzp_test_AAAAAAAAAAAAAA", order_id=order["id"]
            )
        with pytest.raises(SandboxError, match="The id provided does not exist"):
            await find_order_for_checkout(
                session, config, key_id=config.key_id, order_id="order_AAAAAAAAAAAAAA"
            )
        failed = await attempt_payment(
            session, config, order_id=order["id"], method="card", outcome="failure",
            card_last4="0002", card_network="MasterCard", error_reason="payment_cancelled",
        )  # fmt: skip
        assert failed.handler_response is None
        assert failed.error is not None and failed.error["reason"] == "payment_cancelled"
        assert failed.payment["card"]["last4"] == "0002"
        assert failed.payment["card"]["network"] == "MasterCard"
        paid = await attempt_payment(
            session, config, order_id=order["id"], method="netbanking", outcome="success",
            bank="SBIN", email="l@example.com", contact="+919999999999", send_webhooks=False,
        )  # fmt: skip
    assert paid.error is None and paid.handler_response is not None
    assert paid.payment["bank"] == "SBIN"
    assert paid.payment["contact"] == "+919999999999"
    assert verify_payment_signature(
        order["id"],
        paid.handler_response["razorpay_payment_id"],
        paid.handler_response["razorpay_signature"],
        config.key_secret,
    )
    assert await sandbox.events() != []  # the failure sent payment.failed
    assert [e["event"] for e in await sandbox.events()] == ["payment.failed"]


async def test_manual_capture_and_its_rules(sandbox: Sandbox):
    order = await sandbox.order(amount=9900, payment={"capture": "manual"})
    payment = (await sandbox.pay(order["id"]))["payment"]
    assert (payment["status"], payment["captured"], payment["fee"]) == ("authorized", False, None)
    assert (await sandbox.rest("GET", f"/v1/orders/{order['id']}")).json()["status"] == "attempted"

    capture = f"/v1/payments/{payment['id']}/capture"
    cases = [
        ({}, "The amount field is required.", "amount"),
        ({"amount": 9900}, "The currency field is required.", "currency"),
        ({"amount": "9900", "currency": "INR"}, "The amount must be an integer.", "amount"),
        (
            {"amount": 9900, "currency": "INR", "speed": "x"},
            "speed is/are not required and should not be sent.",
            "speed",
        ),
        (
            {"amount": 9800, "currency": "INR"},
            "Capture amount must be equal to the amount authorized",
            "amount",
        ),
        (
            {"amount": 9900, "currency": "USD"},
            "The currency should be same as the payment currency",
            "currency",
        ),
    ]
    for body, description, field in cases:
        response = await sandbox.rest("POST", capture, json=body)
        assert_razorpay_error(response, 400, description, field=field)

    captured = await sandbox.rest("POST", capture, json={"amount": 9900, "currency": "INR"})
    assert captured.status_code == 200, captured.text
    body = captured.json()
    assert (body["status"], body["captured"]) == ("captured", True)
    assert (body["fee"], body["tax"]) == (234, 36)
    order_now = (await sandbox.rest("GET", f"/v1/orders/{order['id']}")).json()
    assert (order_now["status"], order_now["amount_paid"], order_now["amount_due"]) == (
        "paid",
        9900,
        0,
    )
    again = await sandbox.rest("POST", capture, json={"amount": 9900, "currency": "INR"})
    assert_razorpay_error(again, 400, "This payment has already been captured")


async def test_only_authorized_payments_can_be_captured(sandbox: Sandbox):
    order = await sandbox.order()
    failed = (await sandbox.pay(order["id"], outcome="failure"))["payment"]
    response = await sandbox.rest(
        "POST",
        f"/v1/payments/{failed['id']}/capture",
        json={"amount": failed["amount"], "currency": "INR"},
    )
    assert_razorpay_error(
        response,
        400,
        "Only payments which have been authorized and not yet captured can be captured",
    )


async def test_two_captures_at_once_one_wins(sandbox: Sandbox):
    order = await sandbox.order(amount=5000, payment={"capture": "manual"})
    payment = (await sandbox.pay(order["id"]))["payment"]
    capture = f"/v1/payments/{payment['id']}/capture"
    responses = await asyncio.gather(
        *(sandbox.rest("POST", capture, json={"amount": 5000, "currency": "INR"}) for _ in range(3))
    )
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 400, 400]
    for response in responses:
        if response.status_code == 400:
            assert_razorpay_error(response, 400, "This payment has already been captured")
    captured_events = [e for e in await sandbox.events() if e["event"] == "payment.captured"]
    assert len(captured_events) == 1


async def test_our_client_captures_once_and_treats_already_captured_as_done(
    sandbox: Sandbox, gateway
):
    order = await sandbox.order(amount=7000, payment={"capture": "manual"})
    payment_id = (await sandbox.pay(order["id"]))["razorpay_payment_id"]
    first = await gateway.capture_payment(payment_id, amount=7000, currency="INR")
    second = await gateway.capture_payment(payment_id, amount=7000, currency="INR")
    assert first.status == second.status == "captured"
    with pytest.raises(GatewayRejected, match="equal to the amount authorized"):
        other = await sandbox.order(amount=7000, payment={"capture": "manual"})
        other_payment = (await sandbox.pay(other["id"]))["razorpay_payment_id"]
        await gateway.capture_payment(other_payment, amount=6000, currency="INR")


async def test_late_authorization(sandbox: Sandbox):
    order = await sandbox.order(amount=15000)
    failed = (await sandbox.pay(order["id"], outcome="failure", method="upi"))["payment"]
    response = await sandbox.control("POST", f"/payments/{failed['id']}/capture-late", json={})
    assert response.status_code == 200, response.text
    payment, order_after = response.json()["payment"], response.json()["order"]
    assert (payment["status"], payment["captured"]) == ("captured", True)
    assert payment["error_code"] is None and payment["error_reason"] is None
    assert payment["vpa"] == "failure@razorpay"  # the same payment, now authorized
    assert payment["acquirer_data"]["rrn"] is not None
    assert (order_after["status"], order_after["amount_paid"], order_after["attempts"]) == (
        "paid",
        15000,
        1,
    )
    again = await sandbox.control("POST", f"/payments/{failed['id']}/capture-late", json={})
    assert_razorpay_error(
        again, 400, "Only a failed payment can be authorized late; this payment is captured."
    )


async def test_late_authorization_on_a_manual_order_only_authorizes(sandbox: Sandbox):
    order = await sandbox.order(payment={"capture": "manual"})
    failed = (await sandbox.pay(order["id"], outcome="failure"))["payment"]
    response = await sandbox.control("POST", f"/payments/{failed['id']}/capture-late", json={})
    assert response.json()["payment"]["status"] == "authorized"
    assert response.json()["order"]["status"] == "attempted"


async def test_late_authorization_after_another_payment_paid_the_order(sandbox: Sandbox):
    order = await sandbox.order(amount=10000)
    failed = (await sandbox.pay(order["id"], outcome="failure"))["payment"]
    await sandbox.pay(order["id"])
    late = (await sandbox.control("POST", f"/payments/{failed['id']}/capture-late", json={})).json()
    assert late["payment"]["status"] == "captured"  # money moved twice: refund one
    assert (late["order"]["status"], late["order"]["amount_paid"]) == ("paid", 20000)
    events = [e["event"] for e in await sandbox.events()]
    assert events.count("order.paid") == 1


async def test_amount_override_and_partial_payments(sandbox: Sandbox):
    order = await sandbox.order(amount=50000)
    short = (await sandbox.pay(order["id"], amount=30000))["payment"]
    assert short["amount"] == 30000
    fetched = (await sandbox.rest("GET", f"/v1/orders/{order['id']}")).json()
    assert (fetched["status"], fetched["amount_paid"], fetched["amount_due"]) == (
        "paid",
        30000,
        20000,
    )

    partial = await sandbox.order(
        amount=50000, partial_payment=True, first_payment_min_amount=20000
    )
    too_small = await sandbox.control(
        "POST", f"/orders/{partial['id']}/pay", json={"outcome": "success", "amount": 10000}
    )
    assert_razorpay_error(
        too_small,
        400,
        "The amount must be at least the order's first payment min amount.",
        field="amount",
    )
    await sandbox.pay(partial["id"], amount=20000)
    midway = (await sandbox.rest("GET", f"/v1/orders/{partial['id']}")).json()
    assert (midway["status"], midway["amount_paid"], midway["amount_due"]) == (
        "attempted",
        20000,
        30000,
    )
    too_big = await sandbox.control(
        "POST", f"/orders/{partial['id']}/pay", json={"outcome": "success", "amount": 40000}
    )
    assert_razorpay_error(
        too_big, 400, "The amount may not be greater than the amount due.", field="amount"
    )
    rest = (await sandbox.pay(partial["id"]))["payment"]  # defaults to the amount due
    assert rest["amount"] == 30000
    done = (await sandbox.rest("GET", f"/v1/orders/{partial['id']}")).json()
    assert (done["status"], done["amount_paid"], done["amount_due"], done["attempts"]) == (
        "paid",
        50000,
        0,
        2,
    )


async def test_list_payments_and_update_notes(sandbox: Sandbox):
    first = await sandbox.paid_payment()
    second = await sandbox.paid_payment()
    listed = (await sandbox.rest("GET", "/v1/payments", params={"count": 1})).json()
    assert [p["id"] for p in listed["items"]] == [second["id"]]
    updated = await sandbox.rest("PATCH", f"/v1/payments/{first['id']}", json={"notes": {"k": "v"}})
    assert updated.json()["notes"] == {"k": "v"}
    missing = await sandbox.rest("PATCH", f"/v1/payments/{first['id']}", json={})
    assert_razorpay_error(missing, 400, "The notes field is required.", field="notes")


def test_fee_is_two_percent_plus_gst():
    assert service.fee_and_tax(500000) == (11800, 1800)
    assert service.fee_and_tax(100) == (2, 0)
    assert service.fee_and_tax(9900) == (234, 36)
