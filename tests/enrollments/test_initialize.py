"""POST /enrollments/initialize (SPEC §4.2): the check order, the live-enrollment rules, the
free path, the payment session, redirect checks and metadata, on both databases."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from enrollpay.enrollments.models import Enrollment
from enrollpay.payments.models import Payment
from tests.conftest import assert_error
from tests.courses.factories import create_coupon, create_course
from tests.enrollments.helpers import initialize


async def test_paid_course_opens_a_pending_enrollment_with_a_payment_session(
    app, client, db, admin_headers, make_user
):
    user, headers = await make_user()
    course = await create_course(client, admin_headers, title="Full Stack", price=4999)
    response = await initialize(client, headers, course["id"], metadata={"source": "mobile_app"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "pending" and body["payment_required"] is True
    assert body["original_amount"] == 4999 and body["final_amount"] == 4999
    assert body["tax_amount"] == 899.82 and body["total_payable"] == 5898.82
    session = body["payment_session"]
    assert session["amount"] == 589882 and session["currency"] == "INR"
    assert session["razorpay_key_id"] == app.state.sandbox_config.key_id
    assert session["prefill"] == {"name": user.full_name, "email": user.email, "contact": None}
    assert 1700 < session["timeout"] <= 1800
    assert session["payment_url"].startswith(
        f"http://127.0.0.1:8000/pay/{body['enrollment_id']}?t="
    )

    order = await app.state.gateway.fetch_order(session["razorpay_order_id"])
    assert order.amount == 589882
    assert order.notes == {
        "source": "mobile_app",
        "enrollment_id": body["enrollment_id"],
        "course_id": course["id"],
        "user_id": user.id,
    }
    async with db.transaction() as s:
        payment = (await s.execute(select(Payment))).scalar_one()
        assert order.receipt == payment.id and payment.razorpay_order_id == order.id


async def test_the_same_checkout_again_returns_the_same_session(client, admin_headers, make_user):
    _, headers = await make_user()
    course = await create_course(client, admin_headers)
    first = (await initialize(client, headers, course["id"])).json()
    again = await initialize(client, headers, course["id"])
    assert again.status_code == 200
    assert again.json()["enrollment_id"] == first["enrollment_id"]
    assert (
        again.json()["payment_session"]["razorpay_order_id"]
        == (first["payment_session"]["razorpay_order_id"])
    )


async def test_another_coupon_supersedes_the_attempt(client, db, admin_headers, make_user):
    _, headers = await make_user()
    course = await create_course(client, admin_headers, price=1000)
    await create_coupon(client, admin_headers, code="HALF", discount_value=50)
    first = (await initialize(client, headers, course["id"])).json()
    second = await initialize(client, headers, course["id"], coupon_code="half")
    assert second.status_code == 200, second.text
    body = second.json()
    assert body["enrollment_id"] == first["enrollment_id"]
    assert body["coupon_code"] == "HALF" and body["total_payable"] == 590
    assert (
        body["payment_session"]["razorpay_order_id"]
        != first["payment_session"]["razorpay_order_id"]
    )
    async with db.transaction() as s:
        payments = (await s.execute(select(Payment).order_by(Payment.id))).scalars().all()
        assert [p.superseded_at is not None for p in payments] == [True, False]


async def test_free_total_enrolls_at_once_without_the_gateway(client, db, admin_headers, make_user):
    _, headers = await make_user()
    course = await create_course(client, admin_headers, price=0)
    response = await initialize(client, headers, course["id"])
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["status"] == "enrolled" and body["payment_required"] is False
    assert body["payment_session"] is None
    assert body["course_access_url"] == f"/api/v1/courses/{course['id']}/access"
    async with db.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(Payment)) == 0
    again = await initialize(client, headers, course["id"])
    assert_error(again, 409, "already_enrolled")


async def test_checks_come_in_the_documented_order(client, admin_headers, make_user):
    _, headers = await make_user()
    missing = await initialize(client, headers, "crs_nope")
    assert_error(missing, 404, "not_found")
    archived = await create_course(client, admin_headers, status="archived")
    assert_error(await initialize(client, headers, archived["id"]), 400, "course_not_available")
    closed = await create_course(client, admin_headers, enrollment_deadline="2020-01-01T00:00:00Z")
    assert_error(await initialize(client, headers, closed["id"]), 400, "enrollment_closed")
    first = await create_course(client, admin_headers)
    needs = await create_course(client, admin_headers, prerequisites=[first["id"]])
    error = assert_error(
        await initialize(client, headers, needs["id"]), 400, "prerequisites_missing"
    )
    assert error["details"]["missing"] == [first["id"]]
    coupon_course = await create_course(client, admin_headers)
    assert_error(
        await initialize(client, headers, coupon_course["id"], coupon_code="NOPE"),
        400,
        "invalid_coupon",
    )


async def test_redirect_urls_must_be_on_allowed_hosts(client, admin_headers, make_user):
    _, headers = await make_user()
    course = await create_course(client, admin_headers)
    bad = await initialize(client, headers, course["id"], success_url="https://evil.example/steal")
    error = assert_error(bad, 422, "invalid_redirect_url")
    assert error["details"]["fields"][0]["field"] == "success_url"
    js = await initialize(client, headers, course["id"], cancel_url="javascript:alert(1)")
    assert_error(js, 422, "invalid_redirect_url")
    ok = await initialize(client, headers, course["id"], success_url="http://127.0.0.1:8000/done")
    assert ok.status_code == 201, ok.text


@pytest.mark.parametrize(
    "body",
    [
        {"payment_method_preference": "stripe"},
        {"metadata": {f"k{i}": "v" for i in range(13)}},
        {"metadata": {"note": "x" * 257}},
        {"metadata": {"user_id": "usr_forged"}},
        {"metadata": {"n": 5}},
        {"amount": 1},
        {"status": "enrolled"},
    ],
)
async def test_bad_bodies_are_refused_and_change_nothing(
    client, db, admin_headers, make_user, body
):
    _, headers = await make_user()
    course = await create_course(client, admin_headers)
    assert_error(await initialize(client, headers, course["id"], **body), 422, "validation_error")
    async with db.transaction() as s:
        assert await s.scalar(select(func.count()).select_from(Enrollment)) == 0
