"""Rate limits on sign-up, initialize, verify and retry, and the coupon-guessing throttle."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import redis
from asgi_lifespan import LifespanManager

from enrollpay.app import create_app
from enrollpay.auth import ratelimit
from tests.abuse.helpers import API, assert_throttled, signup_body, web_signup
from tests.conftest import assert_error, make_settings
from tests.courses.factories import create_coupon, create_course
from tests.enrollments.helpers import initialize

REDIS_URL = "redis://127.0.0.1:6379"


async def test_signup_limit_is_shared_by_the_api_and_the_web_form(client) -> None:
    assert ratelimit.SIGNUPS_PER_IP.amount == 10
    first = await client.post(f"{API}/auth/signup", json=signup_body("taken@example.com"))
    assert first.status_code == 201, first.text
    for _ in range(4):  # every attempt counts, refused ones too
        again = await client.post(f"{API}/auth/signup", json=signup_body("taken@example.com"))
        assert_error(again, 409, "email_taken")
    for _ in range(5):
        page = await web_signup(client, "taken@example.com")
        assert page.status_code == 409, page.text
    assert_throttled(await client.post(f"{API}/auth/signup", json=signup_body("new@example.com")))
    page = await web_signup(client, "new2@example.com")
    assert page.status_code == 429
    assert int(page.headers["Retry-After"]) >= 1
    assert "Too many requests" in page.text


async def test_web_form_signups_count_for_the_api(client) -> None:
    for _ in range(10):
        page = await web_signup(client, "")  # refused by the form's own validation: not counted
        assert page.status_code == 422
    assert (await web_signup(client, "form@example.com")).status_code == 303
    for _ in range(9):
        assert (await web_signup(client, "form@example.com")).status_code == 409
    assert_throttled(await client.post(f"{API}/auth/signup", json=signup_body("x@example.com")))


async def test_initialize_limit_per_learner(client, admin_headers, make_user) -> None:
    course = await create_course(client, admin_headers)
    _, headers = await make_user()
    for _ in range(ratelimit.INITIALIZE_PER_LEARNER.amount):
        response = await initialize(client, headers, course["id"])
        assert response.status_code in (200, 201), response.text
    assert_throttled(await initialize(client, headers, course["id"]))
    # Per learner: another one is unaffected.
    _, other = await make_user()
    assert (await initialize(client, other, course["id"])).status_code == 201


async def test_verify_limit_per_learner(client, admin_headers, make_user) -> None:
    course = await create_course(client, admin_headers)
    _, headers = await make_user()
    started = (await initialize(client, headers, course["id"])).json()
    body = {
        "razorpay_payment_id": "pay_000000000000000",
        "razorpay_order_id": started["payment_session"]["razorpay_order_id"],
        "razorpay_signature": "0" * 64,
    }
    url = f"{API}/enrollments/{started['enrollment_id']}/verify-payment"
    for _ in range(ratelimit.VERIFY_PER_LEARNER.amount):
        assert_error(await client.post(url, json=body, headers=headers), 400, "invalid_signature")
    assert_throttled(await client.post(url, json=body, headers=headers))


async def test_retry_limit_per_learner(client, admin_headers, make_user) -> None:
    course = await create_course(client, admin_headers)
    _, headers = await make_user()
    started = (await initialize(client, headers, course["id"])).json()
    url = f"{API}/enrollments/{started['enrollment_id']}/retry-payment"
    for _ in range(ratelimit.RETRY_PER_LEARNER.amount):
        # A pending enrollment with a live session cannot be retried: still counted.
        assert_error(await client.post(url, headers=headers), 409, "invalid_state")
    assert_throttled(await client.post(url, headers=headers))


def _iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


async def test_every_bad_coupon_gets_one_message_then_coupons_are_throttled(
    client, admin_headers, make_user
) -> None:
    course = await create_course(client, admin_headers)
    other = await create_course(client, admin_headers, title="Other")
    await create_coupon(client, admin_headers, code="GOOD")
    await create_coupon(client, admin_headers, code="OLD", valid_until=_iso(-timedelta(days=1)))
    await create_coupon(client, admin_headers, code="ELSEWHERE", course_ids=[other["id"]])
    quote = f"{API}/courses/{course['id']}/quote"

    messages = set()
    for code in ["UNKNOWN", "OLD", "ELSEWHERE"]:
        error = assert_error(
            await client.get(quote, params={"coupon_code": code}), 400, "invalid_coupon"
        )
        messages.add((error["message"], error["hint"], str(error["details"])))
    _, headers = await make_user()
    for code in ["UNKNOWN", "OLD", "ELSEWHERE"]:
        error = assert_error(
            await initialize(client, headers, course["id"], coupon_code=code), 400, "invalid_coupon"
        )
        messages.add((error["message"], error["hint"], str(error["details"])))
    assert len(messages) == 1
    assert "This coupon code is not valid for this course." in next(iter(messages))

    # Anonymous: 3 refused so far from this address; 7 more fill the hour's window.
    for i in range(ratelimit.BAD_COUPONS_PER_CLIENT.amount - 3):
        response = await client.get(quote, params={"coupon_code": f"GUESS{i}"})
        assert_error(response, 400, "invalid_coupon")
    error = assert_throttled(await client.get(quote, params={"coupon_code": "GOOD"}))
    assert "coupon" in error["message"]
    # Quoting without a coupon still works.
    assert (await client.get(quote)).status_code == 200

    # The learner (counted by id) had 3 refusals at initialize; 7 more at the quote.
    for i in range(ratelimit.BAD_COUPONS_PER_CLIENT.amount - 3):
        response = await client.get(quote, params={"coupon_code": f"TRY{i}"}, headers=headers)
        assert_error(response, 400, "invalid_coupon")
    assert_throttled(await initialize(client, headers, course["id"], coupon_code="GOOD"))
    assert_throttled(await client.get(quote, params={"coupon_code": "GOOD"}, headers=headers))
    # Without a coupon the learner can still enroll.
    assert (await initialize(client, headers, course["id"])).status_code == 201


@pytest.fixture
def redis_available() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:  # CI provides Redis; a missing one is a failure
        pytest.fail(f"Redis is needed at {REDIS_URL}: {exc}")


async def test_signup_limit_holds_across_two_app_instances_on_redis(
    redis_available, database, tmp_path
) -> None:
    settings = make_settings(database.url, tmp_path, RATE_LIMIT_STORAGE=REDIS_URL)
    app_a, app_b = create_app(settings), create_app(settings)
    # A fresh client address: Redis outlives test runs and is shared by parallel ones.
    address = (f"2001:db8::{secrets.token_hex(2)}:{secrets.token_hex(2)}", 4000)
    email = f"redis-{secrets.token_hex(6)}@example.com"
    async with LifespanManager(app_a), LifespanManager(app_b):
        a = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app_a, client=address), base_url="http://a"
        )
        b = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app_b, client=address), base_url="http://b"
        )
        async with a, b:
            assert (await a.post(f"{API}/auth/signup", json=signup_body(email))).status_code == 201
            for _ in range(ratelimit.SIGNUPS_PER_IP.amount - 1):
                response = await a.post(f"{API}/auth/signup", json=signup_body(email))
                assert_error(response, 409, "email_taken")
            assert_throttled(await b.post(f"{API}/auth/signup", json=signup_body("b@example.com")))
            # Another address is not affected, on either instance.
            other = httpx.AsyncClient(
                transport=httpx.ASGITransport(
                    app=app_b, client=(f"2001:db8::{secrets.token_hex(2)}:1", 4000)
                ),
                base_url="http://b",
            )
            async with other:
                fresh = await other.post(
                    f"{API}/auth/signup", json=signup_body(f"c-{secrets.token_hex(4)}@example.com")
                )
                assert fresh.status_code == 201, fresh.text
