"""Refunds when things go wrong: the gateway is down (the job sends it later, once), the worker
dies between Razorpay's answer and its commit (the idempotency key makes the retry harmless),
and Razorpay fails the refund (admins are alerted, the money is refundable again)."""

from __future__ import annotations

import pytest

from enrollpay.jobs.worker import JobOutcome, Worker
from enrollpay.payments.gateway.razorpay import RazorpayClient
from enrollpay.refunds import service as refunds_service
from enrollpay.webhooks import service as webhooks_service
from tests.enrollments.helpers import (
    add_fault,
    clear_faults,
    drain_jobs,
    payment_status,
    sandbox_control,
    set_webhooks,
)
from tests.refunds.conftest import (
    TOTAL,
    TOTAL_MAJOR,
    admin_refund,
    emails,
    enroll,
    has_access,
    inbox_rows,
    learner_refund,
    make_jobs_due,
    refunds,
    sandbox_refunds,
)


@pytest.mark.parametrize("lost_response", [False, True], ids=["refused", "lost_response"])
async def test_gateway_down_leaves_it_requested_and_the_job_sends_it_once(
    client, db, settings, course, learner, lost_response
):
    """With `after`, Razorpay made the refund and the answer was lost: the job's retry with the
    same key gets that refund back instead of a second one."""
    _, headers = learner
    enrollment_id, paid_id = await enroll(client, headers, course["id"])
    await add_fault(
        client, path_prefix="/v1/payments", method="POST", status=503, count=10, after=lost_response
    )

    response = await learner_refund(client, headers, enrollment_id)
    assert response.status_code == 202, response.text
    assert (response.json()["status"], response.json()["razorpay_refund_id"]) == ("requested", None)
    assert response.json()["enrollment_status"] == "refunded"
    assert not await has_access(client, headers, course["id"])
    assert len(await sandbox_refunds(db, paid_id)) == (1 if lost_response else 0)

    await clear_faults(client)
    await make_jobs_due(db, refunds_service.SUBMIT_JOB)
    await drain_jobs(db, settings)

    (refund,) = await refunds(db)
    (gateway_refund,) = await sandbox_refunds(db, paid_id)
    assert (refund.status, refund.razorpay_refund_id) == ("pending", gateway_refund.id)
    assert gateway_refund.amount == TOTAL


async def test_a_worker_dying_after_the_gateway_call_refunds_once(
    client, db, settings, course, learner, monkeypatch
):
    _, headers = learner
    enrollment_id, paid_id = await enroll(client, headers, course["id"])
    await add_fault(client, path_prefix="/v1/payments", method="POST", status=503, count=10)
    assert (await learner_refund(client, headers, enrollment_id)).status_code == 202
    await clear_faults(client)
    await set_webhooks(client, drop=True)  # no refund.created to tell us the id meanwhile
    await drain_jobs(db, settings)  # everything else; the submit job waits (safety delay)

    calls = 0
    create_refund = RazorpayClient.create_refund

    async def counted(self, *args, **kwargs):
        nonlocal calls
        calls += 1
        return await create_refund(self, *args, **kwargs)

    async def dies_before_commit(*args, **kwargs):
        raise RuntimeError("worker killed after Razorpay answered")

    monkeypatch.setattr(RazorpayClient, "create_refund", counted)
    monkeypatch.setattr(refunds_service, "record_submission", dies_before_commit)
    await make_jobs_due(db, refunds_service.SUBMIT_JOB)
    worker = Worker(db, settings, concurrency=1)
    worker.jitter = lambda: 0.0
    assert await worker.run_once(schedules=False) == [JobOutcome.retry]
    assert len(await sandbox_refunds(db, paid_id)) == 1
    (refund,) = await refunds(db)
    assert (refund.status, refund.razorpay_refund_id) == ("requested", None)

    monkeypatch.undo()
    monkeypatch.setattr(RazorpayClient, "create_refund", counted)
    assert await worker.run_once(schedules=False) == [JobOutcome.done]
    assert calls == 2  # sent twice, refunded once
    (gateway_refund,) = await sandbox_refunds(db, paid_id)
    (refund,) = await refunds(db)
    assert (refund.status, refund.razorpay_refund_id) == ("pending", gateway_refund.id)


async def test_a_failed_refund_alerts_admins_and_can_be_refunded_again(
    client, db, settings, course, learner, admin_headers
):
    _, headers = learner
    enrollment_id, paid_id = await enroll(client, headers, course["id"])
    first = (await learner_refund(client, headers, enrollment_id)).json()

    await sandbox_control(
        client, "POST", f"/refunds/{first['razorpay_refund_id']}/settle", outcome="failed"
    )
    await drain_jobs(db, settings)

    (refund,) = await refunds(db)
    assert refund.status == "failed" and refund.failure_reason
    (alert,) = await emails(db, "refund_failed_alert")
    assert alert.to_address == "admin@example.com" and refund.id in alert.text_body
    status = await payment_status(client, headers, enrollment_id)
    # The money is refundable again; the access stays revoked (refunded is final).
    assert (status["enrollment_status"], status["payment_status"]) == ("refunded", "completed")
    failed = await client.get("/api/v1/admin/refunds?status=failed", headers=admin_headers)
    assert [r["id"] for r in failed.json()["items"]] == [refund.id]

    (row,) = await inbox_rows(db, "refund.failed")
    async with db.transaction() as session:
        await webhooks_service.replay(session, row.id)
    await drain_jobs(db, settings)
    assert len(await emails(db, "refund_failed_alert")) == 1

    again = await admin_refund(client, admin_headers, enrollment_id)
    assert again.status_code == 201, again.text
    assert again.json()["amount"] == TOTAL_MAJOR
    assert [r.status for r in await sandbox_refunds(db, paid_id)] == ["failed", "pending"]
