"""SPEC §3 automatic refunds end as exactly one `automatic` refund row and one refund at the
gateway, whatever the cause and however often the job runs; they never touch the enrollment.
Refunds made outside enrollpay (the Razorpay Dashboard) are recorded from their webhook."""

from __future__ import annotations

from typing import Any

from enrollpay.jobs import enqueue
from tests.courses.factories import create_coupon, create_course
from tests.enrollments.helpers import (
    API,
    auto_refund_jobs,
    drain_jobs,
    initialize,
    pay,
    payment_status,
    verify,
)
from tests.refunds.conftest import (
    TOTAL,
    enroll,
    has_access,
    order_of,
    refunds,
    sandbox_refunds,
    start,
)


async def assert_refunded_once(app, db, settings, razorpay_payment_id: str, reason: str) -> Any:
    """One automatic refund of the whole capture, also after the job runs once more."""
    (job,) = await auto_refund_jobs(db)
    async with db.transaction() as session:  # the same job again, without its dedupe key
        await enqueue(session, "payments.auto_refund", job.payload)
    await drain_jobs(db, settings)

    (refund,) = await refunds(db, kind="automatic")
    (gateway_refund,) = await sandbox_refunds(db, razorpay_payment_id)
    assert (refund.reason, refund.razorpay_payment_id) == (reason, razorpay_payment_id)
    assert refund.idempotency_key == f"auto-refund-{razorpay_payment_id}"
    assert (refund.status, refund.razorpay_refund_id) == ("pending", gateway_refund.id)
    assert refund.amount == gateway_refund.amount == job.payload["amount"]
    return refund


async def test_a_capture_after_cancel(app, client, db, settings, course, learner):
    _, headers = learner
    started = await start(client, headers, course["id"])
    enrollment_id = started["enrollment_id"]
    cancelled = await client.post(f"{API}/enrollments/{enrollment_id}/cancel", headers=headers)
    assert cancelled.status_code == 200, cancelled.text
    paid = await pay(client, order_of(started), webhooks=True)
    await drain_jobs(db, settings)

    await assert_refunded_once(
        app, db, settings, paid["razorpay_payment_id"], "enrollment_cancelled"
    )
    status = await payment_status(client, headers, enrollment_id)
    assert (status["enrollment_status"], status["payment_status"]) == ("cancelled", "refunded")


async def test_a_capture_of_the_wrong_amount(app, client, db, settings, course, learner):
    _, headers = learner
    started = await start(client, headers, course["id"])
    paid = await pay(client, order_of(started), amount=TOTAL - 100)
    await verify(client, headers, started["enrollment_id"], paid)
    await drain_jobs(db, settings)

    refund = await assert_refunded_once(
        app, db, settings, paid["razorpay_payment_id"], "amount_mismatch"
    )
    assert refund.amount == TOTAL - 100
    status = await payment_status(client, headers, started["enrollment_id"])
    assert (status["enrollment_status"], status["payment_status"]) == ("pending", "refunded")


async def test_a_second_capture_for_an_enrolled_learner(app, client, db, settings, course, learner):
    """Two tabs: the first order failed and was retried; the retry enrolls; the old tab pays."""
    _, headers = learner
    started = await start(client, headers, course["id"])
    enrollment_id, first_order = started["enrollment_id"], order_of(started)
    await pay(client, first_order, outcome="failure", webhooks=True)
    await drain_jobs(db, settings)
    retried = await client.post(f"{API}/enrollments/{enrollment_id}/retry-payment", headers=headers)
    enrolling = await pay(client, order_of(retried.json()))
    await verify(client, headers, enrollment_id, enrolling)
    old_tab = await pay(client, first_order)
    await verify(client, headers, enrollment_id, old_tab)
    await drain_jobs(db, settings)

    await assert_refunded_once(
        app, db, settings, old_tab["razorpay_payment_id"], "already_enrolled"
    )
    assert await sandbox_refunds(db, enrolling["razorpay_payment_id"]) == []
    status = await payment_status(client, headers, enrollment_id)
    assert (status["enrollment_status"], status["payment_status"]) == ("enrolled", "completed")
    assert status["razorpay_payment_id"] == enrolling["razorpay_payment_id"]
    assert await has_access(client, headers, course["id"])


async def test_a_superseded_order_paid_at_another_price(
    app, client, db, settings, admin_headers, learner
):
    course = await create_course(client, admin_headers, price=1000)
    await create_coupon(client, admin_headers, code="TENOFF")
    _, headers = learner
    with_coupon = await start(client, headers, course["id"], coupon_code="TENOFF")
    without = await initialize(client, headers, course["id"])  # supersedes the coupon order
    assert without.status_code == 200, without.text

    old_tab = await pay(client, order_of(with_coupon))
    await verify(client, headers, with_coupon["enrollment_id"], old_tab)
    current = await pay(client, order_of(without.json()))
    await verify(client, headers, with_coupon["enrollment_id"], current)
    await drain_jobs(db, settings)

    await assert_refunded_once(
        app, db, settings, old_tab["razorpay_payment_id"], "superseded_price"
    )
    status = await payment_status(client, headers, with_coupon["enrollment_id"])
    assert (status["enrollment_status"], status["payment_status"]) == ("enrolled", "completed")
    assert status["razorpay_payment_id"] == current["razorpay_payment_id"]


async def test_a_refund_made_outside_enrollpay_is_recorded(
    app, client, db, settings, course, learner
):
    """Someone refunds the whole payment from the Razorpay Dashboard: the refund.created webhook
    records it as an admin refund, and the learner's access ends."""
    _, headers = learner
    enrollment_id, paid_id = await enroll(client, headers, course["id"])
    dashboard = await app.state.gateway.create_refund(
        paid_id, amount=None, idempotency_key="dashboard-refund-1"
    )
    await drain_jobs(db, settings)

    (refund,) = await refunds(db)
    assert (refund.kind, refund.reason) == ("admin", "created outside enrollpay")
    assert (refund.razorpay_refund_id, refund.status, refund.amount) == (
        dashboard.id,
        "pending",
        TOTAL,
    )
    assert refund.idempotency_key is None and refund.enrollment_id == enrollment_id
    assert not await has_access(client, headers, course["id"])
