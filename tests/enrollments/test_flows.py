"""The paid enrollment flow end to end through the API and the built-in Razorpay sandbox, on
both databases: Checkout's verify call, webhooks alone, duplicated and reordered webhooks,
failure and retry, late capture, money that must be refunded, forged and foreign checkout
results, cancellation, and a gateway that is down or slow."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
import stamina

from enrollpay.enrollments import checkout
from tests.conftest import assert_error
from tests.courses.factories import create_coupon, create_course
from tests.enrollments.helpers import (
    API,
    add_fault,
    auto_refund_jobs,
    clear_faults,
    deliveries,
    drain_jobs,
    initialize,
    live_enrollments,
    pay,
    payment_events,
    payment_status,
    sandbox_control,
    sandbox_orders,
    set_webhooks,
    shorten_shuffle_window,
    snapshot,
    verify,
)
from tests.webhooks.conftest import inbox

ACCESS_URL = "https://learn.example.com/c/full-stack"
TOTAL = 589882  # 4999 + 18 % GST, paise


@pytest.fixture(autouse=True)
def _no_backoff_waits():
    # The gateway client retries twice without sleeping (as tests/payments do).
    with stamina.set_testing(True, attempts=2, cap=True):
        yield


@pytest.fixture
async def course(client, admin_headers) -> dict[str, Any]:
    return await create_course(client, admin_headers, price=4999, access_url=ACCESS_URL)


@pytest.fixture
async def learner(make_user) -> tuple[Any, dict[str, str]]:
    return await make_user(password=None)


async def start(client, headers, course_id: str, **body: Any) -> dict[str, Any]:
    response = await initialize(client, headers, course_id, **body)
    assert response.status_code in (200, 201), response.text
    started: dict[str, Any] = response.json()
    return started


def order_of(started: dict[str, Any]) -> str:
    order_id: str = started["payment_session"]["razorpay_order_id"]
    return order_id


def flip_last(signature: str) -> str:
    return signature[:-1] + ("0" if signature[-1] != "0" else "1")


async def refunds_of(app, razorpay_payment_id: str) -> list[int]:
    return [r.amount for r in await app.state.gateway.payment_refunds(razorpay_payment_id)]


# ---- the happy paths --------------------------------------------------------------------------


async def test_verify_path_enrolls_and_repeating_it_is_harmless(
    client, db, course, learner, settings
):
    _, headers = learner
    started = await start(client, headers, course["id"])
    enrollment_id = started["enrollment_id"]
    paid = await pay(client, order_of(started))

    response = await verify(client, headers, enrollment_id, paid)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["enrollment_id"] == enrollment_id
    assert (body["enrollment_status"], body["payment_status"]) == ("enrolled", "completed")
    assert body["razorpay_payment_id"] == paid["razorpay_payment_id"]
    assert body["razorpay_order_id"] == order_of(started)
    assert body["completed_at"] is not None and body["retry_allowed"] is False
    assert body["course_access_url"] == f"{API}/courses/{course['id']}/access"
    assert body["payment_url"] is None and body["failure_reason"] is None

    access = await client.get(body["course_access_url"], headers=headers)
    assert access.status_code == 200, access.text
    assert access.json()["has_access"] is True
    assert access.json()["enrollment_id"] == enrollment_id
    assert access.json()["next_lesson_url"] == ACCESS_URL

    before = await snapshot(db, enrollment_id)
    again = await verify(client, headers, enrollment_id, paid)
    assert again.status_code == 200, again.text
    assert again.json() == body
    after = await snapshot(db, enrollment_id)
    assert after.attempts == before.attempts == ((paid["razorpay_payment_id"], "captured"),)
    assert after.payments == before.payments
    assert after.events == before.events + 1  # recorded, as a duplicate
    assert (await payment_events(db, enrollment_id))[-1].outcome == "duplicate"
    assert after.refund_jobs == 0

    assert_error(await initialize(client, headers, course["id"]), 409, "already_enrolled")
    await drain_jobs(db, settings)
    assert await auto_refund_jobs(db) == []


async def test_webhooks_alone_enroll_when_the_browser_never_reports_back(
    client, db, settings, course, learner
):
    _, headers = learner
    started = await start(client, headers, course["id"])
    enrollment_id = started["enrollment_id"]
    paid = await pay(client, order_of(started), webhooks=True)
    assert (await payment_status(client, headers, enrollment_id))["enrollment_status"] == "pending"

    await drain_jobs(db, settings)

    sent = await deliveries(client)
    assert {d["event"] for d in sent} == {"payment.authorized", "payment.captured", "order.paid"}
    assert {d["last_status_code"] for d in sent} == {200}
    status = await payment_status(client, headers, enrollment_id)
    assert (status["enrollment_status"], status["payment_status"]) == ("enrolled", "completed")
    assert status["razorpay_payment_id"] == paid["razorpay_payment_id"]
    state = await snapshot(db, enrollment_id)
    assert state.attempts == ((paid["razorpay_payment_id"], "captured"),)
    assert state.refund_jobs == 0
    access = await client.get(f"{API}/courses/{course['id']}/access", headers=headers)
    assert access.json()["has_access"] is True


async def test_duplicated_and_reordered_webhooks_enroll_exactly_once(
    app, client, db, settings, course, learner
):
    _, headers = learner
    shorten_shuffle_window(app)
    await set_webhooks(client, duplicate=2, shuffle=True)
    started = await start(client, headers, course["id"])
    enrollment_id = started["enrollment_id"]
    paid = await pay(client, order_of(started), webhooks=True)

    await drain_jobs(db, settings)

    sent = await deliveries(client)
    assert len(sent) == 9 and {d["last_status_code"] for d in sent} == {200}
    rows = await inbox(db)
    assert len(rows) == 3 and {row.deliveries for row in rows} == {3}
    assert {row.status for row in rows} == {"processed"}

    state = await snapshot(db, enrollment_id)
    assert state.enrollment_status == "enrolled"
    assert [status for _, status, _ in state.payments] == ["captured"]
    assert state.attempts == ((paid["razorpay_payment_id"], "captured"),)
    assert state.refund_jobs == 0
    outcomes = Counter((e.status, e.outcome) for e in await payment_events(db, enrollment_id))
    assert outcomes[("captured", "applied")] == 1
    assert outcomes[("captured", "duplicate")] >= 1  # order.paid repeats the capture
    assert set(outcomes) <= {
        ("authorized", "applied"),
        ("authorized", "stale"),
        ("captured", "applied"),
        ("captured", "duplicate"),
    }
    async with db.sessionmaker() as session:
        enrollment = await session.get(checkout.Enrollment, enrollment_id)
        assert enrollment is not None
        assert enrollment.enrolled_by == paid["razorpay_payment_id"]


# ---- failures ---------------------------------------------------------------------------------


async def test_failure_then_retry_then_success_on_the_same_enrollment(
    client, db, settings, course, learner
):
    _, headers = learner
    started = await start(client, headers, course["id"])
    enrollment_id, first_order = started["enrollment_id"], order_of(started)
    failed = await pay(client, first_order, outcome="failure", method="card", webhooks=True)
    assert failed["razorpay_signature"] is None
    await drain_jobs(db, settings)

    status = await payment_status(client, headers, enrollment_id)
    assert (status["enrollment_status"], status["payment_status"]) == ("failed", "failed")
    assert status["failure_reason"] and status["retry_allowed"] is True
    assert status["razorpay_payment_id"] == failed["razorpay_payment_id"]
    assert status["course_access_url"] is None and status["completed_at"] is None
    course_view = await client.get(f"{API}/courses/{course['id']}", headers=headers)
    assert course_view.json()["course"]["enrollment_status"] == "failed"

    retried = await client.post(f"{API}/enrollments/{enrollment_id}/retry-payment", headers=headers)
    assert retried.status_code == 200, retried.text
    body = retried.json()
    assert body["enrollment_id"] == enrollment_id and body["status"] == "pending"
    second_order = order_of(body)
    assert second_order != first_order and body["payment_session"]["amount"] == TOTAL
    status = await payment_status(client, headers, enrollment_id)
    assert (status["enrollment_status"], status["payment_status"]) == ("pending", "pending")
    assert status["failure_reason"] is None and status["razorpay_order_id"] == second_order

    paid = await pay(client, second_order)
    response = await verify(client, headers, enrollment_id, paid)
    assert response.status_code == 200, response.text
    assert response.json()["enrollment_status"] == "enrolled"
    assert response.json()["payment_status"] == "completed"

    detail = (await client.get(f"{API}/enrollments/{enrollment_id}", headers=headers)).json()
    assert [(p["razorpay_order_id"], p["status"], p["current"]) for p in detail["payments"]] == [
        (first_order, "failed", False),
        (second_order, "captured", True),
    ]
    assert detail["payments"][0]["superseded_at"] is not None
    assert [a["status"] for a in detail["payments"][0]["attempts"]] == ["failed"]
    assert detail["payments"][0]["attempts"][0]["error_code"]
    assert len({o.receipt for o in await sandbox_orders(db)}) == 2
    await drain_jobs(db, settings)
    assert await auto_refund_jobs(db) == []


async def test_a_late_capture_after_a_failure_enrolls(client, db, settings, course, learner):
    _, headers = learner
    started = await start(client, headers, course["id"])
    enrollment_id = started["enrollment_id"]
    failed = await pay(client, order_of(started), outcome="failure", method="card", webhooks=True)
    await drain_jobs(db, settings)
    assert (await payment_status(client, headers, enrollment_id))["enrollment_status"] == "failed"

    await sandbox_control(
        client, "POST", f"/payments/{failed['razorpay_payment_id']}/capture-late", webhooks=True
    )
    await drain_jobs(db, settings)

    status = await payment_status(client, headers, enrollment_id)
    assert (status["enrollment_status"], status["payment_status"]) == ("enrolled", "completed")
    assert status["failure_reason"] is None and status["retry_allowed"] is False
    state = await snapshot(db, enrollment_id)
    assert state.attempts == ((failed["razorpay_payment_id"], "captured"),)
    assert state.refund_jobs == 0


async def test_a_capture_for_the_wrong_amount_never_enrolls_and_is_refunded(
    app, client, db, settings, course, learner
):
    _, headers = learner
    started = await start(client, headers, course["id"])
    enrollment_id = started["enrollment_id"]
    paid = await pay(client, order_of(started), amount=TOTAL - 100, webhooks=True)

    response = await verify(client, headers, enrollment_id, paid)
    assert response.status_code == 200, response.text
    assert response.json()["enrollment_status"] == "pending"
    assert response.json()["payment_status"] == "pending"
    await drain_jobs(db, settings)

    status = await payment_status(client, headers, enrollment_id)
    # The wrong capture went back: the payment says so; the enrollment is untouched.
    assert (status["enrollment_status"], status["payment_status"]) == ("pending", "refunded")
    assert status["course_access_url"] is None
    access = await client.get(f"{API}/courses/{course['id']}/access", headers=headers)
    assert access.json()["has_access"] is False
    (job,) = await auto_refund_jobs(db)
    assert job.payload["reason"] == "amount_mismatch" and job.status == "done"
    assert await refunds_of(app, paid["razorpay_payment_id"]) == [TOTAL - 100]


async def test_forged_or_foreign_checkout_results_change_nothing(
    client, db, course, learner, make_user
):
    _, headers = learner
    _, other_headers = await make_user(password=None)
    mine = await start(client, headers, course["id"])
    theirs = await start(client, other_headers, course["id"])
    enrollment_id = mine["enrollment_id"]
    paid = await pay(client, order_of(mine))
    their_paid = await pay(client, order_of(theirs))
    before = await snapshot(db, enrollment_id)
    their_before = await snapshot(db, theirs["enrollment_id"])

    bad_signatures = [
        {**paid, "razorpay_signature": "0" * 64},
        {**paid, "razorpay_signature": flip_last(paid["razorpay_signature"])},
        # A genuine signature, but of another payment.
        {**paid, "razorpay_signature": their_paid["razorpay_signature"]},
        # My order with their (genuinely signed for their order) payment id.
        {**paid, "razorpay_payment_id": their_paid["razorpay_payment_id"]},
    ]
    for forged in bad_signatures:
        assert_error(await verify(client, headers, enrollment_id, forged), 400, "invalid_signature")
    # Their order, their payment, their valid signature — sent against my enrollment.
    foreign = await verify(client, headers, enrollment_id, their_paid)
    assert foreign.status_code in (400, 404), foreign.text
    # My valid result sent to their enrollment id: not mine → 404.
    assert_error(await verify(client, headers, theirs["enrollment_id"], paid), 404, "not_found")

    assert await snapshot(db, enrollment_id) == before
    assert await snapshot(db, theirs["enrollment_id"]) == their_before
    assert before.attempts == () and before.events == 0


# ---- cancel -----------------------------------------------------------------------------------


async def test_cancel_frees_the_seat_and_a_later_capture_is_refunded(
    app, client, db, settings, admin_headers, learner, make_user
):
    _, headers = learner
    _, other_headers = await make_user(password=None)
    one_seat = await create_course(client, admin_headers, capacity=1, access_url=ACCESS_URL)
    started = await start(client, headers, one_seat["id"])
    enrollment_id = started["enrollment_id"]
    assert_error(await initialize(client, other_headers, one_seat["id"]), 409, "course_full")

    cancelled = await client.post(
        f"{API}/enrollments/{enrollment_id}/cancel",
        json={"reason": "changed my mind"},
        headers=headers,
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["cancelled_at"] is not None
    again = await client.post(f"{API}/enrollments/{enrollment_id}/cancel", headers=headers)
    assert_error(again, 409, "invalid_state")

    theirs = await initialize(client, other_headers, one_seat["id"])
    assert theirs.status_code == 201, theirs.text

    # The learner pays the cancelled checkout anyway (an old tab): the money goes back.
    paid = await pay(client, order_of(started), webhooks=True)
    late_verify = await verify(client, headers, enrollment_id, paid)
    assert late_verify.status_code == 200, late_verify.text
    assert late_verify.json()["enrollment_status"] == "cancelled"
    await drain_jobs(db, settings)

    status = await payment_status(client, headers, enrollment_id)
    assert status["enrollment_status"] == "cancelled" and status["course_access_url"] is None
    access = await client.get(f"{API}/courses/{one_seat['id']}/access", headers=headers)
    assert access.json()["has_access"] is False
    (job,) = await auto_refund_jobs(db)
    assert job.payload["reason"] == "enrollment_cancelled" and job.status == "done"
    assert await refunds_of(app, paid["razorpay_payment_id"]) == [TOTAL]
    live = await live_enrollments(db, course_id=one_seat["id"])
    assert [e.id for e in live] == [theirs.json()["enrollment_id"]]
    assert live[0].status == "pending"


async def test_only_pending_or_failed_enrollments_can_be_cancelled(client, db, course, learner):
    _, headers = learner
    started = await start(client, headers, course["id"])
    paid = await pay(client, order_of(started))
    await verify(client, headers, started["enrollment_id"], paid)
    enrolled = await client.post(
        f"{API}/enrollments/{started['enrollment_id']}/cancel", headers=headers
    )
    assert_error(enrolled, 409, "invalid_state")
    assert (await snapshot(db, started["enrollment_id"])).enrollment_status == "enrolled"


# ---- the gateway down or slow -----------------------------------------------------------------


@pytest.mark.parametrize("lost_response", [False, True], ids=["refused", "lost_response"])
async def test_gateway_down_answers_503_and_the_retry_makes_one_order(
    client, db, course, learner, lost_response
):
    """503 on every order call (with `after`, Razorpay applied the call and the answer was
    lost): initialize says 503; once the gateway is back, the same request resumes the same
    enrollment and payment, and there is exactly one order for that payment's receipt."""
    _, headers = learner
    await add_fault(client, path_prefix="/v1/orders", status=503, count=50, after=lost_response)

    down = await initialize(client, headers, course["id"])
    assert_error(down, 503, "payment_gateway_unavailable")
    (pending,) = await live_enrollments(db)
    state = await snapshot(db, pending.id)
    ((payment_id, _, order_id),) = state.payments
    assert order_id is None
    assert len(await sandbox_orders(db)) == (1 if lost_response else 0)
    # Still down: still 503, still no second order.
    assert_error(
        await initialize(client, headers, course["id"]), 503, "payment_gateway_unavailable"
    )

    await clear_faults(client)
    back = await initialize(client, headers, course["id"])
    assert back.status_code in (200, 201), back.text
    assert back.json()["enrollment_id"] == pending.id
    orders = await sandbox_orders(db, receipt=payment_id)
    assert len(orders) == 1 and order_of(back.json()) == orders[0].id
    assert len(await sandbox_orders(db)) == 1
    assert (await snapshot(db, pending.id)).payments == ((payment_id, "created", orders[0].id),)


async def test_a_slow_gateway_never_gets_two_orders(client, db, course, learner):
    _, headers = learner
    await add_fault(client, path_prefix="/v1/orders", method="POST", delay_ms=400, count=5)

    responses = await asyncio.gather(*(initialize(client, headers, course["id"]) for _ in range(6)))

    ok = [r for r in responses if r.is_success]
    assert ok and {r.json()["enrollment_id"] for r in ok} == {ok[0].json()["enrollment_id"]}
    for response in responses:
        if not response.is_success:
            assert_error(response, 409, "request_in_progress")
            assert response.headers["Retry-After"]
    assert len(await sandbox_orders(db)) == 1


async def test_a_gateway_slower_than_our_deadline_still_makes_one_order(
    client, db, course, learner, monkeypatch
):
    """Razorpay creates the order but answers after our deadline: 503 now, and the retry finds
    the order by its receipt instead of making a second one."""
    _, headers = learner
    monkeypatch.setattr(checkout, "GATEWAY_DEADLINE_SECONDS", 0.3)
    await add_fault(
        client, path_prefix="/v1/orders", method="POST", delay_ms=1500, after=True, count=1
    )

    slow = await initialize(client, headers, course["id"])
    assert_error(slow, 503, "payment_gateway_unavailable")
    (order,) = await sandbox_orders(db)  # it was created all the same

    # The retry is not slowed; a generous deadline keeps a loaded CI machine from failing it.
    monkeypatch.setattr(checkout, "GATEWAY_DEADLINE_SECONDS", 15.0)
    back = await initialize(client, headers, course["id"])
    assert back.status_code in (200, 201), back.text
    assert order_of(back.json()) == order.id
    assert len(await sandbox_orders(db)) == 1


async def test_cancel_while_the_order_is_being_created_keeps_the_order_known(
    app, client, db, settings, course, learner
):
    """The learner cancels while Razorpay is still creating the order: initialize answers 409,
    but the order id is stored all the same, so money paid on that order is recognised (and
    refunded) instead of being taken for another product's payment and kept."""
    _, headers = learner
    await add_fault(client, path_prefix="/v1/orders", method="POST", delay_ms=600, count=1)
    slow = asyncio.create_task(initialize(client, headers, course["id"]))
    for _ in range(200):  # until phase 1 has committed the pending enrollment
        if live := await live_enrollments(db):
            break
        await asyncio.sleep(0.01)
    (pending,) = live
    cancelled = await client.post(f"{API}/enrollments/{pending.id}/cancel", headers=headers)
    assert cancelled.status_code == 200, cancelled.text

    assert_error(await slow, 409, "invalid_state")
    (order,) = await sandbox_orders(db)
    state = await snapshot(db, pending.id)
    assert state.enrollment_status == "cancelled"
    assert [order_id for _, _, order_id in state.payments] == [order.id]

    paid = await pay(client, order.id, webhooks=True)
    await drain_jobs(db, settings)
    (job,) = await auto_refund_jobs(db)
    assert job.payload["reason"] == "enrollment_cancelled" and job.status == "done"
    assert await refunds_of(app, paid["razorpay_payment_id"]) == [TOTAL]


async def test_a_payment_whose_order_could_not_be_created_can_be_retried(
    client, db, course, learner
):
    """After a 503 the learner holds a pending enrollment without an order: the status says a
    retry is allowed (there is no payment page to go back to), and retry-payment resumes the
    same payment once the gateway is back."""
    _, headers = learner
    await add_fault(client, path_prefix="/v1/orders", status=503, count=50)
    assert_error(
        await initialize(client, headers, course["id"]), 503, "payment_gateway_unavailable"
    )
    (pending,) = await live_enrollments(db)

    status = await payment_status(client, headers, pending.id)
    assert (status["enrollment_status"], status["payment_status"]) == ("pending", "pending")
    assert status["payment_url"] is None and status["razorpay_order_id"] is None
    assert status["retry_allowed"] is True

    await clear_faults(client)
    retried = await client.post(f"{API}/enrollments/{pending.id}/retry-payment", headers=headers)
    assert retried.status_code == 200, retried.text
    assert retried.json()["enrollment_id"] == pending.id
    (order,) = await sandbox_orders(db)
    assert order_of(retried.json()) == order.id
    assert order.receipt == status["payment_id"]  # the same payment, resumed
    status = await payment_status(client, headers, pending.id)
    assert status["retry_allowed"] is False and status["payment_url"] is not None


async def test_an_older_order_paid_after_enrollment_is_refunded(
    app, client, db, settings, course, learner
):
    """Two tabs: the first order failed and was retried; the retry's order enrolls; then the
    old tab pays the first order after all. That second capture goes back automatically."""
    _, headers = learner
    started = await start(client, headers, course["id"])
    enrollment_id, first_order = started["enrollment_id"], order_of(started)
    await pay(client, first_order, outcome="failure", webhooks=True)
    await drain_jobs(db, settings)
    retried = await client.post(f"{API}/enrollments/{enrollment_id}/retry-payment", headers=headers)
    assert retried.status_code == 200, retried.text
    paid = await pay(client, order_of(retried.json()), webhooks=True)
    await drain_jobs(db, settings)
    assert (await payment_status(client, headers, enrollment_id))["enrollment_status"] == "enrolled"

    old_tab = await pay(client, first_order, webhooks=True)
    late = await verify(client, headers, enrollment_id, old_tab)
    assert late.status_code == 200, late.text
    assert late.json()["razorpay_payment_id"] == paid["razorpay_payment_id"]  # still the first
    await drain_jobs(db, settings)

    (job,) = await auto_refund_jobs(db)
    assert job.payload["reason"] == "already_enrolled" and job.status == "done"
    assert await refunds_of(app, old_tab["razorpay_payment_id"]) == [TOTAL]
    assert await refunds_of(app, paid["razorpay_payment_id"]) == []
    status = await payment_status(client, headers, enrollment_id)
    assert status["enrollment_status"] == "enrolled"
    assert status["razorpay_payment_id"] == paid["razorpay_payment_id"]


async def test_a_superseded_coupon_order_paid_late_never_exceeds_the_coupon_limit(
    app, client, db, settings, admin_headers, make_user
):
    course = await create_course(client, admin_headers, price=1000)
    coupon = await create_coupon(client, admin_headers, code="ONLYONE", max_redemptions=1)
    _, headers = await make_user(password=None)
    _, other_headers = await make_user(password=None)
    with_coupon = await start(client, headers, course["id"], coupon_code="ONLYONE")
    without = await initialize(client, headers, course["id"])  # supersedes, releases the hold
    assert without.status_code == 200, without.text
    theirs = await start(client, other_headers, course["id"], coupon_code="ONLYONE")
    await verify(
        client, other_headers, theirs["enrollment_id"], await pay(client, order_of(theirs))
    )

    old_tab = await pay(client, order_of(with_coupon))  # the cheaper, superseded order
    await verify(client, headers, with_coupon["enrollment_id"], old_tab)
    await drain_jobs(db, settings)

    refunded = await refunds_of(app, old_tab["razorpay_payment_id"])
    discounted = [e for e in await live_enrollments(db, status="enrolled") if e.coupon_discount > 0]
    redeemed = len(discounted) + (0 if refunded else 1)
    assert redeemed <= 1, f"coupon {coupon['code']} redeemed {redeemed} times"
