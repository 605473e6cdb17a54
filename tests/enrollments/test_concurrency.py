"""Real concurrency through the API (SPEC §1.2, §3, §4.2), on both databases: many requests at
once against the ASGI app, each in its own transactions, decided by the database."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx

from tests.conftest import assert_error
from tests.courses.factories import create_coupon, create_course
from tests.enrollments.helpers import (
    auto_refund_jobs,
    drain_jobs,
    initialize,
    live_enrollments,
    pay,
    sandbox_orders,
    set_webhooks,
    snapshot,
    verify,
)


def _split(responses: list[httpx.Response]) -> tuple[list[httpx.Response], list[httpx.Response]]:
    ok = [r for r in responses if r.is_success]
    return ok, [r for r in responses if not r.is_success]


async def test_parallel_initializes_of_one_learner_make_one_enrollment_and_one_order(
    client, db, admin_headers, make_user
):
    user, headers = await make_user(password=None)
    course = await create_course(client, admin_headers)

    responses = await asyncio.gather(
        *(initialize(client, headers, course["id"]) for _ in range(24))
    )

    ok, refused = _split(list(responses))
    assert ok, [r.text for r in responses]
    assert sorted({r.status_code for r in ok}) in ([201], [200, 201])
    assert [r.status_code for r in ok].count(201) == 1  # exactly one request created it
    (enrollment_id,) = {r.json()["enrollment_id"] for r in ok}
    for response in refused:
        error = assert_error(response, 409, "request_in_progress")
        assert int(response.headers["Retry-After"]) >= 1
        assert error["details"]["retry_after_seconds"] >= 1

    live = await live_enrollments(db, user_id=user.id, course_id=course["id"])
    assert [e.id for e in live] == [enrollment_id]
    orders = await sandbox_orders(db)
    assert len(orders) == 1, orders
    assert orders[0].notes["enrollment_id"] == enrollment_id
    assert {r.json()["payment_session"]["razorpay_order_id"] for r in ok} == {orders[0].id}

    # Once the storm is over, the learner simply resumes the same session.
    again = await initialize(client, headers, course["id"])
    assert again.status_code == 200, again.text
    assert again.json()["payment_session"]["razorpay_order_id"] == orders[0].id
    assert len(await sandbox_orders(db)) == 1


async def test_a_full_course_never_holds_more_live_enrollments_than_seats(
    client, db, admin_headers, make_user
):
    course = await create_course(client, admin_headers, capacity=3)
    learners = [await make_user(password=None) for _ in range(10)]

    responses = await asyncio.gather(
        *(initialize(client, headers, course["id"]) for _, headers in learners)
    )

    ok, refused = _split(list(responses))
    assert [r.status_code for r in ok] == [201] * 3, [r.text for r in responses]
    assert len(refused) == 7
    for response in refused:
        assert_error(response, 409, "course_full")
    live = await live_enrollments(db, course_id=course["id"])
    assert sorted(e.id for e in live) == sorted(r.json()["enrollment_id"] for r in ok)
    assert len(await sandbox_orders(db)) == 3  # no order for a refused learner


async def test_a_coupon_is_never_redeemed_beyond_its_limit(client, db, admin_headers, make_user):
    course = await create_course(client, admin_headers, price=1000)
    coupon = await create_coupon(client, admin_headers, code="TWICE", max_redemptions=2)
    learners = [await make_user(password=None) for _ in range(8)]

    responses = await asyncio.gather(
        *(initialize(client, headers, course["id"], coupon_code="twice") for _, headers in learners)
    )

    ok, refused = _split(list(responses))
    assert [r.status_code for r in ok] == [201] * 2, [r.text for r in responses]
    assert {r.json()["coupon_code"] for r in ok} == {"TWICE"}
    assert len(refused) == 6
    for response in refused:
        assert_error(response, 409, "coupon_exhausted")
    holding = [e for e in await live_enrollments(db) if e.coupon_id == coupon["id"]]
    assert len(holding) == 2


async def test_a_per_user_limit_holds_across_parallel_checkouts(
    client, db, admin_headers, make_user
):
    """One learner, the same coupon on four courses at once: per_user_limit=1 lets one in."""
    coupon = await create_coupon(client, admin_headers, code="ONCEEACH", per_user_limit=1)
    courses = [await create_course(client, admin_headers, title=f"C{i}") for i in range(4)]
    user, headers = await make_user(password=None)
    other, other_headers = await make_user(password=None)

    responses = await asyncio.gather(
        *(initialize(client, headers, c["id"], coupon_code="ONCEEACH") for c in courses)
    )

    ok, refused = _split(list(responses))
    assert [r.status_code for r in ok] == [201], [r.text for r in responses]
    for response in refused:
        assert_error(response, 409, "coupon_exhausted")
    holding = [e for e in await live_enrollments(db, user_id=user.id) if e.coupon_id]
    assert len(holding) == 1 and holding[0].coupon_id == coupon["id"]
    # The limit is per learner: someone else may still use it.
    theirs = await initialize(client, other_headers, courses[0]["id"], coupon_code="ONCEEACH")
    assert theirs.status_code == 201, theirs.text
    assert other.id != user.id


async def test_parallel_verifies_and_webhooks_enroll_exactly_once(
    client, db, settings, admin_headers, make_user
):
    """The browser reports the payment five times while the sandbox's webhooks (each
    delivered three times) are processed by two workers at once."""
    _, headers = await make_user(password=None)
    course = await create_course(client, admin_headers)
    started = (await initialize(client, headers, course["id"])).json()
    enrollment_id = started["enrollment_id"]
    await set_webhooks(client, duplicate=2)
    paid = await pay(client, started["payment_session"]["razorpay_order_id"], webhooks=True)

    results: list[Any] = await asyncio.gather(
        *(verify(client, headers, enrollment_id, paid) for _ in range(5)),
        drain_jobs(db, settings),
        drain_jobs(db, settings),
    )
    await drain_jobs(db, settings)

    for response in results[:5]:
        assert response.status_code == 200, response.text
        body = response.json()
        assert (body["enrollment_status"], body["payment_status"]) == ("enrolled", "completed")
        assert body["razorpay_payment_id"] == paid["razorpay_payment_id"]
    state = await snapshot(db, enrollment_id)
    assert state.enrollment_status == "enrolled"
    assert [status for _, status, _ in state.payments] == ["captured"]
    assert state.attempts == ((paid["razorpay_payment_id"], "captured"),)
    assert await auto_refund_jobs(db) == []
    assert len(await live_enrollments(db, course_id=course["id"])) == 1
    assert len(await sandbox_orders(db)) == 1


async def test_a_cancel_racing_the_payment_ends_in_access_or_a_refund_never_both(
    app, client, db, settings, admin_headers, make_user
):
    """Cancel and verify at the same moment, a few times over: each enrollment ends either
    enrolled with the money kept, or cancelled with the money refunded — never both, never
    neither."""
    course = await create_course(client, admin_headers)
    endings = []
    for _ in range(4):
        _, headers = await make_user(password=None)
        started = (await initialize(client, headers, course["id"])).json()
        enrollment_id = started["enrollment_id"]
        paid = await pay(client, started["payment_session"]["razorpay_order_id"])

        verified, cancelled = await asyncio.gather(
            verify(client, headers, enrollment_id, paid),
            client.post(f"/api/v1/enrollments/{enrollment_id}/cancel", headers=headers),
        )
        await drain_jobs(db, settings)

        assert verified.status_code == 200, verified.text
        state = await snapshot(db, enrollment_id)
        refunds = await app.state.gateway.payment_refunds(paid["razorpay_payment_id"])
        if cancelled.status_code == 200:
            assert state.enrollment_status == "cancelled"
            assert verified.json()["enrollment_status"] == "cancelled"
            assert state.refund_jobs == 1 and len(refunds) == 1
        else:
            assert_error(cancelled, 409, "invalid_state")
            assert state.enrollment_status == "enrolled"
            assert state.refund_jobs == 0 and refunds == []
        endings.append(state.enrollment_status)
    assert set(endings) <= {"enrolled", "cancelled"}


async def test_parallel_retries_open_one_new_order(client, db, settings, admin_headers, make_user):
    _, headers = await make_user(password=None)
    course = await create_course(client, admin_headers)
    started = (await initialize(client, headers, course["id"])).json()
    enrollment_id = started["enrollment_id"]
    await pay(
        client, started["payment_session"]["razorpay_order_id"], outcome="failure", webhooks=True
    )
    await drain_jobs(db, settings)

    responses = await asyncio.gather(
        *(
            client.post(f"/api/v1/enrollments/{enrollment_id}/retry-payment", headers=headers)
            for _ in range(8)
        )
    )

    ok, refused = _split(list(responses))
    assert ok, [r.text for r in responses]
    assert {r.json()["enrollment_id"] for r in ok} == {enrollment_id}
    (new_order,) = {r.json()["payment_session"]["razorpay_order_id"] for r in ok}
    for response in refused:
        assert response.status_code == 409, response.text
        assert response.json()["error"]["code"] in ("request_in_progress", "invalid_state")
    orders = await sandbox_orders(db)
    assert len(orders) == 2 and orders[-1].id == new_order
    assert len(await live_enrollments(db)) == 1
