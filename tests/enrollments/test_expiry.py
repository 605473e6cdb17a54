"""Expiry: an unpaid enrollment past its hold becomes `expired` and frees its seat and coupon;
a capture that arrives later revives it or is refunded (both databases)."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from enrollpay.enrollments.expiry import expire_due
from enrollpay.enrollments.models import Enrollment
from enrollpay.jobs.worker import Worker
from enrollpay.kit.clock import utcnow
from enrollpay.payments.models import Payment
from tests.conftest import assert_error
from tests.courses.factories import create_coupon, create_course
from tests.enrollments.helpers import (
    auto_refund_jobs,
    drain_jobs,
    initialize,
    pay,
    payment_status,
    verify,
)


async def _age(db, enrollment_id: str, *, minutes: int = 1) -> None:
    """Move the hold's end into the past."""
    async with db.transaction() as session:
        await session.execute(
            update(Enrollment)
            .where(Enrollment.id == enrollment_id)
            .values(expires_at=utcnow() - timedelta(minutes=minutes))
        )


async def test_an_expired_hold_frees_the_seat_for_the_next_learner(
    client, db, settings, admin_headers, make_user
):
    course = await create_course(client, admin_headers, capacity=1)
    _, first = await make_user()
    _, second = await make_user()
    held = (await initialize(client, first, course["id"])).json()
    assert_error(await initialize(client, second, course["id"]), 409, "course_full")

    await _age(db, held["enrollment_id"])
    # The periodic sweep, through the real worker and its schedule.
    await Worker(db, settings).run_once()
    assert (await payment_status(client, first, held["enrollment_id"]))["enrollment_status"] == (
        "expired"
    )
    taken = await initialize(client, second, course["id"])
    assert taken.status_code == 201, taken.text


async def test_an_expired_hold_releases_the_coupon(client, db, admin_headers, make_user):
    course = await create_course(client, admin_headers)
    await create_coupon(client, admin_headers, code="ONCE", max_redemptions=1)
    _, first = await make_user()
    _, second = await make_user()
    held = (await initialize(client, first, course["id"], coupon_code="ONCE")).json()
    assert_error(
        await initialize(client, second, course["id"], coupon_code="ONCE"), 409, "coupon_exhausted"
    )
    await _age(db, held["enrollment_id"])
    assert await expire_due(db, now=utcnow()) == 1
    assert (await initialize(client, second, course["id"], coupon_code="ONCE")).status_code == 201


async def test_holds_still_running_and_authorized_payments_are_left_alone(
    client, db, admin_headers, make_user
):
    course = await create_course(client, admin_headers)
    _, learner = await make_user()
    _, other = await make_user()
    running = (await initialize(client, learner, course["id"])).json()
    authorized = (await initialize(client, other, course["id"])).json()
    await _age(db, authorized["enrollment_id"])
    async with db.transaction() as session:
        await session.execute(
            update(Payment)
            .where(Payment.enrollment_id == authorized["enrollment_id"])
            .values(status="authorized")
        )
    assert await expire_due(db, now=utcnow()) == 0
    for headers, body in ((learner, running), (other, authorized)):
        status = await payment_status(client, headers, body["enrollment_id"])
        assert status["enrollment_status"] == "pending"


async def test_a_capture_after_expiry_revives_when_the_seat_is_free(
    client, db, settings, admin_headers, make_user
):
    course = await create_course(client, admin_headers, capacity=1)
    _, learner = await make_user()
    held = (await initialize(client, learner, course["id"])).json()
    await _age(db, held["enrollment_id"])
    await expire_due(db, now=utcnow())

    paid = await pay(client, held["payment_session"]["razorpay_order_id"])
    response = await verify(client, learner, held["enrollment_id"], paid)
    assert response.status_code == 200, response.text
    assert response.json()["enrollment_status"] == "enrolled"
    await drain_jobs(db, settings)
    assert await auto_refund_jobs(db) == []


async def test_a_capture_after_expiry_is_refunded_when_the_seat_was_taken(
    client, db, settings, admin_headers, make_user
):
    course = await create_course(client, admin_headers, capacity=1)
    _, late = await make_user()
    _, taker = await make_user()
    held = (await initialize(client, late, course["id"])).json()
    await _age(db, held["enrollment_id"])
    await expire_due(db, now=utcnow())
    assert (await initialize(client, taker, course["id"])).status_code == 201

    paid = await pay(client, held["payment_session"]["razorpay_order_id"])
    response = await verify(client, late, held["enrollment_id"], paid)
    assert response.json()["enrollment_status"] == "expired"
    jobs = await auto_refund_jobs(db)
    assert [job.payload["reason"] for job in jobs] == ["expired_not_revivable"]
