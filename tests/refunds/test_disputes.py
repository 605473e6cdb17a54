"""Disputes from the sandbox's chargeback control call (and a signed webhook for a payment that
is not ours): recorded, shown to admins; a lost one revokes access, a won one changes nothing;
replays change nothing."""

from __future__ import annotations

from enrollpay.webhooks import service as webhooks_service
from tests.conftest import assert_error
from tests.enrollments.helpers import API, drain_jobs, payment_status, sandbox_control
from tests.refunds.conftest import (
    TOTAL,
    disputes,
    enroll,
    has_access,
    inbox_rows,
    learner_refund,
)
from tests.webhooks.conftest import deliver, sample


async def test_a_lost_dispute_revokes_access(client, db, settings, course, learner, admin_headers):
    _, headers = learner
    enrollment_id, paid_id = await enroll(client, headers, course["id"])

    raised = await sandbox_control(client, "POST", f"/payments/{paid_id}/dispute", outcome="lost")
    assert raised["events"] == ["payment.dispute.created", "payment.dispute.lost"]
    await drain_jobs(db, settings)

    (dispute,) = await disputes(db)
    assert (dispute.razorpay_dispute_id, dispute.status) == (raised["dispute"]["id"], "lost")
    assert (dispute.amount, dispute.amount_deducted, dispute.phase) == (TOTAL, TOTAL, "chargeback")
    assert dispute.enrollment_id == enrollment_id and dispute.note
    assert not await has_access(client, headers, course["id"])
    status = await payment_status(client, headers, enrollment_id)
    assert status["enrollment_status"] == "refunded"
    assert raised["dispute"]["id"] in status["failure_reason"]
    assert_error(await learner_refund(client, headers, enrollment_id), 400, "refund_not_allowed")

    listed = await client.get(f"{API}/admin/disputes?status=lost", headers=admin_headers)
    assert listed.status_code == 200, listed.text
    (item,) = listed.json()["items"]
    assert (item["id"], item["amount"], item["enrollment_id"]) == (
        dispute.id,
        TOTAL / 100,
        enrollment_id,
    )

    # Both events again, the decision first: nothing changes.
    for event in ("payment.dispute.lost", "payment.dispute.created"):
        (row,) = await inbox_rows(db, event)
        async with db.transaction() as session:
            await webhooks_service.replay(session, row.id)
        await drain_jobs(db, settings)
    (again,) = await disputes(db)
    assert (again.status, again.updated_at, again.note) == (
        "lost",
        dispute.updated_at,
        dispute.note,
    )
    (created_row,) = await inbox_rows(db, "payment.dispute.created")
    assert "stale" in (created_row.outcome or "")


async def test_a_won_dispute_changes_nothing(client, db, settings, course, learner):
    _, headers = learner
    enrollment_id, paid_id = await enroll(client, headers, course["id"])

    await sandbox_control(client, "POST", f"/payments/{paid_id}/dispute", outcome="won")
    await drain_jobs(db, settings)

    (dispute,) = await disputes(db)
    assert (dispute.status, dispute.amount_deducted, dispute.note) == ("won", 0, None)
    assert await has_access(client, headers, course["id"])
    status = await payment_status(client, headers, enrollment_id)
    assert (status["enrollment_status"], status["payment_status"]) == ("enrolled", "completed")


async def test_a_dispute_of_a_payment_not_ours_is_stored(app, client, db, settings):
    document = sample("payment.dispute.lost")
    document["contains"] = ["payment", "dispute"]
    document["payload"]["dispute"] = {
        "entity": {
            "id": "disp_EsIAlDcoUr8CaQ",
            "entity": "dispute",
            "payment_id": document["payload"]["payment"]["entity"]["id"],
            "amount": 39000,
            "currency": "INR",
            "amount_deducted": 39000,
            "reason_code": "processed_invalid_expired_card",
            "respond_by": 1590431400,
            "status": "lost",
            "phase": "chargeback",
            "created_at": 1589907977,
        }
    }
    secret = app.state.sandbox_config.webhook_secret
    response = await deliver(client, document, secret=secret)
    assert response.status_code == 200, response.text
    await drain_jobs(db, settings)

    (dispute,) = await disputes(db)
    assert (dispute.status, dispute.payment_id, dispute.enrollment_id) == ("lost", None, None)
    (row,) = await inbox_rows(db, "payment.dispute.lost")
    assert row.status == "processed" and "not_ours" in (row.outcome or "")
