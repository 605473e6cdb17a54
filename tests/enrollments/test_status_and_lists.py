"""The learner's read side (SPEC §4.1): payment-status in the PRD shape for every state, the
enrollment list (filter, cursor pagination newest first) and detail, and the ownership rules:
another learner's or a malformed id is 404, no token is 401."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from enrollpay.enrollments.models import Enrollment
from enrollpay.kit.clock import utcnow
from tests.conftest import assert_error
from tests.courses.factories import create_course
from tests.enrollments.helpers import (
    API,
    drain_jobs,
    initialize,
    pay,
    payment_status,
    snapshot,
    verify,
)

PRD_FIELDS = {
    "enrollment_id",
    "enrollment_status",
    "payment_status",
    "payment_id",
    "razorpay_payment_id",
    "completed_at",
    "course_access_url",
    "failure_reason",
    "retry_allowed",
    "payment_url",
}


async def start(client, headers, course_id: str) -> dict[str, Any]:
    response = await initialize(client, headers, course_id)
    assert response.status_code == 201, response.text
    started: dict[str, Any] = response.json()
    return started


def order_of(started: dict[str, Any]) -> str:
    order_id: str = started["payment_session"]["razorpay_order_id"]
    return order_id


# ---- payment-status -----------------------------------------------------------------------------


async def test_payment_status_of_a_pending_enrollment(client, admin_headers, make_user):
    _, headers = await make_user(password=None)
    course = await create_course(client, admin_headers, price=4999)
    started = await start(client, headers, course["id"])

    status = await payment_status(client, headers, started["enrollment_id"])

    assert PRD_FIELDS <= set(status)
    assert status["enrollment_id"] == started["enrollment_id"]
    assert (status["enrollment_status"], status["payment_status"]) == ("pending", "pending")
    assert status["payment_id"].startswith("pmt_")
    assert status["razorpay_order_id"] == order_of(started)
    assert status["razorpay_payment_id"] is None and status["completed_at"] is None
    assert status["course_access_url"] is None and status["failure_reason"] is None
    assert status["retry_allowed"] is False
    assert status["payment_url"] == started["payment_session"]["payment_url"]
    assert (status["amount"], status["currency"]) == (5898.82, "INR")
    assert status["expires_at"] is not None


async def test_payment_status_when_the_hold_ran_out(client, db, admin_headers, make_user):
    _, headers = await make_user(password=None)
    course = await create_course(client, admin_headers)
    started = await start(client, headers, course["id"])
    async with db.transaction() as session:
        enrollment = await session.get(Enrollment, started["enrollment_id"])
        assert enrollment is not None
        enrollment.expires_at = utcnow() - timedelta(seconds=1)

    status = await payment_status(client, headers, started["enrollment_id"])
    assert status["enrollment_status"] == "pending"
    assert status["retry_allowed"] is True and status["payment_url"] is None

    retried = await client.post(
        f"{API}/enrollments/{started['enrollment_id']}/retry-payment", headers=headers
    )
    assert retried.status_code == 200, retried.text
    assert order_of(retried.json()) != order_of(started)
    status = await payment_status(client, headers, started["enrollment_id"])
    assert status["retry_allowed"] is False and status["payment_url"] is not None


async def test_payment_status_of_a_failed_enrollment(
    client, db, settings, admin_headers, make_user
):
    _, headers = await make_user(password=None)
    course = await create_course(client, admin_headers)
    started = await start(client, headers, course["id"])
    failed = await pay(client, order_of(started), outcome="failure", method="card", webhooks=True)
    await drain_jobs(db, settings)

    status = await payment_status(client, headers, started["enrollment_id"])

    assert PRD_FIELDS <= set(status)
    assert (status["enrollment_status"], status["payment_status"]) == ("failed", "failed")
    assert status["razorpay_payment_id"] == failed["razorpay_payment_id"]
    assert isinstance(status["failure_reason"], str) and status["failure_reason"]
    assert status["retry_allowed"] is True
    assert status["completed_at"] is None and status["course_access_url"] is None


async def test_payment_status_of_an_enrolled_learner(client, admin_headers, make_user):
    _, headers = await make_user(password=None)
    course = await create_course(client, admin_headers)
    started = await start(client, headers, course["id"])
    paid = await pay(client, order_of(started))
    assert (await verify(client, headers, started["enrollment_id"], paid)).status_code == 200

    status = await payment_status(client, headers, started["enrollment_id"])

    assert PRD_FIELDS <= set(status)
    assert (status["enrollment_status"], status["payment_status"]) == ("enrolled", "completed")
    assert status["payment_id"].startswith("pmt_")
    assert status["razorpay_payment_id"] == paid["razorpay_payment_id"]
    assert status["completed_at"] is not None
    assert status["course_access_url"] == f"{API}/courses/{course['id']}/access"
    assert status["failure_reason"] is None and status["retry_allowed"] is False
    assert status["payment_url"] is None and status["expires_at"] is None


async def test_payment_status_of_a_free_enrollment(client, admin_headers, make_user):
    _, headers = await make_user(password=None)
    course = await create_course(client, admin_headers, price=0)
    started = await start(client, headers, course["id"])
    assert started["status"] == "enrolled"

    status = await payment_status(client, headers, started["enrollment_id"])

    assert PRD_FIELDS <= set(status)
    assert (status["enrollment_status"], status["payment_status"]) == ("enrolled", "not_required")
    assert status["payment_id"] is None and status["razorpay_payment_id"] is None
    assert status["razorpay_order_id"] is None and status["amount"] == 0
    assert status["completed_at"] is not None
    assert status["course_access_url"] == f"{API}/courses/{course['id']}/access"
    assert status["retry_allowed"] is False and status["payment_url"] is None


async def test_retry_is_refused_while_the_payment_session_is_open(client, admin_headers, make_user):
    _, headers = await make_user(password=None)
    course = await create_course(client, admin_headers)
    started = await start(client, headers, course["id"])
    retried = await client.post(
        f"{API}/enrollments/{started['enrollment_id']}/retry-payment", headers=headers
    )
    assert_error(retried, 409, "invalid_state")


# ---- lists and detail ---------------------------------------------------------------------------


@pytest.fixture
async def four_enrollments(client, db, settings, admin_headers, make_user) -> dict[str, Any]:
    """One learner: a free enrolled, a failed, a cancelled and a pending enrollment (in this
    order of creation), and another learner with one of their own."""
    user, headers = await make_user(password=None)
    _, other_headers = await make_user(password=None)
    courses = [await create_course(client, admin_headers, title=f"C{i}") for i in range(4)]
    free = await create_course(client, admin_headers, title="Free", price=0)
    ids: dict[str, str] = {}
    ids["enrolled"] = (await start(client, headers, free["id"]))["enrollment_id"]
    failed = await start(client, headers, courses[0]["id"])
    ids["failed"] = failed["enrollment_id"]
    await pay(client, order_of(failed), outcome="failure", webhooks=True)
    await drain_jobs(db, settings)
    ids["cancelled"] = (await start(client, headers, courses[1]["id"]))["enrollment_id"]
    cancel = await client.post(f"{API}/enrollments/{ids['cancelled']}/cancel", headers=headers)
    assert cancel.status_code == 200, cancel.text
    ids["pending"] = (await start(client, headers, courses[2]["id"]))["enrollment_id"]
    theirs = (await start(client, other_headers, courses[3]["id"]))["enrollment_id"]
    return {
        "user": user,
        "headers": headers,
        "other_headers": other_headers,
        "ids": ids,
        "theirs": theirs,
    }


async def test_the_list_is_newest_first_with_filters_and_cursor_pagination(
    client, four_enrollments
):
    headers, ids = four_enrollments["headers"], four_enrollments["ids"]
    newest_first = [ids["pending"], ids["cancelled"], ids["failed"], ids["enrolled"]]

    async def listed(**params: Any) -> dict[str, Any]:
        response = await client.get(f"{API}/enrollments", params=params, headers=headers)
        assert response.status_code == 200, response.text
        page: dict[str, Any] = response.json()
        return page

    whole = await listed()
    assert [e["id"] for e in whole["items"]] == newest_first
    assert [e["status"] for e in whole["items"]] == ["pending", "cancelled", "failed", "enrolled"]
    assert whole["next_cursor"] is None

    seen: list[str] = []
    cursor = None
    pages = 0
    while True:
        page = await listed(limit=3, **({"cursor": cursor} if cursor else {}))
        pages += 1
        seen += [e["id"] for e in page["items"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 2 and seen == newest_first
    assert [e["id"] for e in (await listed(limit=1, cursor=ids["failed"]))["items"]] == [
        ids["enrolled"]
    ]

    for status in ("pending", "failed", "enrolled", "cancelled", "expired", "refunded"):
        page = await listed(status=status)
        assert [e["id"] for e in page["items"]] == ([ids[status]] if status in ids else [])

    for params in (
        {"status": "bogus"},
        {"cursor": "nope"},
        {"cursor": "crs_01m8bkw7bj4rpbz3r9tdhsky0r"},
        {"limit": 0},
    ):
        response = await client.get(f"{API}/enrollments", params=params, headers=headers)
        assert_error(response, 422, "validation_error")

    other = await client.get(f"{API}/enrollments", headers=four_enrollments["other_headers"])
    assert [e["id"] for e in other.json()["items"]] == [four_enrollments["theirs"]]


async def test_the_detail_shows_payments_with_their_attempts(client, four_enrollments):
    headers, ids = four_enrollments["headers"], four_enrollments["ids"]
    response = await client.get(f"{API}/enrollments/{ids['failed']}", headers=headers)
    assert response.status_code == 200, response.text
    detail = response.json()
    assert detail["id"] == ids["failed"] and detail["status"] == "failed"
    assert detail["failure_reason"] and detail["course_title"] == "C0"
    (payment,) = detail["payments"]
    assert payment["id"].startswith("pmt_") and payment["current"] is True
    assert payment["status"] == "failed" and payment["amount"] == detail["total_payable"]
    (attempt,) = payment["attempts"]
    assert attempt["razorpay_payment_id"].startswith("pay_")
    assert attempt["status"] == "failed" and attempt["error_code"]

    free = (await client.get(f"{API}/enrollments/{ids['enrolled']}", headers=headers)).json()
    assert free["payments"] == [] and free["course_access_url"] is not None


# ---- ownership and authentication ---------------------------------------------------------------

VERIFY_BODY = {
    "razorpay_payment_id": "pay_AAAAAAAAAAAAAA",
    "razorpay_order_id": "order_AAAAAAAAAAAAAA",
    "razorpay_signature": "0" * 64,
}


def enrollment_calls(enrollment_id: str) -> list[tuple[str, str, dict[str, Any] | None]]:
    return [
        ("GET", f"{API}/enrollments/{enrollment_id}/payment-status", None),
        ("GET", f"{API}/enrollments/{enrollment_id}", None),
        ("POST", f"{API}/enrollments/{enrollment_id}/verify-payment", VERIFY_BODY),
        ("POST", f"{API}/enrollments/{enrollment_id}/retry-payment", None),
        ("POST", f"{API}/enrollments/{enrollment_id}/cancel", {"reason": "not mine"}),
    ]


async def test_another_learners_enrollment_is_404_everywhere_and_unchanged(
    client, db, four_enrollments
):
    theirs = four_enrollments["theirs"]
    before = await snapshot(db, theirs)
    for method, url, body in enrollment_calls(theirs):
        response = await client.request(method, url, json=body, headers=four_enrollments["headers"])
        assert_error(response, 404, "not_found")
    assert await snapshot(db, theirs) == before


async def test_malformed_or_unknown_ids_are_404(client, make_user):
    _, headers = await make_user(password=None)
    for enrollment_id in (
        "enr_nope",
        "123",
        "enr_" + "z" * 26,  # well formed, unknown
        "crs_01m8bkw7bj4rpbz3r9tdhsky0r",
        "ENR_01M8BKW7K60G5TZJ5NFCRXT89C",
    ):
        for method, url, body in enrollment_calls(enrollment_id):
            response = await client.request(method, url, json=body, headers=headers)
            assert_error(response, 404, "not_found")


async def test_no_or_a_bad_token_is_401(client, four_enrollments):
    mine = four_enrollments["ids"]["pending"]
    calls = [
        *enrollment_calls(mine),
        ("GET", f"{API}/enrollments", None),
        ("POST", f"{API}/enrollments/initialize", {"course_id": "crs_x"}),
    ]
    for headers in ({}, {"Authorization": "Bearer not-a-token"}):
        for method, url, body in calls:
            response = await client.request(method, url, json=body, headers=headers)
            assert_error(response, 401, "unauthenticated")
