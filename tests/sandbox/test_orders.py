"""Orders: create (every validation rule), fetch, list with Razorpay's filters, update notes."""

from __future__ import annotations

import re
import time

import pytest

from enrollpay.payments.gateway.errors import GatewayRejected
from tests.sandbox.conftest import Sandbox, assert_razorpay_error

# The docs' order-create sample [D:api/orders/create], key for key and in order.
ORDER_SAMPLE = {
    "id": "order_RB58MiP5SPFYyM",
    "entity": "order",
    "amount": 5000,
    "amount_paid": 0,
    "amount_due": 5000,
    "currency": "INR",
    "receipt": "receipt#1",
    "offer_id": None,
    "status": "created",
    "attempts": 0,
    "notes": {"key1": "value3", "key2": "value2"},
    "created_at": 1756455561,
}


async def test_create_returns_the_documented_entity(sandbox: Sandbox):
    before = int(time.time())
    response = await sandbox.rest(
        "POST",
        "/v1/orders",
        json={
            "amount": 5000,
            "currency": "INR",
            "receipt": "receipt#1",
            "notes": {"key1": "value3", "key2": "value2"},
        },
    )
    assert response.status_code == 200, response.text
    order = response.json()
    assert list(order) == list(ORDER_SAMPLE)
    assert re.fullmatch(r"order_[A-Za-z0-9]{14}", order["id"])
    assert before <= order["created_at"] <= int(time.time())
    expected = {k: v for k, v in ORDER_SAMPLE.items() if k not in ("id", "created_at")}
    assert {k: v for k, v in order.items() if k not in ("id", "created_at")} == expected


async def test_empty_notes_are_an_empty_list_and_receipt_is_optional(sandbox: Sandbox):
    first = await sandbox.order()
    second = await sandbox.order(notes={})
    assert first["notes"] == [] and second["notes"] == []
    assert first["receipt"] is None and second["receipt"] is None  # null receipts never collide


CREATE_VALIDATION_CASES = [
    ({"currency": "INR"}, "The amount field is required.", "amount"),
    ({"amount": None, "currency": "INR"}, "The amount field is required.", "amount"),
    ({"amount": 99, "currency": "INR"}, "The amount must be at least INR 1.00", "amount"),
    ({"amount": -500, "currency": "INR"}, "The amount must be at least INR 1.00", "amount"),
    ({"amount": "5000", "currency": "INR"}, "The amount must be an integer.", "amount"),
    ({"amount": 100.5, "currency": "INR"}, "The amount must be an integer.", "amount"),
    ({"amount": 100.0, "currency": "INR"}, "The amount must be an integer.", "amount"),
    ({"amount": True, "currency": "INR"}, "The amount must be an integer.", "amount"),
    ({"amount": 5000}, "The currency field is required.", "currency"),
    ({"amount": 5000, "currency": ""}, "The currency field is required.", "currency"),
    ({"amount": 5000, "currency": "USD"}, "The selected currency is invalid.", "currency"),
    ({"amount": 5000, "currency": "inr"}, "The selected currency is invalid.", "currency"),
    (
        {"amount": 5000, "currency": "INR", "receipt": "r" * 41},
        "The receipt may not be greater than 40 characters.",
        "receipt",
    ),
    (
        {"amount": 5000, "currency": "INR", "receipt": 42},
        "The receipt must be a string.",
        "receipt",
    ),
    (
        {"amount": 5000, "currency": "INR", "notes": {f"k{i}": "v" for i in range(16)}},
        "The notes may not have more than 15 items.",
        "notes",
    ),
    (
        {"amount": 5000, "currency": "INR", "notes": {"k": "v" * 257}},
        "The notes.k may not be greater than 256 characters.",
        "notes.k",
    ),
    (
        {"amount": 5000, "currency": "INR", "notes": {"k": {"nested": 1}}},
        "The notes.k must be a string.",
        "notes.k",
    ),
    (
        {"amount": 5000, "currency": "INR", "notes": "text"},
        "The notes must be an array.",
        "notes",
    ),
    (
        {"amount": 5000, "currency": "INR", "method": "upi"},
        "method is/are not required and should not be sent.",
        "method",
    ),
    (
        {"amount": 5000, "currency": "INR", "customer": 1, "offer": 2},
        "customer, offer is/are not required and should not be sent.",
        "customer",
    ),
    (
        {"amount": 5000, "currency": "INR", "payment": {"capture": "later"}},
        "The selected payment.capture is invalid.",
        "payment.capture",
    ),
    (
        {"amount": 5000, "currency": "INR", "payment": {}},
        "The payment.capture field is required.",
        "payment.capture",
    ),
    (
        {"amount": 5000, "currency": "INR", "payment": "manual"},
        "The payment must be an array.",
        "payment",
    ),
    (
        {"amount": 5000, "currency": "INR", "payment": {"capture": "manual", "x": 1}},
        "payment.x is/are not required and should not be sent.",
        "payment.x",
    ),
    (
        {
            "amount": 5000,
            "currency": "INR",
            "payment": {"capture": "manual", "capture_options": {"manual_expiry_period": 5}},
        },
        "The payment.capture_options.manual_expiry_period must be at least 12.",
        "payment.capture_options.manual_expiry_period",
    ),
    (
        {
            "amount": 5000,
            "currency": "INR",
            "payment": {
                "capture": "manual",
                "capture_options": {"manual_expiry_period": 7201},
            },
        },
        "The payment.capture_options.manual_expiry_period may not be greater than 7200.",
        "payment.capture_options.manual_expiry_period",
    ),
    (
        {
            "amount": 5000,
            "currency": "INR",
            "payment": {"capture": "automatic", "capture_options": {"refund_speed": "x"}},
        },
        "The selected payment.capture_options.refund_speed is invalid.",
        "payment.capture_options.refund_speed",
    ),
    (
        {"amount": 5000, "currency": "INR", "payment_capture": 2},
        "The payment capture field must be true or false.",
        "payment_capture",
    ),
    (
        {"amount": 5000, "currency": "INR", "first_payment_min_amount": 1000},
        "first_payment_min_amount is/are not required and should not be sent.",
        "first_payment_min_amount",
    ),
    (
        {
            "amount": 5000,
            "currency": "INR",
            "partial_payment": True,
            "first_payment_min_amount": 6000,
        },
        "The first payment min amount may not be greater than the order amount.",
        "first_payment_min_amount",
    ),
    (
        {"amount": 5000, "currency": "INR", "partial_payment": "yes"},
        "The partial payment field must be true or false.",
        "partial_payment",
    ),
]


async def test_create_validation(sandbox: Sandbox):
    for body, description, field in CREATE_VALIDATION_CASES:
        response = await sandbox.rest("POST", "/v1/orders", json=body)
        error = assert_razorpay_error(response, 400, description, field=field)
        # Input validation is shaped like the docs' sample.
        assert (error["source"], error["step"], error["reason"]) == (
            "business",
            "payment_initiation",
            "input_validation_failed",
        )
        listed = await sandbox.rest("GET", "/v1/orders")
        assert listed.json()["count"] == 0  # nothing was created


async def test_a_repeated_receipt_is_refused(sandbox: Sandbox):
    await sandbox.order(receipt="enr_1")
    response = await sandbox.rest(
        "POST", "/v1/orders", json={"amount": 100, "currency": "INR", "receipt": "enr_1"}
    )
    assert_razorpay_error(
        response,
        400,
        "An order with the same receipt value has already been created",
        field="receipt",
    )
    listed = await sandbox.rest("GET", "/v1/orders", params={"receipt": "enr_1"})
    assert listed.json()["count"] == 1


async def test_a_repeated_receipt_through_our_client(gateway):
    order = await gateway.create_order(amount=5000, currency="INR", receipt="rcpt-x", notes={})
    with pytest.raises(GatewayRejected) as raised:
        await gateway.create_order(amount=5000, currency="INR", receipt="rcpt-x", notes={})
    assert "same receipt" in raised.value.description
    assert [o.id for o in await gateway.find_orders_by_receipt("rcpt-x")] == [order.id]


async def test_capture_settings_are_accepted(sandbox: Sandbox):
    manual = await sandbox.order(
        payment={
            "capture": "manual",
            "capture_options": {
                "automatic_expiry_period": 12,
                "manual_expiry_period": 7200,
                "refund_speed": "optimum",
            },
        }
    )
    legacy_manual = await sandbox.order(payment_capture=0)
    legacy_auto = await sandbox.order(payment_capture=1)
    partial = await sandbox.order(partial_payment=True, first_payment_min_amount=10000)
    statuses = []
    for order in (manual, legacy_manual, legacy_auto, partial):
        statuses.append((await sandbox.pay(order["id"]))["payment"]["status"])
    assert statuses == ["authorized", "authorized", "captured", "captured"]


async def test_form_encoded_bodies_are_accepted(sandbox: Sandbox):
    response = await sandbox.rest(
        "POST",
        "/v1/orders",
        content=(
            "amount=5000&currency=INR&receipt=form%231&notes[course]=Python"
            "&notes[batch]=7&payment[capture]=manual"
        ),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.status_code == 200, response.text
    order = response.json()
    assert (order["amount"], order["receipt"]) == (5000, "form#1")
    assert order["notes"] == {"course": "Python", "batch": "7"}
    paid = await sandbox.pay(order["id"])
    assert paid["payment"]["status"] == "authorized"  # manual capture
    bad = await sandbox.rest(
        "POST",
        "/v1/orders",
        content="amount=50.5&currency=INR",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert_razorpay_error(bad, 400, "The amount must be an integer.", field="amount")


async def test_fetch_and_update_notes(sandbox: Sandbox):
    order = await sandbox.order(notes={"a": "1"})
    fetched = await sandbox.rest("GET", f"/v1/orders/{order['id']}")
    assert fetched.json() == order
    updated = await sandbox.rest("PATCH", f"/v1/orders/{order['id']}", json={"notes": {"b": "2"}})
    assert updated.status_code == 200
    assert updated.json()["notes"] == {"b": "2"}
    refused = await sandbox.rest("PATCH", f"/v1/orders/{order['id']}", json={"amount": 1})
    assert_razorpay_error(
        refused, 400, "amount is/are not required and should not be sent.", field="amount"
    )
    bad_param = await sandbox.rest("GET", f"/v1/orders/{order['id']}", params={"x": "1"})
    assert_razorpay_error(
        bad_param, 400, "x is/are not required and should not be sent.", field="x"
    )


async def test_list_filters_and_paging(sandbox: Sandbox):
    ids = [(await sandbox.order(receipt=f"r{i}"))["id"] for i in range(5)]
    listed = (await sandbox.rest("GET", "/v1/orders")).json()
    assert listed["entity"] == "collection"
    assert [o["id"] for o in listed["items"]] == ids[::-1]  # newest first
    page = (await sandbox.rest("GET", "/v1/orders", params={"count": 2, "skip": 1})).json()
    assert [o["id"] for o in page["items"]] == ids[::-1][1:3]
    assert page["count"] == 2
    by_receipt = (await sandbox.rest("GET", "/v1/orders", params={"receipt": "r3"})).json()
    assert [o["id"] for o in by_receipt["items"]] == [ids[3]]
    now = int(time.time())
    window = (
        await sandbox.rest("GET", "/v1/orders", params={"from": now - 60, "to": now + 1})
    ).json()
    assert window["count"] == 5
    future = (await sandbox.rest("GET", "/v1/orders", params={"from": now + 60})).json()
    assert future["count"] == 0
    await sandbox.pay(ids[0])
    await sandbox.pay(ids[1], outcome="failure")
    authorized = (await sandbox.rest("GET", "/v1/orders", params={"authorized": 1})).json()
    assert [o["id"] for o in authorized["items"]] == [ids[0]]
    not_authorized = (await sandbox.rest("GET", "/v1/orders", params={"authorized": 0})).json()
    assert ids[0] not in [o["id"] for o in not_authorized["items"]]
    expanded = (
        await sandbox.rest("GET", "/v1/orders", params={"receipt": "r0", "expand[]": "payments"})
    ).json()
    assert expanded["items"][0]["payments"]["count"] == 1


LIST_VALIDATION_CASES = [
    ({"count": 101}, "The count may not be greater than 100.", "count"),
    ({"count": 0}, "The count must be at least 1.", "count"),
    ({"count": "ten"}, "The count must be an integer.", "count"),
    ({"skip": -1}, "The skip must be at least 0.", "skip"),
    ({"from": "yesterday"}, "The from must be an integer.", "from"),
    ({"from": 1000}, "The from must be at least 946684800.", "from"),
    (
        {"from": 1700000000, "to": 1600000000},
        "The to must be greater than or equal to from.",
        "to",
    ),
    ({"authorized": "maybe"}, "The authorized field must be true or false.", "authorized"),
    ({"status": "paid"}, "status is/are not required and should not be sent.", "status"),
    ({"expand[]": "transfers"}, "The selected expand is invalid.", "expand"),
]


async def test_list_validation(sandbox: Sandbox):
    for params, description, field in LIST_VALIDATION_CASES:
        response = await sandbox.rest("GET", "/v1/orders", params=params)
        assert_razorpay_error(response, 400, description, field=field)


async def test_order_payments_lists_every_attempt(sandbox: Sandbox, gateway):
    order = await sandbox.order()
    failed = await sandbox.pay(order["id"], outcome="failure")
    paid = await sandbox.pay(order["id"])
    payments = await gateway.order_payments(order["id"])
    assert [p.id for p in payments] == [
        paid["razorpay_payment_id"],
        failed["razorpay_payment_id"],
    ]
    fetched = (await sandbox.rest("GET", f"/v1/orders/{order['id']}")).json()
    assert (fetched["status"], fetched["attempts"]) == ("paid", 2)
