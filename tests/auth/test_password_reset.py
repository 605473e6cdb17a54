"""Password reset over the real app on both databases: the same answer for unknown and known
addresses, an emailed link that works once and for 30 minutes, the page it opens, and the
limits on how often one may ask."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
import time_machine
from sqlalchemy import select

from enrollpay.auth.account_tokens import issue_verify_email_token
from enrollpay.auth.tokens import issue_access_token
from enrollpay.jobs.models import Job
from enrollpay.kit.clock import utcnow
from enrollpay.notifications.models import EmailMessage
from tests.conftest import TEST_PASSWORD, assert_error

BASE = "https://pay.example.com"
API = "/api/v1/auth"
NEW_PASSWORD = "a brand new passphrase"
CONFIG = re.compile(r'<script type="application/json" id="reset-config">(.*?)</script>', re.S)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"PUBLIC_BASE_URL": BASE}


async def ask_reset(client, email: str):
    return await client.post(f"{API}/password-reset", json={"email": email})


async def confirm(client, token: str, password: str = NEW_PASSWORD):
    return await client.post(
        f"{API}/password-reset/confirm", json={"token": token, "new_password": password}
    )


async def login(client, email: str, password: str) -> int:
    response = await client.post(f"{API}/login", json={"email": email, "password": password})
    return response.status_code


async def reset_emails(db) -> list[EmailMessage]:
    async with db.sessionmaker() as session:
        stmt = select(EmailMessage).where(EmailMessage.kind == "password_reset")
        return list((await session.execute(stmt.order_by(EmailMessage.id))).scalars())


def link_in(email: EmailMessage) -> str:
    return next(word for word in email.text_body.split() if word.startswith(f"{BASE}/reset-"))


def token_in(email: EmailMessage) -> str:
    return parse_qs(urlsplit(link_in(email)).query)["token"][0]


async def test_unknown_and_known_addresses_get_the_same_answer(client, db, make_user):
    await make_user(email="asha@example.com")

    unknown = await ask_reset(client, "nobody@example.com")
    assert unknown.status_code == 202
    assert await reset_emails(db) == []
    async with db.sessionmaker() as session:
        assert (await session.execute(select(Job))).first() is None  # nothing queued at all

    known = await ask_reset(client, "  Asha@Example.com ")
    assert known.status_code == 202
    assert known.json() == unknown.json()
    assert known.json()["status"] == "accepted"
    [email] = await reset_emails(db)
    assert email.to_address == "asha@example.com"
    assert email.subject == "Reset your enrollpay password"


async def test_the_emailed_link_opens_a_form_and_changes_the_password_once(client, db, make_user):
    user, _ = await make_user(email="asha@example.com")
    await ask_reset(client, "asha@example.com")
    [email] = await reset_emails(db)
    link = link_in(email)
    assert link.startswith(f"{BASE}/reset-password?token=")
    token = token_in(email)

    page = await client.get(link.removeprefix(BASE))
    assert page.status_code == 200
    assert page.headers["cache-control"] == "no-store"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert '<label for="new-password">' in page.text
    config = CONFIG.search(page.text)
    assert config is not None
    assert f'"token": "{token}"' in config.group(1)
    assert '"confirm_url": "/api/v1/auth/password-reset/confirm"' in config.group(1)
    script = re.search(r'<script src="(/static/account\.js[^"]*)"', page.text)
    assert script is not None and (await client.get(script.group(1))).status_code == 200

    changed = await confirm(client, token)
    assert changed.status_code == 200, changed.text
    assert changed.json()["status"] == "password_changed"
    assert await login(client, "asha@example.com", NEW_PASSWORD) == 200
    assert await login(client, "asha@example.com", TEST_PASSWORD) == 401

    # Single use: the password it was bound to is gone.
    assert_error(await confirm(client, token, "yet another passphrase"), 400, "invalid_token")
    assert await login(client, "asha@example.com", NEW_PASSWORD) == 200
    used = await client.get(link.removeprefix(BASE))
    assert used.status_code == 400 and "invalid or has expired" in used.text
    assert user.id in {e.user_id for e in await reset_emails(db)}


async def test_using_one_link_kills_the_others(client, db, make_user):
    await make_user(email="asha@example.com")
    await ask_reset(client, "asha@example.com")
    with time_machine.travel(utcnow() + timedelta(seconds=2), tick=True):
        await ask_reset(client, "asha@example.com")
        first, second = (token_in(e) for e in await reset_emails(db))
        assert (await confirm(client, second)).status_code == 200
        assert_error(await confirm(client, first), 400, "invalid_token")


async def test_a_link_expires_after_30_minutes(client, db, make_user):
    await make_user(email="asha@example.com")
    await ask_reset(client, "asha@example.com")
    [email] = await reset_emails(db)
    assert "The link works until" in email.text_body

    with time_machine.travel(utcnow() + timedelta(minutes=30, seconds=5), tick=True):
        assert_error(await confirm(client, token_in(email)), 400, "invalid_token")
    assert await login(client, "asha@example.com", TEST_PASSWORD) == 200


async def test_bad_tokens_are_refused_and_change_nothing(client, db, settings, make_user):
    user, _ = await make_user(email="asha@example.com")
    await ask_reset(client, "asha@example.com")
    [email] = await reset_emails(db)
    token = token_in(email)
    claims = jwt.decode(token, options={"verify_signature": False})
    forged = jwt.encode(claims, "not-our-secret-key-but-long-enough-for-hs256", algorithm="HS256")
    other_user = jwt.encode(
        {**claims, "sub": "usr_01aaaaaaaaaaaaaaaaaaaaaaaa"}, settings.secret_key, algorithm="HS256"
    )

    for bad in (
        "not-a-token",
        token[:-2] + ("AA" if not token.endswith("AA") else "BB"),
        forged,
        other_user,
        issue_access_token(settings, user.id).token,  # another audience
        issue_verify_email_token(settings, user).token,
        "x" * 3000,
    ):
        response = await confirm(client, bad)
        if len(bad) > 2048:
            assert_error(response, 422, "validation_error")
        else:
            assert_error(response, 400, "invalid_token")
    page = await client.get("/reset-password", params={"token": "not-a-token"})
    assert page.status_code == 400
    assert (await client.get("/reset-password")).status_code == 400
    assert await login(client, "asha@example.com", TEST_PASSWORD) == 200

    # Too short a password is a validation error, and the token stays usable.
    assert_error(await confirm(client, token, "short"), 422, "validation_error")
    assert (await confirm(client, token)).status_code == 200


async def test_requests_are_limited_per_address_whether_it_exists_or_not(client, db, make_user):
    await make_user(email="asha@example.com")
    for _ in range(5):
        assert (await ask_reset(client, "asha@example.com")).status_code == 202
        assert (await ask_reset(client, "nobody@example.com")).status_code == 202
    for email in ("asha@example.com", "nobody@example.com"):  # the same answer for both
        limited = await ask_reset(client, email)
        error = assert_error(limited, 429, "too_many_requests")
        assert error["details"]["retry_after_seconds"] >= 1
        assert int(limited.headers["retry-after"]) >= 1
    sent = await reset_emails(db)
    # Requests within one second share a dedupe key: a double submit sends one email.
    assert 1 <= len(sent) <= 5 and {e.to_address for e in sent} == {"asha@example.com"}


async def test_requests_are_limited_per_client_ip(client):
    for n in range(30):
        assert (await ask_reset(client, f"someone{n}@example.com")).status_code == 202
    assert_error(await ask_reset(client, "one-more@example.com"), 429, "too_many_requests")
