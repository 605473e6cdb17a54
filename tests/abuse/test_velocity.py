"""Velocity rules: each trip answers 429 and leaves one risk flag for admins to review."""

from __future__ import annotations

from typing import Any

import pytest
from limits import parse
from sqlalchemy import select

from enrollpay.abuse import service as abuse
from enrollpay.abuse.models import RiskFlag
from tests.abuse.helpers import API, assert_throttled, signup_body
from tests.conftest import assert_error
from tests.courses.factories import create_course
from tests.enrollments.helpers import initialize, pay, payment_status, run_jobs

FLAGS = f"{API}/admin/risk-flags"


async def _flags(client, admin_headers, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(FLAGS, params=params, headers=admin_headers)
    assert response.status_code == 200, response.text
    items: list[dict[str, Any]] = response.json()["items"]
    return items


async def test_failed_payments_pause_the_learner_and_flag_them(
    client, db, settings, admin_headers, make_user
) -> None:
    course = await create_course(client, admin_headers)
    learner, headers = await make_user()
    enrollment_id = None
    for _ in range(abuse.FAILED_PAYMENTS_PER_LEARNER_PER_DAY):
        started = await initialize(client, headers, course["id"])
        assert started.status_code in (200, 201), started.text
        body = started.json()
        enrollment_id = body["enrollment_id"]
        order_id = body["payment_session"]["razorpay_order_id"]
        # A declined payment reaches us by webhook (Checkout gives no signature for it).
        await pay(client, order_id, outcome="failure", method="card", webhooks=True)
        await run_jobs(db, settings)
        status = await payment_status(client, headers, enrollment_id)
        assert status["enrollment_status"] == "failed", status

    error = assert_throttled(await initialize(client, headers, course["id"]))
    assert "failed" in error["message"] and "tomorrow" in error["message"]
    assert int(error["details"]["retry_after_seconds"]) <= 24 * 3600
    retried = await client.post(f"{API}/enrollments/{enrollment_id}/retry-payment", headers=headers)
    assert_throttled(retried)
    # Another learner is not affected.
    _, other = await make_user()
    assert (await initialize(client, other, course["id"])).status_code == 201

    # One open flag, however often the rule refused.
    [flag] = await _flags(client, admin_headers, reviewed="false")
    assert flag["kind"] == "failed_payments" and flag["subject"] == learner.id
    assert flag["details"]["failed_today"] == abuse.FAILED_PAYMENTS_PER_LEARNER_PER_DAY
    assert flag["reviewed_at"] is None and flag["reviewed_by"] is None

    # Learners cannot see or review flags.
    assert_error(await client.get(FLAGS, headers=headers), 403, "forbidden")
    review_url = f"{FLAGS}/{flag['id']}/review"
    assert_error(await client.post(review_url, headers=headers), 403, "forbidden")
    assert_error(await client.get(FLAGS), 401, "unauthenticated")

    reviewed = await client.post(review_url, headers=admin_headers)
    assert reviewed.status_code == 200, reviewed.text
    assert reviewed.json()["reviewed_at"] is not None
    assert reviewed.json()["reviewed_by"] is not None
    again = await client.post(review_url, headers=admin_headers)
    assert again.json()["reviewed_at"] == reviewed.json()["reviewed_at"]
    assert await _flags(client, admin_headers, reviewed="false") == []
    assert [f["id"] for f in await _flags(client, admin_headers, reviewed="true")] == [flag["id"]]
    missing = await client.post(f"{FLAGS}/rsk_nope/review", headers=admin_headers)
    assert_error(missing, 404, "not_found")


async def test_new_accounts_per_address_trip_and_flag_without_the_address(
    client, db, admin_headers, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Below the sign-up rate limit (10/hour), so this rule is what refuses.
    monkeypatch.setattr(abuse, "NEW_ACCOUNTS_PER_IP", parse("5/day"))
    for i in range(5):
        created = await client.post(f"{API}/auth/signup", json=signup_body(f"a{i}@example.com"))
        assert created.status_code == 201, created.text
    refused = await client.post(f"{API}/auth/signup", json=signup_body("a5@example.com"))
    error = assert_throttled(refused)
    assert "accounts" in error["message"]
    assert_throttled(await client.post(f"{API}/auth/signup", json=signup_body("a6@example.com")))

    [flag] = await _flags(client, admin_headers, kind="new_accounts_per_ip")
    assert flag["subject"].startswith("ip:") and len(flag["subject"]) == 3 + 64
    async with db.sessionmaker() as session:
        stored = (await session.execute(select(RiskFlag))).scalars().all()
    assert all("127.0.0.1" not in f.subject + str(f.details) for f in stored)


async def test_payment_attempts_per_address(
    client, admin_headers, make_user, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(abuse, "PAYMENT_ATTEMPTS_PER_IP", parse("3/hour"))
    course = await create_course(client, admin_headers)
    learners = [await make_user() for _ in range(4)]
    for _, headers in learners[:3]:
        assert (await initialize(client, headers, course["id"])).status_code == 201
    assert_throttled(await initialize(client, learners[3][1], course["id"]))
    [flag] = await _flags(client, admin_headers, reviewed="false")
    assert flag["kind"] == "payment_attempts_per_ip"
    assert flag["details"]["user_id"] == learners[3][0].id
