"""Web UI sessions (SPEC §4): the cookie stands in for the Bearer token, writes with it need the
CSRF token, a bad cookie is 401, sign-in keeps the login rate limits, sign-out clears it all."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from enrollpay.enrollments.models import Enrollment, EnrollmentStatus
from enrollpay.notifications.models import EmailMessage
from enrollpay.users.models import User
from tests.conftest import TEST_PASSWORD, assert_error
from tests.courses.factories import add_enrollment, create_course


async def log_in(client: httpx.AsyncClient, email: str, password: str = TEST_PASSWORD) -> Any:
    return await client.post(
        "/login", data={"email": email, "password": password, "next": "/courses/x"}
    )


def set_cookie_headers(response: httpx.Response) -> dict[str, str]:
    return {h.split("=", 1)[0]: h for h in response.headers.get_list("set-cookie")}


@pytest.fixture
async def learner(make_user) -> tuple[User, dict[str, str]]:
    return await make_user(email="web@example.com")


async def test_login_sets_httponly_session_and_readable_csrf_cookies(client, learner):
    response = await log_in(client, "web@example.com")
    assert response.status_code == 303
    assert response.headers["location"] == "/courses/x"
    cookies = set_cookie_headers(response)
    session = cookies["enrollpay_session"].lower()
    csrf = cookies["csrf"].lower()
    assert "httponly" in session and "samesite=lax" in session and "path=/" in session
    assert "httponly" not in csrf and "samesite=lax" in csrf
    # PUBLIC_BASE_URL is http in tests: a Secure cookie would never come back.
    assert "secure" not in session

    me = await client.get("/api/v1/me")
    assert me.status_code == 200
    assert me.json()["email"] == "web@example.com"


@pytest.mark.parametrize("settings_overrides", [{"PUBLIC_BASE_URL": "https://pay.example.com"}])
async def test_cookies_are_secure_behind_https(client, learner):
    response = await log_in(client, "web@example.com")
    assert all("secure" in h.lower() for h in set_cookie_headers(response).values())


async def test_wrong_password_is_shown_inline_and_sets_no_cookie(client, learner):
    response = await log_in(client, "web@example.com", "wrong password!")
    assert response.status_code == 401
    assert "The email or password is incorrect." in response.text
    assert "set-cookie" not in response.headers


async def test_login_page_keeps_the_api_rate_limit(client, learner):
    statuses = [
        (await log_in(client, "web@example.com", f"wrong-{i}")).status_code for i in range(30)
    ]
    assert statuses[-1] == 429
    # The API refuses too: the same limiter counted the page's failures.
    response = await client.post(
        "/api/v1/auth/login", json={"email": "web@example.com", "password": TEST_PASSWORD}
    )
    assert_error(response, 429, "too_many_requests")


async def test_login_from_another_origin_is_refused(client, learner):
    response = await client.post(
        "/login",
        data={"email": "web@example.com", "password": TEST_PASSWORD},
        headers={"Origin": "https://evil.example"},
    )
    assert_error(response, 403, "forbidden")
    assert "set-cookie" not in response.headers


async def test_next_never_leaves_the_site(client, learner):
    response = await client.post(
        "/login",
        data={"email": "web@example.com", "password": TEST_PASSWORD, "next": "//evil.example"},
    )
    assert response.headers["location"] == "/"


async def test_signup_signs_in_and_shows_field_errors(client):
    bad = await client.post(
        "/signup", data={"email": "nope", "password": "x", "full_name": "A <b>B</b>"}
    )
    assert bad.status_code == 422
    assert 'id="email-error"' in bad.text and 'id="password-error"' in bad.text
    assert "A &lt;b&gt;B&lt;/b&gt;" in bad.text

    good = await client.post(
        "/signup",
        data={"email": "new@example.com", "password": TEST_PASSWORD, "full_name": "New One"},
    )
    assert good.status_code == 303
    assert (await client.get("/api/v1/me")).json()["email"] == "new@example.com"

    client.cookies.clear()
    taken = await client.post(
        "/signup",
        data={"email": "new@example.com", "password": TEST_PASSWORD, "full_name": "Again"},
    )
    assert taken.status_code == 409
    assert "set-cookie" not in taken.headers


async def cancel(client: httpx.AsyncClient, enrollment_id: str, **headers: str) -> Any:
    return await client.post(
        f"/api/v1/enrollments/{enrollment_id}/cancel", json={}, headers=headers
    )


async def status_of(db, enrollment_id: str) -> str:
    async with db.transaction() as session:
        enrollment = await session.get(Enrollment, enrollment_id)
        assert enrollment is not None
        return str(enrollment.status)


async def test_cookie_writes_need_the_csrf_token(client, db, learner, admin_headers):
    user, _ = learner
    course = await create_course(client, admin_headers)
    enrollment_id = await add_enrollment(
        db, user_id=user.id, course_id=course["id"], status=EnrollmentStatus.failed
    )
    await log_in(client, "web@example.com")
    csrf = client.cookies["csrf"]

    missing = await cancel(client, enrollment_id)
    assert "X-CSRF-Token" in assert_error(missing, 403, "forbidden")["message"]
    flipped = csrf[:-1] + ("1" if csrf[-1] == "0" else "0")
    wrong = await cancel(client, enrollment_id, **{"X-CSRF-Token": flipped})
    assert_error(wrong, 403, "forbidden")
    assert await status_of(db, enrollment_id) == EnrollmentStatus.failed

    ok = await cancel(client, enrollment_id, **{"X-CSRF-Token": csrf})
    assert ok.status_code == 200, ok.text
    assert await status_of(db, enrollment_id) == EnrollmentStatus.cancelled


async def test_a_csrf_token_of_another_session_does_not_work(client, make_user, learner):
    await make_user(email="other@example.com")
    await log_in(client, "other@example.com")
    others = client.cookies["csrf"]
    client.cookies.clear()
    await log_in(client, "web@example.com")
    response = await client.post(
        "/api/v1/auth/verify-email/request", headers={"X-CSRF-Token": others}
    )
    assert_error(response, 403, "forbidden")


async def test_bearer_requests_are_unchanged(client, learner, admin_headers):
    _, headers = learner
    course = await create_course(client, admin_headers, price=0)
    # No cookie, no CSRF token: a Bearer write works as before.
    response = await client.post(
        "/api/v1/enrollments/initialize", json={"course_id": course["id"]}, headers=headers
    )
    assert response.status_code == 201, response.text
    # Bearer wins over a cookie: a bad Bearer token is 401 even with a good cookie.
    await log_in(client, "web@example.com")
    assert_error(
        await client.get("/api/v1/me", headers={"Authorization": "Bearer nope"}),
        401,
        "unauthenticated",
    )


async def test_tampered_or_api_token_cookie_is_401(client, learner):
    _, headers = learner
    await log_in(client, "web@example.com")
    good = client.cookies["enrollpay_session"]
    client.cookies.set("enrollpay_session", good[:-2] + ("AA" if good[-2:] != "AA" else "BB"))
    assert_error(await client.get("/api/v1/me"), 401, "unauthenticated")
    # An API token is not a session (other audience).
    client.cookies.set("enrollpay_session", headers["Authorization"].removeprefix("Bearer "))
    assert_error(await client.get("/api/v1/me"), 401, "unauthenticated")
    # Where auth is optional too (SPEC §4); pages treat it as signed out ...
    assert_error(await client.get("/api/v1/courses"), 401, "unauthenticated")
    page = await client.get("/")
    assert page.status_code == 200 and 'href="/login"' in page.text
    # ... and drop the bad cookie, so the page's own API calls work again.
    cleared = set_cookie_headers(page)
    assert set(cleared) == {"enrollpay_session", "csrf"}
    assert all("max-age=0" in h.lower() for h in cleared.values())


async def test_logout_needs_csrf_and_clears_the_cookies(client, learner):
    await log_in(client, "web@example.com")
    assert_error(await client.post("/logout", data={"csrf_token": "x"}), 403, "forbidden")
    assert (await client.get("/api/v1/me")).status_code == 200

    response = await client.post("/logout", data={"csrf_token": client.cookies["csrf"]})
    assert response.status_code == 303
    cleared = set_cookie_headers(response)
    assert set(cleared) == {"enrollpay_session", "csrf"}
    assert all("max-age=0" in h.lower() for h in cleared.values())
    assert "enrollpay_session" not in client.cookies
    assert_error(await client.get("/api/v1/me"), 401, "unauthenticated")


async def reset_emails(db) -> list[EmailMessage]:
    async with db.transaction() as session:
        query = select(EmailMessage).where(EmailMessage.kind == "password_reset")
        return list((await session.execute(query)).scalars())


async def test_forgot_password_emails_a_link_and_tells_nobody_whether_the_account_exists(
    client, db, learner
):
    page = await client.get("/login")
    assert 'href="/forgot-password?next=/">Forgot your password?</a>' in page.text
    form = await client.get("/forgot-password")
    assert form.status_code == 200 and 'action="/forgot-password"' in form.text

    known = await client.post("/forgot-password", data={"email": "WEB@example.com"})
    unknown = await client.post("/forgot-password", data={"email": "nobody@example.com"})
    for response in (known, unknown):
        assert response.status_code == 200
        assert "Check your email" in response.text
        assert "set-cookie" not in response.headers
    [email] = await reset_emails(db)
    assert email.to_address == "web@example.com"
    assert "/reset-password?token=" in email.text_body

    invalid = await client.post("/forgot-password", data={"email": "not an address"})
    assert invalid.status_code == 422
    assert "Enter the email address you signed up with." in invalid.text
    assert 'value="not an address"' in invalid.text


async def test_forgot_password_keeps_the_api_limits_and_refuses_other_origins(client, learner):
    statuses = [
        (await client.post("/forgot-password", data={"email": "web@example.com"})).status_code
        for _ in range(6)
    ]
    assert statuses == [200] * 5 + [429]  # five emails an hour per address, as the API
    other_origin = await client.post(
        "/forgot-password",
        data={"email": "web@example.com"},
        headers={"Origin": "https://evil.example"},
    )
    assert other_origin.status_code == 403
