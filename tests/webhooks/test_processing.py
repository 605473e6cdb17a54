"""The processing job: events → gateway facts → `record_gateway_fact` (replaced by a recorder
here), ignored and failed events, retries with the attempt and error on the row, idempotency."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import update

from enrollpay.jobs.models import Job
from enrollpay.jobs.worker import JobOutcome
from enrollpay.payments.facts import FactSource, FactStatus, GatewayFact
from enrollpay.webhooks import service
from enrollpay.webhooks.service import PROCESS_EVENT_JOB
from tests.webhooks.conftest import (
    VECTOR_BYTES,
    deliver,
    only_row,
    processing_jobs,
    sample,
)


async def test_payment_captured_hands_over_the_payment_fact(client, db, record_fact, run_jobs):
    document = sample("payment.captured")
    await deliver(client, document, event_id="EvtCaptured001")
    assert await run_jobs() == [JobOutcome.done]

    (fact,) = record_fact.facts
    entity = document["payload"]["payment"]["entity"]
    assert fact == GatewayFact(
        razorpay_payment_id="pay_DESyzxuld02Zul",
        razorpay_order_id="order_DESxiijbl9xjDB",
        status=FactStatus.captured,
        amount=100,
        currency="INR",
        source=FactSource.webhook,
        method="upi",
        reference="EvtCaptured001",
        raw=fact.raw,
    )
    assert fact.raw is not None and fact.raw["id"] == entity["id"]
    assert fact.raw["vpa"] == entity["vpa"]  # unknown fields are kept for the event log
    row = await only_row(db)
    assert (row.status, row.outcome, row.attempts, row.last_error) == (
        "processed",
        "applied",
        1,
        None,
    )
    assert row.processed_at is not None
    (job,) = await processing_jobs(db)
    assert job.status == "done"


async def test_payment_authorized_uses_the_snapshot_status(client, db, record_fact, run_jobs):
    """The payload is a snapshot: the SDK's payment.authorized fixture shows `captured`, and the
    fact says what the entity says."""
    document = sample("payment.authorized", payment={"status": "authorized", "captured": False})
    await deliver(client, document)
    await run_jobs()
    (fact,) = record_fact.facts
    assert (fact.status, fact.source) == (FactStatus.authorized, FactSource.webhook)


async def test_payment_failed_carries_the_error_fields(client, db, record_fact, run_jobs):
    await deliver(client, sample("payment.failed"), event_id="EvtFailed00001")
    await run_jobs()
    (fact,) = record_fact.facts
    assert fact.status == FactStatus.failed
    assert (
        fact.error_code,
        fact.error_description,
        fact.error_source,
        fact.error_step,
        fact.error_reason,
    ) == (
        "BAD_REQUEST_ERROR",
        "Payment failed",
        "issuer",
        "payment_authorization",
        "payment_failed",
    )
    assert (fact.amount, fact.currency, fact.reference) == (100, "INR", "EvtFailed00001")


async def test_order_paid_hands_over_the_payment_of_the_order(client, db, record_fact, run_jobs):
    await deliver(client, sample("order.paid"), event_id="EvtOrderPaid01")
    await run_jobs()
    (fact,) = record_fact.facts
    assert (fact.razorpay_payment_id, fact.razorpay_order_id, fact.status, fact.amount) == (
        "pay_DESlfW9H8K9uqM",
        "order_DESlLckIVRkHWj",
        FactStatus.captured,
        100,
    )
    assert fact.method == "netbanking"
    assert (await only_row(db)).status == "processed"


@pytest.mark.parametrize(
    "payment",
    [
        pytest.param({"order_id": "order_OtherProduct01"}, id="other-products-order"),
        pytest.param({"order_id": None}, id="payment-without-order"),
    ],
)
async def test_payments_that_are_not_ours_are_still_handed_over(
    client, db, record_fact, run_jobs, payment
):
    """Deciding `not_ours` is record_gateway_fact's job; the webhook answers 2xx regardless."""
    record_fact.outcome = "not_ours"
    response = await deliver(client, sample("payment.captured", payment=payment))
    assert response.status_code == 200
    await run_jobs()
    (fact,) = record_fact.facts
    assert fact.razorpay_order_id == payment["order_id"]
    row = await only_row(db)
    assert (row.status, row.outcome) == ("processed", "not_ours")


async def test_the_sdk_vector_is_processed_too(client, db, record_fact, run_jobs, settings):
    from enrollpay.payments.gateway.signatures import webhook_signature

    signature = webhook_signature(VECTOR_BYTES, settings.webhook_secrets[0])
    await deliver(client, VECTOR_BYTES, signature=signature)
    await run_jobs()
    (fact,) = record_fact.facts
    assert (fact.razorpay_payment_id, fact.amount, fact.status) == (
        "pay_6koWN7bvxujzxM",
        1000000,
        FactStatus.captured,
    )


@pytest.mark.parametrize(
    ("event", "reason"),
    [
        (
            "refund.speed_changed",
            "only refund.created, refund.processed and refund.failed change refunds",
        ),
        ("payment.dispute.escalated", "not a dispute event enrollpay knows"),
        ("payment_link.paid", "payment links are not used by enrollpay"),
        ("subscription.charged", "not an event enrollpay uses"),
        ("brand_new_event", "not an event enrollpay uses"),
    ],
)
async def test_events_we_do_not_use_are_ignored_with_a_reason(
    client, db, record_fact, run_jobs, event, reason
):
    refund = {**sample("refund.processed"), "event": event}
    document = refund if event.startswith("refund.") else sample(event)
    response = await deliver(client, document)
    assert response.json() == {"status": "accepted"}
    assert await run_jobs() == [JobOutcome.done]
    row = await only_row(db)
    assert (row.status, row.outcome) == ("ignored", f"{event}: {reason}")
    assert row.processed_at is not None
    assert record_fact.calls == 0


@pytest.mark.parametrize(
    ("document", "error"),
    [
        pytest.param(
            {"entity": "event", "event": "payment.captured", "payload": {}},
            "payload.payment.entity is missing",
            id="no-payment",
        ),
        pytest.param(
            sample("payment.captured", payment={"amount": "a lot"}),
            "amount: Input should be a valid integer",
            id="amount-not-integer",
        ),
        pytest.param(
            sample("payment.captured", payment={"status": "teleported"}),
            "status: Input should be",
            id="unknown-status",
        ),
        pytest.param(
            sample("payment.captured", payment={"id": "order_NotAPayment"}),
            "not a Razorpay payment id",
            id="wrong-id-shape",
        ),
        pytest.param(
            sample("payment.captured", payment={"currency": "inr"}),
            "invalid amount or currency",
            id="bad-currency",
        ),
        pytest.param(
            sample("order.paid", order={"id": "order_SomeOtherOrder"}),
            "is not payload.order.entity.id",
            id="order-mismatch",
        ),
        pytest.param(
            sample("order.paid", order={"status": None}),
            "payload.order.entity: status",
            id="invalid-order",
        ),
    ],
)
async def test_invalid_payloads_fail_once_and_are_not_retried(
    client, db, record_fact, run_jobs, document, error
):
    response = await deliver(client, document)
    assert response.status_code == 200
    assert await run_jobs() == [JobOutcome.dead]
    row = await only_row(db)
    assert (row.status, row.outcome, row.attempts) == ("failed", "invalid payload", 1)
    assert error in (row.last_error or "")
    assert "gaurav.kumar@example.com" not in (row.last_error or "")  # no input echoed
    (job,) = await processing_jobs(db)
    assert (job.status, job.attempts) == ("dead", 1)
    assert record_fact.calls == 0


async def test_a_raising_record_gateway_fact_is_retried_until_it_succeeds(
    client, db, record_fact, run_jobs
):
    record_fact.fail_times = 2
    await deliver(client, sample("payment.captured"))
    outcomes = await run_jobs()
    assert outcomes == [JobOutcome.retry, JobOutcome.retry, JobOutcome.done]
    row = await only_row(db)
    assert (row.status, row.outcome, row.attempts) == ("processed", "applied", 3)
    # The last error stays as history: it says why processing took three attempts.
    assert row.last_error == "RuntimeError: database hiccup 2"
    assert len(record_fact.facts) == 1
    (job,) = await processing_jobs(db)
    assert (job.status, job.attempts) == ("done", 3)


async def test_the_row_shows_each_failed_attempt_while_retrying(client, db, record_fact, settings):
    from enrollpay.jobs.worker import Worker

    record_fact.fail_times = 5
    await deliver(client, sample("payment.captured"))
    worker = Worker(db, settings)
    worker.jitter = lambda: 1.0  # the retry waits: the row is seen between attempts
    assert await worker.run_once(schedules=False) == [JobOutcome.retry]
    row = await only_row(db)
    assert (row.status, row.attempts, row.last_error) == (
        "pending",
        1,
        "RuntimeError: database hiccup 1",
    )
    assert row.processed_at is None
    assert await worker.run_once(schedules=False) == []  # backing off


async def test_the_last_failed_attempt_marks_the_row_failed(client, db, record_fact, run_jobs):
    record_fact.fail_times = 100
    await deliver(client, sample("payment.captured"))
    async with db.transaction() as session:
        await session.execute(update(Job).values(max_attempts=3))
    assert await run_jobs() == [JobOutcome.retry, JobOutcome.retry, JobOutcome.dead]
    row = await only_row(db)
    assert (row.status, row.attempts, row.outcome) == (
        "failed",
        3,
        "gave up after repeated errors",
    )
    assert row.last_error == "RuntimeError: database hiccup 3"


async def test_processing_a_row_twice_changes_nothing(client, db, record_fact, run_jobs):
    await deliver(client, sample("payment.captured"))
    await run_jobs()
    row = await only_row(db)
    before = (row.status, row.outcome, row.attempts, row.processed_at)
    # A second run for the same row (a lost lease, a duplicate job) finds it done.
    async with db.transaction() as session:
        result = await service.process_event(session, row.id, now=row.received_at)
    assert (result.ran, result.status) == (False, "processed")
    row = await only_row(db)
    assert (row.status, row.outcome, row.attempts, row.processed_at) == before
    assert len(record_fact.facts) == 1


async def test_a_job_for_a_missing_row_finishes_quietly(db, run_jobs):
    from enrollpay.jobs import enqueue

    async with db.transaction() as session:
        await enqueue(session, PROCESS_EVENT_JOB, {"inbox_id": "whk_00000000000000000000000000"})
        await enqueue(session, PROCESS_EVENT_JOB, {"not": "an inbox id"})
    outcomes = sorted(await run_jobs())
    assert outcomes == sorted([JobOutcome.done, JobOutcome.dead])


async def test_a_failed_run_leaves_no_partial_writes(client, db, monkeypatch, run_jobs):
    """What record_gateway_fact wrote before raising is rolled back with the run."""
    from enrollpay.webhooks.models import WebhookEvent

    async def writes_then_fails(session: Any, fact: GatewayFact) -> str:
        await session.execute(update(WebhookEvent).values(account_id="acc_Tampered"))
        raise RuntimeError("after writing")

    monkeypatch.setattr("enrollpay.payments.service.record_gateway_fact", writes_then_fails)
    await deliver(client, sample("payment.captured"))
    async with db.transaction() as session:
        await session.execute(update(Job).values(max_attempts=1))
    assert await run_jobs() == [JobOutcome.dead]
    row = await only_row(db)
    assert row.account_id == "acc_BFQ7uQEaa7j2z7"
    assert (row.status, row.attempts, row.last_error) == (
        "failed",
        1,
        "RuntimeError: after writing",
    )
