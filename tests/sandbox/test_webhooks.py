"""Webhooks: Razorpay's envelopes key for key, signatures over the exact bytes, delivery by jobs
with retries, and the duplicate / shuffle / drop test knobs."""

from __future__ import annotations

import asyncio
import json
import re
from datetime import timedelta
from pathlib import Path
from typing import Any

import time_machine

from enrollpay.kit.clock import utcnow
from enrollpay.payments.gateway.signatures import verify_webhook_signature, webhook_signature
from tests.sandbox.conftest import Receiver, Sandbox, assert_razorpay_error, drain

# The webhook samples of razorpay-facts.md §6, as documented.
_SAMPLES = json.loads((Path(__file__).with_name("webhook_samples.json")).read_text())
PAYMENT_CAPTURED = _SAMPLES["payment.captured"]
PAYMENT_FAILED = _SAMPLES["payment.failed"]
ORDER_PAID = _SAMPLES["order.paid"]
REFUND_PROCESSED = _SAMPLES["refund.processed"]

SAMPLES = [PAYMENT_CAPTURED, PAYMENT_FAILED, ORDER_PAID, REFUND_PROCESSED]
# Every payment key any sample shows (+ `card` for card payments): our one payment shape.
PAYMENT_KEYS = {
    key
    for sample in SAMPLES
    for key in sample["payload"]["payment"]["entity"]
} | {"card"}  # fmt: skip


def _same_type(ours: Any, theirs: Any) -> bool:
    if ours == [] or theirs == []:  # notes: [] when empty, else an object
        return isinstance(ours, list | dict) and isinstance(theirs, list | dict)
    return ours is None or theirs is None or type(ours) is type(theirs)


def assert_matches_sample(document: dict[str, Any], sample: dict[str, Any]) -> None:
    """Key for key: the envelope exactly; orders and refunds exactly; payments carry every key
    of the sample and nothing outside the union of the samples. Values have the sample's types."""
    assert list(document) == list(sample)
    assert document["entity"] == "event"
    assert document["contains"] == sample["contains"]
    assert list(document["payload"]) == list(sample["payload"])
    assert re.fullmatch(r"acc_[A-Za-z0-9]{14}", document["account_id"])
    assert isinstance(document["created_at"], int)
    for name, wrapper in sample["payload"].items():
        assert list(document["payload"][name]) == ["entity"]
        ours, theirs = document["payload"][name]["entity"], wrapper["entity"]
        if name == "payment":
            assert set(theirs) <= set(ours), set(theirs) - set(ours)
            assert set(ours) <= PAYMENT_KEYS, set(ours) - PAYMENT_KEYS
        else:
            assert list(ours) == list(theirs)
        for key in theirs:
            assert _same_type(ours[key], theirs[key]), (name, key, ours[key], theirs[key])


def _verify(receiver: Receiver, sandbox: Sandbox) -> list[dict[str, Any]]:
    documents = []
    for request in receiver.requests:
        assert request.headers["content-type"] == "application/json"
        assert verify_webhook_signature(
            request.body, request.headers["x-razorpay-signature"], [sandbox.config.webhook_secret]
        )
        assert re.fullmatch(r"[A-Za-z0-9]{14}", request.headers["x-razorpay-event-id"])
        documents.append(json.loads(request.body))
    return documents


async def test_a_successful_payment_sends_authorized_captured_paid(
    sandbox: Sandbox, receiver: Receiver, worker
):
    order = await sandbox.order(amount=100, receipt="rcptid #1")
    await sandbox.pay(order["id"], method="upi")
    assert receiver.requests == []  # nothing leaves before the worker runs the jobs
    await drain(worker)

    authorized, captured, paid = _verify(receiver, sandbox)
    assert [authorized["event"], captured["event"], paid["event"]] == [
        "payment.authorized",
        "payment.captured",
        "order.paid",
    ]
    assert len({r.headers["x-razorpay-event-id"] for r in receiver.requests}) == 3
    assert {d["account_id"] for d in (authorized, captured, paid)} == {sandbox.config.account_id}
    assert_matches_sample(captured, PAYMENT_CAPTURED)
    assert_matches_sample(paid, ORDER_PAID)
    assert_matches_sample(authorized, PAYMENT_CAPTURED)  # the same shape as payment.captured
    # Snapshots at event time: the authorized event still shows an uncaptured payment.
    snapshot = authorized["payload"]["payment"]["entity"]
    assert (snapshot["status"], snapshot["captured"], snapshot["fee"]) == (
        "authorized",
        False,
        None,
    )
    assert authorized["contains"] == ["payment"]
    captured_payment = captured["payload"]["payment"]["entity"]
    assert (captured_payment["fee"], captured_payment["tax"]) == (2, 0)  # as in the sample
    assert paid["payload"]["order"]["entity"]["status"] == "paid"
    assert paid["payload"]["order"]["entity"]["receipt"] == "rcptid #1"


async def test_a_failed_payment_sends_payment_failed(sandbox: Sandbox, receiver: Receiver, worker):
    order = await sandbox.order(amount=100)
    await sandbox.pay(order["id"], method="upi", outcome="failure")
    await drain(worker)
    (failed,) = _verify(receiver, sandbox)
    assert_matches_sample(failed, PAYMENT_FAILED)
    assert failed["payload"]["payment"]["entity"]["error_reason"] == "payment_failed"


async def test_refund_events(sandbox: Sandbox, receiver: Receiver, worker):
    order = await sandbox.order(amount=500000)
    payment = (await sandbox.pay(order["id"], method="netbanking"))["payment"]
    refund = (
        await sandbox.refund(payment["id"], amount=50000, speed="optimum", notes={"c": "n"})
    ).json()
    await sandbox.control("POST", f"/refunds/{refund['id']}/settle", json={"outcome": "processed"})
    failing = (await sandbox.refund(payment["id"], amount=10000)).json()
    await sandbox.control("POST", f"/refunds/{failing['id']}/settle", json={"outcome": "failed"})
    await drain(worker)

    documents = _verify(receiver, sandbox)
    by_event = {d["event"]: d for d in documents if d["event"].startswith("refund.")}
    assert sorted(by_event) == ["refund.created", "refund.failed", "refund.processed"]
    for document in by_event.values():
        assert_matches_sample(document, REFUND_PROCESSED)
    processed = by_event["refund.processed"]["payload"]
    assert processed["refund"]["entity"]["status"] == "processed"
    assert processed["refund"]["entity"]["speed_processed"] == "instant"
    assert (processed["payment"]["entity"]["fee"], processed["payment"]["entity"]["tax"]) == (
        11800,
        1800,
    )
    created = [d for d in documents if d["event"] == "refund.created"]
    assert [d["payload"]["refund"]["entity"]["status"] for d in created] == ["pending", "pending"]
    assert created[0]["payload"]["payment"]["entity"]["refund_status"] == "partial"
    failed = by_event["refund.failed"]["payload"]
    assert failed["payment"]["entity"]["amount_refunded"] == 50000  # given back


async def test_bodies_are_signed_byte_for_byte(sandbox: Sandbox, receiver: Receiver, worker):
    order = await sandbox.order(notes={"url": "https://example.com/a/b", "name": "Ganesh ☺"})
    await sandbox.pay(order["id"], method="netbanking", webhooks=True)
    await drain(worker)
    paid = receiver.requests[-1]
    assert b"https:\\/\\/example.com\\/a\\/b" in paid.body  # PHP-style escaping
    assert b"\\u263a" in paid.body
    document = json.loads(paid.body)
    assert document["payload"]["order"]["entity"]["notes"]["name"] == "Ganesh ☺"
    # A receiver that re-serialises before verifying fails, as it would against Razorpay.
    reserialised = json.dumps(document).encode()
    assert not verify_webhook_signature(
        reserialised, paid.headers["x-razorpay-signature"], [sandbox.config.webhook_secret]
    )
    events = await sandbox.events()
    assert events[-1]["body"].encode() == paid.body
    assert events[-1]["signature"] == webhook_signature(paid.body, sandbox.config.webhook_secret)


async def test_failed_deliveries_are_retried_until_2xx(
    sandbox: Sandbox, receiver: Receiver, worker
):
    receiver.statuses = [500, 404, 302]
    order = await sandbox.order()
    await sandbox.pay(order["id"], method="upi", outcome="failure")
    await drain(worker)
    assert len(receiver.requests) == 4
    assert len({r.headers["x-razorpay-event-id"] for r in receiver.requests}) == 1
    assert len({r.body for r in receiver.requests}) == 1  # the stored bytes, every time
    (delivery,) = await sandbox.deliveries()
    assert delivery["event"] == "payment.failed"
    assert delivery["event_id"] == receiver.requests[0].headers["x-razorpay-event-id"]
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == (
        "delivered",
        4,
        200,
    )
    assert [a["status_code"] for a in delivery["attempt_log"]] == [500, 404, 302, 200]
    assert delivery["delivered_at"] is not None


async def test_deliveries_give_up_after_the_last_attempt(
    sandbox: Sandbox, receiver: Receiver, worker
):
    receiver.statuses = [503] * 10
    order = await sandbox.order()
    await sandbox.pay(order["id"], outcome="failure")
    await drain(worker)
    (delivery,) = await sandbox.deliveries()
    assert (delivery["status"], delivery["attempts"]) == ("failed", 4)  # webhook_max_attempts
    assert len(receiver.requests) == 4


async def test_deliveries_stop_after_the_retry_window(sandbox: Sandbox, receiver: Receiver, worker):
    receiver.statuses = [500] * 10
    sandbox.configure(webhook_max_attempts=30)
    order = await sandbox.order()
    await sandbox.pay(order["id"], outcome="failure")
    await worker.run_once()
    with time_machine.travel(utcnow() + timedelta(hours=24, seconds=1), tick=True):
        await drain(worker)
    (delivery,) = await sandbox.deliveries()
    assert (delivery["status"], delivery["attempts"]) == ("failed", 2)


async def test_a_slow_receiver_times_out_and_is_retried(
    sandbox: Sandbox, receiver: Receiver, worker
):
    sandbox.configure(webhook_timeout_seconds=0.05)
    slow_once = {"first": True}
    original = receiver.__class__.__call__

    async def slow(scope, receive, send):
        if slow_once.pop("first", False):
            await asyncio.sleep(0.5)
        await original(receiver, scope, receive, send)

    from enrollpay.sandbox.webhooks import in_process_target

    with in_process_target(sandbox.config.webhook_url, slow):
        order = await sandbox.order()
        await sandbox.pay(order["id"], outcome="failure")
        await drain(worker)
    (delivery,) = await sandbox.deliveries()
    assert delivery["status"] == "delivered"
    assert delivery["attempt_log"][0]["status_code"] is None
    assert "timed out" in delivery["attempt_log"][0]["error"]
    assert delivery["attempt_log"][1]["status_code"] == 200


async def test_unreachable_urls_are_recorded_and_retried(sandbox: Sandbox, worker):
    sandbox.configure(webhook_url="http://127.0.0.1:9/nothing-listens", webhook_max_attempts=2)
    order = await sandbox.order()
    await sandbox.pay(order["id"], outcome="failure")
    await drain(worker)
    (delivery,) = await sandbox.deliveries()
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == (
        "failed",
        2,
        None,
    )
    assert delivery["last_error"]


async def test_by_default_webhooks_go_to_our_own_app_in_process(app, sandbox: Sandbox, worker):
    order = await sandbox.order()
    await sandbox.pay(order["id"], outcome="failure")
    await worker.run_once()
    (delivery,) = await sandbox.deliveries()
    assert delivery["url"] == "http://127.0.0.1:8000/api/v1/webhooks/razorpay"
    # Nothing listens on port 8000 in tests: an HTTP status means our app answered through ASGI.
    assert delivery["last_status_code"] is not None, delivery


async def test_webhooks_false_sends_nothing(sandbox: Sandbox, receiver: Receiver, worker):
    order = await sandbox.order(payment={"capture": "manual"})
    paid = await sandbox.pay(order["id"], webhooks=False)
    failed = await sandbox.pay(order["id"], outcome="failure", webhooks=False)
    await sandbox.control(
        "POST", f"/payments/{failed['razorpay_payment_id']}/capture-late", json={"webhooks": False}
    )
    assert paid["payment"]["status"] == "authorized"
    await drain(worker)
    assert receiver.requests == []
    assert await sandbox.events() == []
    assert await sandbox.deliveries() == []


async def test_without_a_webhook_url_events_are_kept_but_not_sent(sandbox: Sandbox):
    sandbox.configure(webhook_url=None)
    order = await sandbox.order()
    await sandbox.pay(order["id"])
    assert [e["event"] for e in await sandbox.events()] == [
        "payment.authorized",
        "payment.captured",
        "order.paid",
    ]
    assert await sandbox.deliveries() == []


async def test_capture_late_and_manual_capture_events(sandbox: Sandbox, receiver: Receiver, worker):
    order = await sandbox.order()
    failed = await sandbox.pay(order["id"], outcome="failure")
    await sandbox.control(
        "POST", f"/payments/{failed['razorpay_payment_id']}/capture-late", json={}
    )
    manual = await sandbox.order(amount=2000, payment={"capture": "manual"})
    authorized = await sandbox.pay(manual["id"])
    await sandbox.rest(
        "POST",
        f"/v1/payments/{authorized['razorpay_payment_id']}/capture",
        json={"amount": 2000, "currency": "INR"},
    )
    await drain(worker)
    assert receiver.events() == [
        "payment.failed",
        "payment.authorized",
        "payment.captured",
        "order.paid",
        "payment.authorized",
        "payment.captured",
        "order.paid",
    ]


async def test_duplicates_repeat_the_event_id(sandbox: Sandbox, receiver: Receiver, worker):
    setting = await sandbox.control("POST", "/webhooks", json={"duplicate": 2})
    assert setting.json() == {"duplicate": 2, "shuffle": False, "drop": False, "count": None}
    order = await sandbox.order()
    await sandbox.pay(order["id"], outcome="failure")
    await drain(worker)
    assert len(receiver.requests) == 3
    assert len({r.headers["x-razorpay-event-id"] for r in receiver.requests}) == 1
    assert len({r.body for r in receiver.requests}) == 1
    deliveries = await sandbox.deliveries()
    assert [d["copy"] for d in deliveries] == [0, 1, 2]
    assert {d["status"] for d in deliveries} == {"delivered"}


async def test_drop_records_but_never_sends(sandbox: Sandbox, receiver: Receiver, worker):
    await sandbox.control("POST", "/webhooks", json={"drop": True})
    order = await sandbox.order()
    await sandbox.pay(order["id"])
    await drain(worker)
    assert receiver.requests == []
    deliveries = await sandbox.deliveries()
    assert [(d["event"], d["status"], d["attempts"]) for d in deliveries] == [
        ("payment.authorized", "dropped", 0),
        ("payment.captured", "dropped", 0),
        ("order.paid", "dropped", 0),
    ]
    # The setting lasts until it is changed: `{}` brings normal delivery back.
    reset = await sandbox.control("POST", "/webhooks", json={})
    assert reset.json() == {"duplicate": 0, "shuffle": False, "drop": False, "count": None}
    other = await sandbox.order()
    await sandbox.pay(other["id"], outcome="failure")
    await drain(worker)
    assert receiver.events() == ["payment.failed"]


async def test_a_setting_for_the_next_n_events(sandbox: Sandbox, receiver: Receiver, worker):
    await sandbox.control("POST", "/webhooks", json={"drop": True, "count": 2})
    order = await sandbox.order()
    await sandbox.pay(order["id"])
    await drain(worker)
    assert receiver.events() == ["order.paid"]
    assert (await sandbox.control("GET", "/webhooks")).json()["drop"] is False


async def test_shuffle_delivers_in_another_order(sandbox: Sandbox, receiver: Receiver, worker):
    await sandbox.control("POST", "/webhooks", json={"shuffle": True})
    order = await sandbox.order()
    await sandbox.pay(order["id"])
    with time_machine.travel(utcnow() + timedelta(seconds=1), tick=True):
        await drain(worker)
    events = receiver.events()
    assert sorted(events) == ["order.paid", "payment.authorized", "payment.captured"]
    assert events != ["payment.authorized", "payment.captured", "order.paid"]
    scheduled = [d["scheduled_at"] for d in await sandbox.deliveries()]
    assert scheduled != sorted(scheduled)


async def test_reset_clears_the_knobs_and_optionally_the_data(sandbox: Sandbox, receiver, worker):
    await sandbox.control("POST", "/webhooks", json={"drop": True, "duplicate": 1})
    await sandbox.control("POST", "/faults", json={"path_prefix": "/v1/refunds", "status": 500})
    order = await sandbox.order()
    await sandbox.pay(order["id"])
    response = await sandbox.control("POST", "/reset", json={})
    assert response.json() == {"reset": True, "data": False}
    assert (await sandbox.control("GET", "/webhooks")).json()["drop"] is False
    assert (await sandbox.control("GET", "/faults")).json()["count"] == 0
    assert len(await sandbox.deliveries()) == 3
    await sandbox.control("POST", "/reset", json={"data": True})
    assert await sandbox.deliveries() == []
    gone = await sandbox.rest("GET", f"/v1/orders/{order['id']}")
    assert_razorpay_error(gone, 400, "The id provided does not exist")
    await drain(worker)  # jobs of deleted deliveries finish quietly


async def test_retries_carry_the_signature_made_when_the_event_was_created(
    sandbox: Sandbox, receiver: Receiver, worker
):
    old_secret = sandbox.config.webhook_secret
    receiver.statuses = [500]
    order = await sandbox.order()
    await sandbox.pay(order["id"], outcome="failure")
    await worker.run_once()
    sandbox.configure(webhook_secret="rotated-secret")
    await drain(worker)
    assert len(receiver.requests) == 2
    for request in receiver.requests:
        assert verify_webhook_signature(
            request.body, request.headers["x-razorpay-signature"], [old_secret]
        )


async def test_webhook_settings_validation(sandbox: Sandbox):
    for body, description, field in [
        ({"duplicate": 11}, "The duplicate must be between 0 and 10.", "duplicate"),
        ({"drop": "sometimes"}, "The drop field must be true or false.", "drop"),
        ({"drop": True, "count": 0}, "The count must be at least 1.", "count"),
    ]:
        response = await sandbox.control("POST", "/webhooks", json=body)
        assert_razorpay_error(response, 400, description, field=field)
