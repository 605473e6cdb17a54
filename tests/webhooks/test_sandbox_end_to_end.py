"""End to end with the built-in sandbox: it signs real deliveries (with its own derived secret —
no RAZORPAY_WEBHOOK_SECRET here) and sends them to our endpoint in process; the job worker runs
both the deliveries and our processing."""

from __future__ import annotations

from typing import Any

import pytest

from tests.sandbox.conftest import Sandbox
from tests.webhooks.conftest import inbox, processing_jobs


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {}


@pytest.fixture
def sandbox(app: Any, client: Any) -> Sandbox:
    return Sandbox(client, app)


def _answered(deliveries: list[dict[str, Any]]) -> list[tuple[str, str, int | None]]:
    return [(d["event"], d["status"], d["last_status_code"]) for d in deliveries]


async def test_a_paid_order_arrives_stored_and_processed(
    sandbox: Sandbox, db, run_jobs, record_fact
):
    order = await sandbox.order(amount=50000)
    paid = await sandbox.pay(order["id"], outcome="success", method="upi", webhooks=True)
    await run_jobs()

    deliveries = await sandbox.deliveries()
    assert _answered(deliveries) == [
        ("payment.authorized", "delivered", 200),
        ("payment.captured", "delivered", 200),
        ("order.paid", "delivered", 200),
    ]
    assert {d["attempts"] for d in deliveries} == {1}

    rows = await inbox(db)
    assert [row.event for row in rows] == ["payment.authorized", "payment.captured", "order.paid"]
    assert [row.event_id for row in rows] == [d["event_id"] for d in deliveries]
    assert {row.status for row in rows} == {"processed"}
    assert {row.account_id for row in rows} == {sandbox.config.account_id}
    payment_id = paid["razorpay_payment_id"]
    assert {(row.razorpay_payment_id, row.razorpay_order_id) for row in rows} == {
        (payment_id, order["id"])
    }
    events = {e["id"]: e for e in await sandbox.events()}
    for row in rows:
        assert row.body_bytes() == events[row.event_id]["body"].encode()  # byte for byte

    assert [(f.status, f.reference) for f in record_fact.facts] == [
        ("authorized", rows[0].event_id),
        ("captured", rows[1].event_id),
        ("captured", rows[2].event_id),
    ]
    assert {
        (f.razorpay_payment_id, f.razorpay_order_id, f.amount, f.currency, f.source)
        for f in record_fact.facts
    } == {(payment_id, order["id"], 50000, "INR", "webhook")}


async def test_duplicated_deliveries_are_stored_once(sandbox: Sandbox, db, run_jobs, record_fact):
    setting = await sandbox.control("POST", "/webhooks", json={"duplicate": 2})
    assert setting.status_code == 200, setting.text
    order = await sandbox.order()
    await sandbox.pay(order["id"], outcome="success", method="upi", webhooks=True)
    await run_jobs()

    deliveries = await sandbox.deliveries()
    assert len(deliveries) == 9
    assert {(d["status"], d["last_status_code"]) for d in deliveries} == {("delivered", 200)}
    rows = await inbox(db)
    assert len(rows) == 3
    assert sorted(row.event_id for row in rows) == sorted({d["event_id"] for d in deliveries})
    assert {row.deliveries for row in rows} == {3}
    assert len(await processing_jobs(db)) == 3
    assert len(record_fact.facts) == 3


async def test_a_failed_payment_arrives_with_its_error(sandbox: Sandbox, db, run_jobs, record_fact):
    order = await sandbox.order()
    await sandbox.pay(order["id"], outcome="failure", method="upi", webhooks=True)
    await run_jobs()
    (row,) = await inbox(db)
    assert (row.event, row.status) == ("payment.failed", "processed")
    (fact,) = record_fact.facts
    assert fact.status == "failed"
    assert fact.error_code and fact.error_reason


async def test_with_the_real_record_gateway_fact_other_orders_are_not_ours(
    sandbox: Sandbox, db, run_jobs
):
    """Orders made straight in the sandbox belong to no payment of ours: `not_ours`, 2xx."""
    order = await sandbox.order()
    await sandbox.pay(order["id"], outcome="success", method="card", webhooks=True)
    await run_jobs()
    assert {d["last_status_code"] for d in await sandbox.deliveries()} == {200}
    rows = await inbox(db)
    assert [(row.status, row.outcome) for row in rows] == [("processed", "not_ours")] * 3
