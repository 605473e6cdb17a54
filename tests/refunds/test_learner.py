"""The learner's refund through the API and the sandbox, on both databases: access ends at once,
Razorpay refunds once (also under concurrent requests), the refund.processed webhook completes
it and queues the email, and every refusal is a clear 400 that changes nothing."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from sqlalchemy import update

from enrollpay.enrollments.models import Enrollment
from enrollpay.kit.clock import utcnow
from enrollpay.webhooks import service as webhooks_service
from tests.conftest import assert_error
from tests.enrollments.helpers import API, drain_jobs, payment_status, sandbox_control
from tests.refunds.conftest import (
    TOTAL,
    TOTAL_MAJOR,
    emails,
    enroll,
    has_access,
    inbox_rows,
    learner_refund,
    refunds,
    sandbox_refunds,
    start,
)


async def test_a_refund_inside_the_window_revokes_access_and_is_completed_by_webhook(
    client, db, settings, course, learner
):
    user, headers = learner
    enrollment_id, paid_id = await enroll(client, headers, course["id"])

    response = await learner_refund(client, headers, enrollment_id)
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["enrollment_status"] == "refunded"
    assert (body["status"], body["kind"], body["amount"]) == ("pending", "learner", TOTAL_MAJOR)
    assert body["reason"] == "not for me" and body["requested_by"] == user.id
    assert body["razorpay_refund_id"].startswith("rfnd_") and body["processed_at"] is None
    assert not await has_access(client, headers, course["id"])
    status = await payment_status(client, headers, enrollment_id)
    assert (status["enrollment_status"], status["payment_status"]) == ("refunded", "refunded")
    (gateway_refund,) = await sandbox_refunds(db, paid_id)
    assert (gateway_refund.id, gateway_refund.amount) == (body["razorpay_refund_id"], TOTAL)
    detail = (await client.get(f"{API}/enrollments/{enrollment_id}", headers=headers)).json()
    assert [r["id"] for r in detail["refunds"]] == [body["id"]]

    await drain_jobs(db, settings)  # refund.created arrives: nothing new
    await sandbox_control(
        client, "POST", f"/refunds/{gateway_refund.id}/settle", outcome="processed", webhooks=True
    )
    await drain_jobs(db, settings)

    (refund,) = await refunds(db)
    assert (refund.status, refund.id) == ("processed", body["id"])
    assert refund.processed_at is not None
    (email,) = await emails(db, "refund_processed")
    assert email.to_address == user.email and email.enrollment_id == enrollment_id
    assert email.dedupe_key == f"refund_processed:{refund.id}"
    assert "₹5,898.82" in email.text_body
    assert len(await sandbox_refunds(db, paid_id)) == 1

    # Replaying the processed webhook changes nothing.
    (row,) = await inbox_rows(db, "refund.processed")
    async with db.transaction() as session:
        await webhooks_service.replay(session, row.id)
    await drain_jobs(db, settings)
    (again,) = await refunds(db)
    assert (again.status, again.processed_at, again.updated_at) == (
        "processed",
        refund.processed_at,
        refund.updated_at,
    )
    assert len(await emails(db, "refund_processed")) == 1
    (row,) = await inbox_rows(db, "refund.processed")
    assert (row.status, row.outcome) == ("processed", f"{refund.id}: unchanged (processed)")


async def test_refusals_are_400_and_change_nothing(client, db, course, learner, make_user):
    _, headers = learner
    _, other_headers = await make_user(password=None)
    enrollment_id, paid_id = await enroll(client, headers, course["id"])

    # Someone else's enrollment (or a made-up id) is not found.
    assert_error(await learner_refund(client, other_headers, enrollment_id), 404, "not_found")
    assert_error(await learner_refund(client, headers, "enr_nonsense"), 404, "not_found")
    # Not paid: a pending enrollment.
    pending = await start(client, other_headers, course["id"])
    error = assert_error(
        await learner_refund(client, other_headers, pending["enrollment_id"]),
        400,
        "refund_not_allowed",
    )
    assert "pending" in error["message"]
    # The window (7 days from enrollment) has passed.
    async with db.transaction() as session:
        await session.execute(
            update(Enrollment)
            .where(Enrollment.id == enrollment_id)
            .values(enrolled_at=utcnow() - timedelta(days=7, minutes=1))
        )
    error = assert_error(
        await learner_refund(client, headers, enrollment_id), 400, "refund_not_allowed"
    )
    assert "window" in error["message"] and error["details"]["refund_window_days"] == 7
    assert await refunds(db) == [] and await sandbox_refunds(db, paid_id) == []
    assert await has_access(client, headers, course["id"])

    # Inside the window again: the first refund works, the second is refused.
    async with db.transaction() as session:
        await session.execute(
            update(Enrollment)
            .where(Enrollment.id == enrollment_id)
            .values(enrolled_at=utcnow() - timedelta(days=6))
        )
    assert (await learner_refund(client, headers, enrollment_id)).status_code == 201
    error = assert_error(
        await learner_refund(client, headers, enrollment_id), 400, "refund_not_allowed"
    )
    assert "already been refunded" in error["message"]
    assert len(await refunds(db)) == 1 and len(await sandbox_refunds(db, paid_id)) == 1


async def test_ten_concurrent_requests_refund_once(client, db, course, learner):
    _, headers = learner
    enrollment_id, paid_id = await enroll(client, headers, course["id"])

    responses = await asyncio.gather(
        *(learner_refund(client, headers, enrollment_id) for _ in range(10))
    )

    accepted = [r for r in responses if r.status_code in (201, 202)]
    assert len(accepted) == 1, [r.text for r in responses]
    for response in responses:
        if response not in accepted:
            assert_error(response, 400, "refund_not_allowed")
    assert len(await refunds(db)) == 1
    (gateway_refund,) = await sandbox_refunds(db, paid_id)
    assert gateway_refund.amount == TOTAL
