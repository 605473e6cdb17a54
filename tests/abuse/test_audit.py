"""The payment-attempt audit log: one row per initialize, verify and retry, with its outcome."""

from __future__ import annotations

from typing import Any

from tests.abuse.helpers import API
from tests.conftest import assert_error
from tests.courses.factories import create_course
from tests.enrollments.helpers import initialize, pay, verify

LOG = f"{API}/admin/payment-attempts"


async def _log(client, admin_headers, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(LOG, params=params, headers=admin_headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_every_checkout_call_is_logged_with_its_outcome(
    client, admin_headers, make_user
) -> None:
    course = await create_course(client, admin_headers, price=4999)
    learner, headers = await make_user()
    agent = {"User-Agent": "Mozilla/5.0 " + "x" * 500}
    started = await initialize(client, headers, course["id"], extra_headers=agent)
    assert started.status_code == 201, started.text
    enrollment_id = started.json()["enrollment_id"]
    bad = {
        "razorpay_payment_id": "pay_x",
        "razorpay_order_id": "order_x",
        "razorpay_signature": "0",
    }
    refused = await client.post(
        f"{API}/enrollments/{enrollment_id}/verify-payment", json=bad, headers=headers
    )
    assert_error(refused, 400, "invalid_signature")
    retried = await client.post(f"{API}/enrollments/{enrollment_id}/retry-payment", headers=headers)
    assert_error(retried, 409, "invalid_state")
    paid = await pay(client, started.json()["payment_session"]["razorpay_order_id"])
    assert (await verify(client, headers, enrollment_id, paid)).status_code == 200
    assert_error(await initialize(client, headers, "crs_unknown"), 404, "not_found")

    rows = await _log(client, admin_headers, user_id=learner.id)
    assert [(r["action"], r["outcome"]) for r in rows] == [  # newest first
        ("initialize", "not_found"),
        ("verify", "success"),
        ("retry", "invalid_state"),
        ("verify", "invalid_signature"),
        ("initialize", "success"),
    ]
    first = rows[-1]
    assert first["enrollment_id"] == enrollment_id
    assert first["amount"] == 589882 and first["currency"] == "INR"  # 4999 + 18% GST, paise
    assert first["client_ip"] == "127.0.0.1"
    assert first["user_agent"] == agent["User-Agent"][:300]
    assert rows[0]["enrollment_id"] is None and rows[0]["amount"] is None
    assert all(r["user_id"] == learner.id for r in rows)
    # Nothing that looks like card data or secrets.
    assert all(set(r) == set(first) for r in rows)
    assert not {"card", "signature", "razorpay_signature"} & set(first)

    by_enrollment = await _log(client, admin_headers, enrollment_id=enrollment_id)
    assert len(by_enrollment) == 4
    _, other_headers = await make_user()
    assert await _log(client, admin_headers, user_id="usr_nobody") == []
    assert_error(await client.get(LOG, headers=other_headers), 403, "forbidden")

    page = (await client.get(LOG, params={"limit": 2}, headers=admin_headers)).json()
    assert len(page["items"]) == 2 and page["next_cursor"] == page["items"][1]["id"]
    rest = await _log(client, admin_headers, cursor=page["next_cursor"])
    assert [r["id"] for r in rest] == [r["id"] for r in rows[2:]]


async def test_a_throttled_call_is_logged_too(client, admin_headers, make_user) -> None:
    course = await create_course(client, admin_headers)
    learner, headers = await make_user()
    started = (await initialize(client, headers, course["id"])).json()
    url = f"{API}/enrollments/{started['enrollment_id']}/retry-payment"
    for _ in range(21):
        await client.post(url, headers=headers)
    rows = await _log(client, admin_headers, user_id=learner.id)
    assert rows[0]["outcome"] == "too_many_requests"
    assert sum(r["outcome"] == "invalid_state" for r in rows) == 20
