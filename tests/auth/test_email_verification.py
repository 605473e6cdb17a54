"""Email verification over the real app on both databases: sign-up queues one email, its link
verifies the address (page or API), re-sending is rate-limited, and a link for an address the
account no longer has is refused."""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from sqlalchemy import select, update

from enrollpay.auth.account_tokens import issue_password_reset_token
from enrollpay.kit.clock import utcnow
from enrollpay.notifications.models import EmailMessage
from enrollpay.users.models import User
from tests.conftest import assert_error

BASE = "https://pay.example.com"
API = "/api/v1/auth"
SIGNUP = {"email": "asha@example.com", "password": "s3cret-passw0rd", "full_name": "Asha Rao"}


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"PUBLIC_BASE_URL": BASE}


async def signup(client) -> tuple[dict[str, Any], dict[str, str]]:
    response = await client.post(f"{API}/signup", json=SIGNUP)
    assert response.status_code == 201, response.text
    body = response.json()
    return body["user"], {"Authorization": f"Bearer {body['access_token']}"}


async def verification_emails(db) -> list[EmailMessage]:
    async with db.sessionmaker() as session:
        stmt = select(EmailMessage).where(EmailMessage.kind == "email_verification")
        return list((await session.execute(stmt.order_by(EmailMessage.id))).scalars())


def link_in(email: EmailMessage) -> str:
    return next(word for word in email.text_body.split() if word.startswith(f"{BASE}/verify-"))


def token_in(email: EmailMessage) -> str:
    return parse_qs(urlsplit(link_in(email)).query)["token"][0]


async def is_verified(client, headers: dict[str, str]) -> bool:
    me = await client.get("/api/v1/me", headers=headers)
    assert me.status_code == 200, me.text
    verified: bool = me.json()["email_verified"]
    return verified


async def test_signup_queues_one_email_whose_link_verifies_the_address(client, db):
    user, headers = await signup(client)
    [email] = await verification_emails(db)
    assert email.to_address == "asha@example.com" and email.user_id == user["id"]
    assert email.dedupe_key == f"email_verification:{user['id']}"
    assert email.subject == "Confirm your email address" and "Hi Asha Rao," in email.text_body
    assert await is_verified(client, headers) is False

    page = await client.get(link_in(email).removeprefix(BASE))
    assert page.status_code == 200
    assert "Your email address is verified" in page.text
    assert page.headers["referrer-policy"] == "no-referrer"
    assert await is_verified(client, headers) is True

    # Opening the link again (a mail scanner, a second click) is harmless.
    again = await client.post(f"{API}/verify-email/confirm", json={"token": token_in(email)})
    assert again.status_code == 200 and again.json()["status"] == "email_verified"
    resend = await client.post(f"{API}/verify-email/request", headers=headers)
    assert resend.status_code == 202 and resend.json()["status"] == "already_verified"
    assert len(await verification_emails(db)) == 1


async def test_a_requested_link_verifies_through_the_api(client, db):
    _, headers = await signup(client)
    with time_machine.travel(utcnow() + timedelta(seconds=2), tick=True):
        sent = await client.post(f"{API}/verify-email/request", headers=headers)
        assert sent.status_code == 202 and sent.json()["status"] == "sent"
        first, second = await verification_emails(db)
        assert second.dedupe_key != first.dedupe_key

        confirmed = await client.post(
            f"{API}/verify-email/confirm", json={"token": token_in(second)}
        )
        assert confirmed.status_code == 200, confirmed.text
        assert await is_verified(client, headers) is True


async def test_requesting_needs_a_learner_and_is_rate_limited(client):
    assert_error(await client.post(f"{API}/verify-email/request"), 401, "unauthenticated")
    _, headers = await signup(client)
    for _ in range(5):
        response = await client.post(f"{API}/verify-email/request", headers=headers)
        assert response.status_code == 202
    limited = await client.post(f"{API}/verify-email/request", headers=headers)
    assert_error(limited, 429, "too_many_requests")
    assert int(limited.headers["retry-after"]) >= 1


async def test_a_link_for_an_address_the_account_no_longer_has_is_refused(client, db):
    user, headers = await signup(client)
    [email] = await verification_emails(db)
    async with db.transaction() as session:
        await session.execute(
            update(User).where(User.id == user["id"]).values(email="asha.new@example.com")
        )

    refused = await client.post(f"{API}/verify-email/confirm", json={"token": token_in(email)})
    assert_error(refused, 400, "invalid_token")
    page = await client.get(link_in(email).removeprefix(BASE))
    assert page.status_code == 400 and "invalid or has expired" in page.text
    assert await is_verified(client, headers) is False


async def test_expired_and_foreign_tokens_are_refused(client, db, settings):
    user, headers = await signup(client)
    [email] = await verification_emails(db)
    async with db.sessionmaker() as session:
        row = await session.get(User, user["id"])
        assert row is not None
        reset_token = issue_password_reset_token(settings, row).token

    for bad in ("not-a-token", reset_token):
        response = await client.post(f"{API}/verify-email/confirm", json={"token": bad})
        assert_error(response, 400, "invalid_token")
    with time_machine.travel(utcnow() + timedelta(days=7, seconds=5), tick=True):
        response = await client.post(f"{API}/verify-email/confirm", json={"token": token_in(email)})
        assert_error(response, 400, "invalid_token")
    assert await is_verified(client, headers) is False
