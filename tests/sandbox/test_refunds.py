"""Refunds: validation, the refundable balance, `X-Refund-Idempotency`, speeds and settlement."""

from __future__ import annotations

import asyncio
import re
from datetime import timedelta

from enrollpay.kit.clock import utcnow
from enrollpay.sandbox.models import SandboxRefundIdempotencyKey
from tests.sandbox.conftest import Sandbox, assert_razorpay_error

# The docs' refund entity sample [D:api/refunds/entity], key for key and in order.
REFUND_SAMPLE_KEYS = [
    "id", "entity", "amount", "currency", "payment_id", "notes", "receipt", "acquirer_data",
    "created_at", "batch_id", "status", "speed_processed", "speed_requested",
]  # fmt: skip


async def test_a_full_refund(sandbox: Sandbox, gateway):
    payment = await sandbox.paid_payment(amount=10000)
    refund = await gateway.create_refund(payment["id"], amount=None, idempotency_key="refund-0001")
    assert refund.amount == 10000 and refund.status == "pending"
    raw = (await sandbox.rest("GET", f"/v1/refunds/{refund.id}")).json()
    assert list(raw) == REFUND_SAMPLE_KEYS
    assert re.fullmatch(r"rfnd_[A-Za-z0-9]{14}", raw["id"])
    assert raw["notes"] == [] and raw["batch_id"] is None
    assert (raw["speed_requested"], raw["speed_processed"]) == ("normal", "normal")
    assert raw["acquirer_data"] == {"arn": None}
    after = (await sandbox.rest("GET", f"/v1/payments/{payment['id']}")).json()
    assert (after["status"], after["refund_status"], after["amount_refunded"]) == (
        "refunded",
        "full",
        10000,
    )
    order = (await sandbox.rest("GET", f"/v1/orders/{payment['order_id']}")).json()
    assert order["status"] == "paid"  # stays paid after a refund
    again = await sandbox.refund(payment["id"], key="refund-0002")
    assert_razorpay_error(again, 400, "The payment has been fully refunded already.")


async def test_partial_refunds_up_to_the_captured_amount(sandbox: Sandbox):
    payment = await sandbox.paid_payment(amount=10000)
    first = await sandbox.refund(payment["id"], amount=3000, notes={"why": "coupon"})
    assert first.status_code == 200, first.text
    assert first.json()["notes"] == {"why": "coupon"}
    partial = (await sandbox.rest("GET", f"/v1/payments/{payment['id']}")).json()
    assert (partial["status"], partial["refund_status"], partial["amount_refunded"]) == (
        "captured",
        "partial",
        3000,
    )
    too_much = await sandbox.refund(payment["id"], amount=7001)
    assert_razorpay_error(
        too_much,
        400,
        "The refund amount provided is greater than amount captured.",
        field="amount",
    )
    rest = await sandbox.refund(payment["id"])  # no amount: whatever is left
    assert rest.json()["amount"] == 7000
    listed = (await sandbox.rest("GET", f"/v1/payments/{payment['id']}/refunds")).json()
    assert [r["id"] for r in listed["items"]] == [rest.json()["id"], first.json()["id"]]
    one = await sandbox.rest("GET", f"/v1/payments/{payment['id']}/refunds/{first.json()['id']}")
    assert one.json() == first.json()
    everything = (await sandbox.rest("GET", "/v1/refunds")).json()
    assert everything["count"] == 2


REFUND_VALIDATION_CASES = [
    ({"amount": 99}, "The amount must be at least INR 1.00.", "amount"),
    ({"amount": "100"}, "The amount must be an integer.", "amount"),
    ({"speed": "fast"}, "The selected speed is invalid.", "speed"),
    (
        {"amount": 100, "reason": "x"},
        "reason is/are not required and should not be sent.",
        "reason",
    ),
    (
        {"notes": {str(i): "v" for i in range(16)}},
        "The notes may not have more than 15 items.",
        "notes",
    ),
    ({"receipt": "r" * 41}, "The receipt may not be greater than 40 characters.", "receipt"),
]


async def test_refund_validation(sandbox: Sandbox):
    payment = await sandbox.paid_payment(amount=50000)
    for index, (body, description, field) in enumerate(REFUND_VALIDATION_CASES):
        key = f"validation-key-{index}"
        response = await sandbox.refund(payment["id"], key=key, **body)
        assert_razorpay_error(response, 400, description, field=field)
        # A refused request does not use its key up: the corrected retry goes through.
        fixed = await sandbox.refund(payment["id"], key=key, amount=100)
        assert fixed.status_code == 200, fixed.text
    # Also when the refusal comes after the key was claimed (the balance check).
    too_much = await sandbox.refund(payment["id"], key="balance-key-1", amount=60000)
    assert too_much.status_code == 400
    fixed = await sandbox.refund(payment["id"], key="balance-key-1", amount=100)
    assert fixed.status_code == 200, fixed.text


async def test_only_captured_payments_are_refunded(sandbox: Sandbox):
    order = await sandbox.order(payment={"capture": "manual"})
    authorized = (await sandbox.pay(order["id"]))["payment"]
    failed = (await sandbox.pay(order["id"], outcome="failure"))["payment"]
    for payment in (authorized, failed):
        response = await sandbox.refund(payment["id"])
        assert_razorpay_error(
            response, 400, "The payment status should be captured for action to be taken"
        )
    unknown = await sandbox.refund("pay_AAAAAAAAAAAAAA")
    assert_razorpay_error(unknown, 400, "The id provided does not exist")


A_MALFORMED_IDEMPOTENCY_KEY_IS_REFUSED_CASES = [
    "short-key",
    "has space in it",
    "bad/char/here!",
    "k" * 256,
]


async def test_a_malformed_idempotency_key_is_refused(sandbox: Sandbox):
    for key in A_MALFORMED_IDEMPOTENCY_KEY_IS_REFUSED_CASES:
        payment = await sandbox.paid_payment()
        response = await sandbox.refund(payment["id"], key=key, amount=100)
        assert response.status_code == 400
        assert response.json()["error"]["field"] == "X-Refund-Idempotency"
        assert (await sandbox.rest("GET", "/v1/refunds")).json()["count"] == 0


async def test_the_same_key_and_body_give_the_same_refund(sandbox: Sandbox):
    payment = await sandbox.paid_payment(amount=10000)
    first = await sandbox.refund(payment["id"], key="enr_123-refund_1", amount=2500)
    second = await sandbox.refund(payment["id"], key="enr_123-refund_1", amount=2500)
    assert first.status_code == second.status_code == 200
    assert first.json() == second.json()
    assert (await sandbox.rest("GET", "/v1/refunds")).json()["count"] == 1
    after = (await sandbox.rest("GET", f"/v1/payments/{payment['id']}")).json()
    assert after["amount_refunded"] == 2500


async def test_the_same_key_with_another_body_is_409(sandbox: Sandbox):
    payment = await sandbox.paid_payment(amount=10000)
    other = await sandbox.paid_payment(amount=10000)
    await sandbox.refund(payment["id"], key="enr_123-refund_1", amount=2500)
    for pid, body in ((payment["id"], {"amount": 2600}), (other["id"], {"amount": 2500})):
        response = await sandbox.refund(pid, key="enr_123-refund_1", **body)
        assert_razorpay_error(
            response,
            409,
            "Different request with the same idempotency key has already been processed.",
        )
    assert (await sandbox.rest("GET", "/v1/refunds")).json()["count"] == 1


async def test_a_repeat_while_the_first_is_in_flight_is_409(sandbox: Sandbox, db, gateway):
    payment = await sandbox.paid_payment(amount=10000)
    body = {"amount": 1000}
    # The first request has claimed the key and is still working.
    from enrollpay.sandbox.service import _request_hash

    async with db.transaction() as session:
        session.add(
            SandboxRefundIdempotencyKey(
                key_id=sandbox.config.key_id,
                idempotency_key="in-flight-key",
                request_hash=_request_hash({"payment_id": payment["id"], "body": body}),
                refund_id=None,
                created=utcnow(),
            )
        )
    response = await sandbox.refund(payment["id"], key="in-flight-key", **body)
    error = assert_razorpay_error(
        response,
        409,
        "A request with the same idempotency key is in progress. Retry after some time.",
    )
    assert "different request" not in error["description"].lower()

    # A claim whose request died long ago is taken over.
    async with db.transaction() as session:
        record = await session.get(
            SandboxRefundIdempotencyKey, (sandbox.config.key_id, "in-flight-key")
        )
        assert record is not None
        record.created = utcnow() - timedelta(minutes=5)
    retried = await sandbox.refund(payment["id"], key="in-flight-key", **body)
    assert retried.status_code == 200, retried.text


async def test_concurrent_refunds_never_exceed_the_capture(sandbox: Sandbox):
    payment = await sandbox.paid_payment(amount=10000)
    responses = await asyncio.gather(
        *(sandbox.refund(payment["id"], key=f"concurrent-{i:04d}", amount=4000) for i in range(4))
    )
    assert sorted(r.status_code for r in responses) == [200, 200, 400, 400]
    after = (await sandbox.rest("GET", f"/v1/payments/{payment['id']}")).json()
    assert after["amount_refunded"] == 8000


async def test_concurrent_repeats_of_one_key_make_one_refund(sandbox: Sandbox):
    payment = await sandbox.paid_payment(amount=10000)
    responses = await asyncio.gather(
        *(sandbox.refund(payment["id"], key="same-key-0001", amount=1000) for _ in range(4))
    )
    ok = [r for r in responses if r.status_code == 200]
    assert ok, [r.text for r in responses]
    assert len({r.json()["id"] for r in ok}) == 1
    for response in responses:
        assert response.status_code in (200, 409)
    after = (await sandbox.rest("GET", f"/v1/payments/{payment['id']}")).json()
    assert after["amount_refunded"] == 1000


async def test_optimum_speed_is_pending_and_instant(sandbox: Sandbox):
    payment = await sandbox.paid_payment()
    refund = (await sandbox.refund(payment["id"], speed="optimum")).json()
    assert (refund["status"], refund["speed_requested"], refund["speed_processed"]) == (
        "pending",
        "optimum",
        "instant",
    )


async def test_settling_a_refund(sandbox: Sandbox):
    payment = await sandbox.paid_payment(amount=10000)
    refund = (await sandbox.refund(payment["id"], amount=4000)).json()
    response = await sandbox.control(
        "POST", f"/refunds/{refund['id']}/settle", json={"outcome": "processed"}
    )
    assert response.status_code == 200, response.text
    settled = response.json()["refund"]
    assert settled["status"] == "processed"
    assert re.fullmatch(r"[0-9]{14}", settled["acquirer_data"]["arn"])
    assert (await sandbox.rest("GET", f"/v1/refunds/{refund['id']}")).json() == settled
    again = await sandbox.control(
        "POST", f"/refunds/{refund['id']}/settle", json={"outcome": "failed"}
    )
    assert_razorpay_error(again, 400, "The refund is already processed.")


async def test_a_failed_refund_gives_the_amount_back(sandbox: Sandbox):
    payment = await sandbox.paid_payment(amount=10000)
    refund = (await sandbox.refund(payment["id"])).json()
    assert (await sandbox.rest("GET", f"/v1/payments/{payment['id']}")).json()[
        "status"
    ] == "refunded"
    response = await sandbox.control(
        "POST", f"/refunds/{refund['id']}/settle", json={"outcome": "failed"}
    )
    body = response.json()
    assert body["refund"]["status"] == "failed"
    assert (body["payment"]["status"], body["payment"]["refund_status"]) == ("captured", None)
    assert body["payment"]["amount_refunded"] == 0
    retry = await sandbox.refund(payment["id"])
    assert retry.status_code == 200 and retry.json()["amount"] == 10000


async def test_settle_validation(sandbox: Sandbox):
    response = await sandbox.control("POST", "/refunds/rfnd_AAAAAAAAAAAAAA/settle", json={})
    assert_razorpay_error(response, 400, "The outcome field is required.", field="outcome")
    response = await sandbox.control(
        "POST", "/refunds/rfnd_AAAAAAAAAAAAAA/settle", json={"outcome": "processed"}
    )
    assert_razorpay_error(response, 400, "The id provided does not exist")


async def test_embedded_refunds_settle_on_their_own(sandbox: Sandbox, worker):
    from tests.sandbox.conftest import drain

    sandbox.configure(refund_settle_seconds=0.0, webhook_url=None)
    payment = await sandbox.paid_payment()
    refund = (await sandbox.refund(payment["id"])).json()
    await drain(worker)
    assert (await sandbox.rest("GET", f"/v1/refunds/{refund['id']}")).json()[
        "status"
    ] == "processed"


async def test_update_refund_notes(sandbox: Sandbox):
    payment = await sandbox.paid_payment()
    refund = (await sandbox.refund(payment["id"], amount=100)).json()
    updated = await sandbox.rest("PATCH", f"/v1/refunds/{refund['id']}", json={"notes": {"a": "b"}})
    assert updated.json()["notes"] == {"a": "b"}
