"""Access tokens: only our HS256 signature, our audience, unexpired, for a live user."""

from __future__ import annotations

import base64
import json
from datetime import timedelta

import jwt
import pytest

from enrollpay.auth.tokens import AUDIENCE, ISSUER, decode_access_token, issue_access_token
from tests.conftest import TEST_SECRET_KEY, assert_error


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(sub: str, **extra) -> dict:
    return {"sub": sub, "iss": ISSUER, "aud": AUDIENCE, "iat": 1, "exp": 4102444800, **extra}


async def test_me_requires_a_token(client):
    assert_error(await client.get("/api/v1/me"), 401, "unauthenticated")


@pytest.mark.parametrize(
    "authorization",
    [
        "Bearer not.a.jwt",
        "Bearer ",
        "Basic dXNlcjpwYXNz",
        "bearer",
        "Token abc",
    ],
)
async def test_malformed_authorization_is_401(client, authorization):
    response = await client.get("/api/v1/me", headers={"Authorization": authorization})
    assert_error(response, 401, "unauthenticated")


@pytest.mark.filterwarnings("ignore:The HMAC key is:UserWarning")
async def test_tampered_and_foreign_tokens_are_rejected(client, make_user):
    user, headers = await make_user()
    token = headers["Authorization"].split()[1]
    header, _payload, signature = token.split(".")

    # Payload swapped for another subject, signature kept.
    forged_payload = _b64(_claims("usr_someoneelse"))
    tampered = f"{header}.{forged_payload}.{signature}"
    # alg none.
    none_token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(user.id))}."
    # Right claims, wrong key.
    other_key = jwt.encode(_claims(user.id), "x" * 40, algorithm="HS256")
    # Right key, other algorithm.
    hs512 = jwt.encode(_claims(user.id), TEST_SECRET_KEY, algorithm="HS512")
    # Right key, wrong audience (e.g. a token minted for another purpose).
    wrong_aud = jwt.encode(_claims(user.id, aud="platform"), TEST_SECRET_KEY, algorithm="HS256")
    # Right key, no expiry.
    no_exp = jwt.encode(
        {k: v for k, v in _claims(user.id).items() if k != "exp"}, TEST_SECRET_KEY, "HS256"
    )
    for token in (tampered, none_token, other_key, hs512, wrong_aud, no_exp):
        response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
        assert_error(response, 401, "unauthenticated")

    # The genuine one still works.
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 200


async def test_token_for_deleted_user_is_401(client):
    token = jwt.encode(_claims("usr_00000000000000000000000000"), TEST_SECRET_KEY, "HS256")
    response = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {token}"})
    assert_error(response, 401, "unauthenticated")


async def test_token_expires_after_ttl(client, make_user, time_machine):
    time_machine.move_to("2026-01-01T00:00:00Z", tick=False)
    _, headers = await make_user()
    time_machine.shift(timedelta(seconds=3599))
    assert (await client.get("/api/v1/me", headers=headers)).status_code == 200
    time_machine.shift(timedelta(seconds=2))
    assert_error(await client.get("/api/v1/me", headers=headers), 401, "unauthenticated")


def test_decode_roundtrip(settings):
    token = issue_access_token(settings, "usr_x")
    assert decode_access_token(settings, token.token) == "usr_x"
    assert decode_access_token(settings, token.token + "x") is None
