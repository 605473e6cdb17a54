"""The learner's own pages (SPEC §5) and the password change they use: "My courses" shows every
state of the learner's enrollments (made through the real API and the sandbox) with exactly the
actions the API would accept, never someone else's; the account page; `POST /auth/password`
checks the current password like a login (same throttle), with the cookie only with CSRF."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import pytest
import stamina
from sqlalchemy import update

from enrollpay.enrollments.expiry import expire_due
from enrollpay.enrollments.models import Enrollment
from enrollpay.kit.clock import utcnow
from enrollpay.users.models import User
from enrollpay.web import learner as learner_pages
from tests.conftest import TEST_PASSWORD, assert_error
from tests.courses.factories import create_course
from tests.enrollments.helpers import API, drain_jobs, initialize, pay, verify

ACCESS_URL = "https://learn.example.com/c/web"
NEW_PASSWORD = "a brand new passphrase"


@pytest.fixture(autouse=True)
def _no_backoff_waits():
    # The gateway client retries without sleeping (as the enrollment tests do).
    with stamina.set_testing(True, attempts=2, cap=True):
        yield


@pytest.fixture
async def learner(client, make_user) -> tuple[User, dict[str, str]]:
    """A learner signed in on `client` (session cookie), and their Bearer headers."""
    user, headers = await make_user(email="me@example.com")
    response = await client.post("/login", data={"email": user.email, "password": TEST_PASSWORD})
    assert response.status_code == 303
    return user, headers


def cards(html: str) -> dict[str, str]:
    """Each enrollment card's HTML by enrollment id, in page order."""
    parts = re.split(r'<li class="card enrollment" id="(enr_\w+)"', html)[1:]
    return {parts[i]: parts[i + 1].split("</li>", 1)[0] for i in range(0, len(parts), 2)}


async def start(client, headers, course_id: str) -> dict[str, Any]:
    response = await initialize(client, headers, course_id)
    assert response.status_code in (200, 201), response.text
    started: dict[str, Any] = response.json()
    return started


async def enroll_paid(client, headers, course_id: str) -> str:
    started = await start(client, headers, course_id)
    paid = await pay(client, started["payment_session"]["razorpay_order_id"])
    response = await verify(client, headers, started["enrollment_id"], paid)
    assert response.json()["enrollment_status"] == "enrolled", response.text
    enrollment_id: str = started["enrollment_id"]
    return enrollment_id


async def move_enrolled_at(db, enrollment_id: str, *, days_ago: float) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(Enrollment)
            .where(Enrollment.id == enrollment_id)
            .values(enrolled_at=utcnow() - timedelta(days=days_ago))
        )


# ---- signed out ---------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/my/courses", "/account"])
async def test_signed_out_visitors_are_sent_to_log_in(client, path):
    response = await client.get(path)
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next={path}"


# ---- my courses ---------------------------------------------------------------------------------


async def test_every_state_with_the_actions_that_apply(
    client, db, settings, admin_headers, learner
):
    _, me = learner

    async def course(title: str, **fields: Any) -> str:
        created = await create_course(client, admin_headers, title=title, **fields)
        course_id: str = created["id"]
        return course_id

    expired_course = await course("Expired one")
    expired = (await start(client, me, expired_course))["enrollment_id"]
    async with db.transaction() as session:
        await session.execute(
            update(Enrollment)
            .where(Enrollment.id == expired)
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
    assert await expire_due(db, now=utcnow()) == 1

    cancelled = (await start(client, me, await course("Cancelled one")))["enrollment_id"]
    response = await client.post(f"{API}/enrollments/{cancelled}/cancel", headers=me)
    assert response.status_code == 200, response.text

    refunded_course = await course("Refunded one")
    refunded = await enroll_paid(client, me, refunded_course)
    response = await client.post(
        f"{API}/enrollments/{refunded}/refund", json={"reason": "changed my mind"}, headers=me
    )
    assert response.status_code in (201, 202), response.text

    failed_started = await start(client, me, await course("Failed one"))
    failed = failed_started["enrollment_id"]
    order_id = failed_started["payment_session"]["razorpay_order_id"]
    await pay(client, order_id, outcome="failure", method="card", webhooks=True)
    await drain_jobs(db, settings)

    free = (await start(client, me, await course("Free one", price=0)))["enrollment_id"]
    paid_course = await course("Paid one", access_url=ACCESS_URL, refund_window_days=7)
    paid = await enroll_paid(client, me, paid_course)
    pending = (await start(client, me, await course("Pending one")))["enrollment_id"]
    # Enrolled again after the expiry: the old card must not offer "Enroll again".
    again = await enroll_paid(client, me, expired_course)

    page = await client.get("/my/courses")
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert 'aria-current="page"' in page.text
    by_id = cards(page.text)
    newest_first = [again, pending, paid, free, failed, refunded, cancelled, expired]
    assert list(by_id) == newest_first

    card = by_id[pending]
    assert "Pending payment" in card and "Pay by" in card and "₹5,898.82" in card
    assert f'href="/checkout/{pending}?start=1">Continue payment' in card
    assert f'data-url="/api/v1/enrollments/{pending}/cancel"' in card
    assert "Cancel this enrollment?" in card and "Keep it" in card
    assert "Open the course" not in card and "Request a refund" not in card

    card = by_id[failed]
    assert "Payment failed" in card and "The payment did not go through:" in card
    assert f'href="/checkout/{failed}?start=1">Try again' in card
    assert 'data-action="cancel"' in card

    card = by_id[paid]
    assert "Enrolled" in card and "Enrolled on" in card and "Paid" in card
    assert f'<a class="button" href="{ACCESS_URL}">Open the course</a>' in card
    assert '<progress id="' in card and "0% complete" in card
    assert "Request a refund" in card and "You can ask until" in card
    assert f'data-url="/api/v1/enrollments/{paid}/refund"' in card
    assert 'for="' + paid + '-reason">Reason (optional)' in card
    assert "/checkout/" not in card and 'data-action="cancel"' not in card

    card = by_id[free]
    assert "Enrolled" in card and "Free" in card
    # No access_url: the course page. Nothing was paid, so no refund (the API refuses one).
    assert '">Open the course</a>' in card and "/courses/crs_" in card
    assert "Request a refund" not in card
    refused = await client.post(
        f"{API}/enrollments/{free}/refund", json={"reason": "x"}, headers=me
    )
    assert_error(refused, 400, "refund_not_allowed")

    for enrollment_id, label in (
        (refunded, "Refunded"),
        (cancelled, "Cancelled"),
        (expired, "Expired"),
    ):
        card = by_id[enrollment_id]
        assert f'state-{label.lower()}">{label}</span>' in card
        assert "/checkout/" not in card and "data-action" not in card
        assert "Open the course" not in card
    assert ">Enroll again</a>" in by_id[refunded] and ">Enroll again</a>" in by_id[cancelled]
    assert "Cancelled on" in by_id[cancelled]
    assert "Enroll again" not in by_id[expired]  # enrolled in that course again since
    assert "Open the course" in by_id[again]


async def test_the_refund_button_only_inside_the_window(client, db, admin_headers, learner):
    _, me = learner
    course = await create_course(client, admin_headers, refund_window_days=7)
    enrollment_id = await enroll_paid(client, me, course["id"])

    await move_enrolled_at(db, enrollment_id, days_ago=6.9)
    assert "Request a refund" in cards((await client.get("/my/courses")).text)[enrollment_id]

    await move_enrolled_at(db, enrollment_id, days_ago=7.01)
    card = cards((await client.get("/my/courses")).text)[enrollment_id]
    assert "Request a refund" not in card and "Open the course" in card
    # The page and the API apply the same rule.
    refused = await client.post(
        f"{API}/enrollments/{enrollment_id}/refund", json={"reason": "late"}, headers=me
    )
    assert_error(refused, 400, "refund_not_allowed")


async def test_another_learners_enrollments_are_never_shown(
    client, admin_headers, make_user, learner
):
    _, me = learner
    _, other = await make_user(email="other@example.com")
    shared = await create_course(client, admin_headers, title="Shared course", price=0)
    theirs = await create_course(client, admin_headers, title="Their course", price=0)
    mine = (await start(client, me, shared["id"]))["enrollment_id"]
    their_ids = [(await start(client, other, c["id"]))["enrollment_id"] for c in (shared, theirs)]

    html = (await client.get("/my/courses")).text
    assert list(cards(html)) == [mine]
    assert "Their course" not in html
    assert not any(enrollment_id in html for enrollment_id in their_ids)


async def test_the_empty_state_points_to_the_catalog(client, learner):
    html = (await client.get("/my/courses")).text
    assert cards(html) == {}
    assert "You haven't enrolled in any course yet." in html
    assert '<a class="button" href="/">Browse the catalog</a>' in html


async def test_show_more_pages_through_older_enrollments(
    client, admin_headers, learner, monkeypatch
):
    _, me = learner
    monkeypatch.setattr(learner_pages, "MY_COURSES_PAGE_SIZE", 2)
    ids = []
    for n in range(3):
        course = await create_course(client, admin_headers, title=f"Course {n}", price=0)
        ids.append((await start(client, me, course["id"]))["enrollment_id"])

    first = (await client.get("/my/courses")).text
    assert list(cards(first)) == [ids[2], ids[1]]
    assert f'href="/my/courses?cursor={ids[1]}">Show more</a>' in first
    second = (await client.get(f"/my/courses?cursor={ids[1]}")).text
    assert list(cards(second)) == [ids[0]]
    assert "Show more" not in second and 'href="/my/courses">Back to the newest' in second
    # A cursor that is not ours starts from the newest instead of failing.
    assert list(cards((await client.get("/my/courses?cursor=nope")).text)) == [ids[2], ids[1]]


# ---- account ------------------------------------------------------------------------------------


async def test_account_page_shows_the_user(client, db, learner):
    user, _ = learner
    html = (await client.get("/account")).text
    assert "Test User" in html and "me@example.com" in html and "Not verified" in html
    assert 'id="send-verification"' in html and "/api/v1/auth/verify-email/request" in html
    assert 'autocomplete="current-password"' in html and 'autocomplete="new-password"' in html
    assert 'minlength="8"' in html and 'maxlength="128"' in html
    assert "8 to 128 characters." in html
    assert 'action="/logout"' in html and 'name="csrf_token"' in html

    async with db.transaction() as session:
        await session.execute(
            update(User).where(User.id == user.id).values(email_verified_at=utcnow())
        )
    html = (await client.get("/account")).text
    assert "Verified" in html and "Not verified" not in html
    assert 'id="send-verification"' not in html


async def test_the_verification_email_button_calls_an_api_that_takes_the_cookie(client, learner):
    response = await client.post(
        f"{API}/auth/verify-email/request", headers={"X-CSRF-Token": client.cookies["csrf"]}
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "sent"


# ---- changing the password ----------------------------------------------------------------------


async def change_password(
    client: httpx.AsyncClient, headers: dict[str, str], current: str, new: str = NEW_PASSWORD
) -> httpx.Response:
    return await client.post(
        f"{API}/auth/password",
        json={"current_password": current, "new_password": new},
        headers=headers,
    )


async def login_status(client: httpx.AsyncClient, email: str, password: str) -> int:
    response = await client.post(f"{API}/auth/login", json={"email": email, "password": password})
    return response.status_code


async def test_change_password_with_the_cookie_and_csrf(client, learner):
    user, _ = learner
    csrf = {"X-CSRF-Token": client.cookies["csrf"]}

    assert_error(await change_password(client, {}, TEST_PASSWORD), 403, "forbidden")
    wrong = await change_password(client, csrf, "not my password")
    error = assert_error(wrong, 400, "invalid_credentials")
    assert "current password" in error["message"]
    short = await change_password(client, csrf, TEST_PASSWORD, "short")
    assert_error(short, 422, "validation_error")

    response = await change_password(client, csrf, TEST_PASSWORD)
    assert response.status_code == 200, response.text
    assert response.json()["status"] == "password_changed"
    assert await login_status(client, user.email, NEW_PASSWORD) == 200
    assert await login_status(client, user.email, TEST_PASSWORD) == 401


async def test_change_password_with_a_bearer_token(client, make_user):
    user, headers = await make_user(email="bearer@example.com")
    assert_error(await change_password(client, {}, TEST_PASSWORD), 401, "unauthenticated")
    response = await change_password(client, headers, TEST_PASSWORD)
    assert response.status_code == 200, response.text
    assert await login_status(client, user.email, NEW_PASSWORD) == 200


async def test_wrong_current_passwords_count_against_the_login_limit(client, make_user):
    user, headers = await make_user(email="guess@example.com")
    statuses = [
        (await change_password(client, headers, f"guess-{n}")).status_code for n in range(6)
    ]
    assert statuses == [400] * 5 + [429]
    # Throttled now even with the right password, here and at login (one shared counter).
    assert_error(await change_password(client, headers, TEST_PASSWORD), 429, "too_many_requests")
    assert await login_status(client, user.email, TEST_PASSWORD) == 429
