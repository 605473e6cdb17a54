"""Single sign-on: POST /api/v1/auth/exchange with a platform's HS256 or RS256 (JWKS) token.

RS256 keys are served by a real HTTP server on localhost that counts its hits; the endpoint gets
its own JWKS cache per test, on a clock the test moves."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import secrets
import socket
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from fastapi import FastAPI, Response
from limits import parse
from sqlalchemy import select
from structlog.testing import capture_logs

from enrollpay.db.engine import Database
from enrollpay.kit.ids import new_id
from enrollpay.platform import sso
from enrollpay.platform.models import Platform
from enrollpay.users.models import User
from tests.conftest import MakeUser, assert_error
from tests.e2e.conftest import serve_asgi

EXCHANGE = "/api/v1/auth/exchange"
HS256_SECRET = "platform-shared-secret-0123456789-abcdefghijklmnop"
AUDIENCE = "enrollpay"


# ---- keys and the JWKS server ------------------------------------------------------------------


@dataclass(frozen=True)
class RsaKey:
    kid: str
    private_key: rsa.RSAPrivateKey

    @property
    def jwk(self) -> dict[str, Any]:
        public_jwk = jwt.algorithms.RSAAlgorithm.to_jwk(self.private_key.public_key(), as_dict=True)
        return {**public_jwk, "kid": self.kid, "use": "sig", "alg": "RS256"}

    @property
    def public_pem(self) -> bytes:
        return self.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )


@pytest.fixture(scope="module")
def rsa_keys() -> tuple[RsaKey, RsaKey]:
    def generate() -> rsa.RSAPrivateKey:
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)

    return RsaKey("key-2025", generate()), RsaKey("key-2026", generate())


@dataclass
class JwksServer:
    base_url: str = ""
    keys: list[dict[str, Any]] = field(default_factory=list)
    hits: int = 0

    @property
    def url(self) -> str:
        return f"{self.base_url}/jwks.json"


def _jwks_app(server: JwksServer) -> FastAPI:
    app = FastAPI()

    @app.get("/jwks.json")
    async def jwks() -> dict[str, Any]:
        server.hits += 1
        return {"keys": server.keys}

    @app.get("/broken")
    async def broken() -> Response:
        server.hits += 1
        return Response("key server error", status_code=500)

    @app.get("/slow")
    async def slow() -> dict[str, Any]:
        await asyncio.sleep(1)
        return {"keys": server.keys}

    return app


@pytest.fixture(scope="module")
def _jwks_server_running() -> Iterator[JwksServer]:
    server = JwksServer()
    with serve_asgi(_jwks_app(server)) as base_url:
        server.base_url = base_url
        yield server


@pytest.fixture
def jwks_server(_jwks_server_running: JwksServer, rsa_keys: tuple[RsaKey, RsaKey]) -> JwksServer:
    """Serving both keys, hits counted from zero."""
    _jwks_server_running.keys = [key.jwk for key in rsa_keys]
    _jwks_server_running.hits = 0
    return _jwks_server_running


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def jwks_cache(app: FastAPI, clock: FakeClock) -> sso.JwksCache:
    cache = sso.JwksCache(max_age=600, min_fetch_interval=30, timeout=0.3, clock=clock)
    app.dependency_overrides[sso.get_jwks_cache] = lambda: cache
    return cache


# ---- platforms and tokens ----------------------------------------------------------------------


async def make_platform(db: Database, **values: Any) -> Platform:
    platform_id = new_id("plt")
    fields: dict[str, Any] = {
        "name": f"Platform {platform_id}",
        "sso_issuer": f"https://{platform_id}.example.com",
        "sso_audience": AUDIENCE,
    }
    fields.update(values)
    async with db.transaction() as session:
        platform = Platform(id=platform_id, **fields)
        session.add(platform)
    return platform


@pytest.fixture
async def hs_platform(db: Database) -> Platform:
    return await make_platform(db, sso_hs256_secret=HS256_SECRET)


@pytest.fixture
async def rs_platform(db: Database, jwks_server: JwksServer, jwks_cache: sso.JwksCache) -> Platform:
    return await make_platform(db, sso_jwks_url=jwks_server.url)


def learner_claims(platform: Platform, **overrides: Any) -> dict[str, Any]:
    """Claims a platform would send; an override of None leaves the claim out."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": platform.sso_issuer,
        "aud": AUDIENCE,
        "sub": "learner-42",
        "email": "asha@example.com",
        "name": "Asha Rao",
        "iat": now,
        "exp": now + 300,
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def hs256_token(platform: Platform, secret: str = HS256_SECRET, **overrides: Any) -> str:
    return jwt.encode(learner_claims(platform, **overrides), secret, algorithm="HS256")


def rs256_token(platform: Platform, key: RsaKey, kid: str | None = None, **overrides: Any) -> str:
    headers = {"kid": kid or key.kid}
    return jwt.encode(
        learner_claims(platform, **overrides), key.private_key, algorithm="RS256", headers=headers
    )


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def forged_token(header: dict[str, Any], claims: dict[str, Any], hmac_key: bytes | None) -> str:
    """A token PyJWT would refuse to make: unsigned, or HMAC'd with any bytes."""
    signing_input = f"{_b64url(json.dumps(header).encode())}.{_b64url(json.dumps(claims).encode())}"
    if hmac_key is None:
        return f"{signing_input}."
    signature = hmac.new(hmac_key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64url(signature)}"


async def exchange(client: httpx.AsyncClient, token: str) -> httpx.Response:
    return await client.post(EXCHANGE, json={"token": token})


async def learner_row(db: Database, user_id: str) -> User:
    async with db.transaction() as session:
        user = (await session.execute(select(User).where(User.id == user_id))).scalar_one()
    return user


# ---- HS256 -------------------------------------------------------------------------------------


async def test_hs256_exchange_creates_the_learner_then_updates_it(client, db, hs_platform):
    first = await exchange(client, hs256_token(hs_platform, phone_number="+91 98765 43210"))
    assert first.status_code == 200, first.text
    body = first.json()
    assert set(body) == {"user", "access_token", "token_type", "expires_in"}
    assert body["token_type"] == "bearer" and body["expires_in"] == 3600
    user = body["user"]
    assert (user["email"], user["full_name"], user["role"]) == (
        "asha@example.com",
        "Asha Rao",
        "learner",
    )
    assert user["phone"] == "+919876543210"

    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200 and me.json()["id"] == user["id"]
    row = await learner_row(db, user["id"])
    assert (row.platform_id, row.external_id, row.password_hash) == (
        hs_platform.id,
        "learner-42",
        None,
    )

    again = await exchange(
        client, hs256_token(hs_platform, name="Asha R. Menon", email="ASHA.M@example.com")
    )
    assert again.status_code == 200, again.text
    updated = again.json()["user"]
    assert updated["id"] == user["id"]
    assert (updated["full_name"], updated["email"]) == ("Asha R. Menon", "asha.m@example.com")
    assert updated["phone"] == "+919876543210"  # not sent this time: kept


@pytest.mark.parametrize(
    ("names", "full_name"),
    [
        ({"name": None, "given_name": "Ravi", "family_name": "Kumar"}, "Ravi Kumar"),
        ({"name": "  "}, "asha"),
        ({"name": None}, "asha"),
    ],
)
async def test_the_full_name_falls_back_to_given_and_family_name_then_the_email(
    client, hs_platform, names, full_name
):
    response = await exchange(client, hs256_token(hs_platform, **names))
    assert response.status_code == 200, response.text
    assert response.json()["user"]["full_name"] == full_name


async def test_an_unusable_phone_number_is_dropped_not_refused(client, hs_platform):
    response = await exchange(client, hs256_token(hs_platform, phone_number="call me"))
    assert response.status_code == 200, response.text
    assert response.json()["user"]["phone"] is None


async def test_clock_skew_within_the_leeway_is_accepted(client, hs_platform):
    now = int(time.time())
    token = hs256_token(hs_platform, iat=now + 20, nbf=now + 20, exp=now - 20 + 300)
    assert (await exchange(client, token)).status_code == 200
    expired_moments_ago = hs256_token(hs_platform, iat=now - 320, exp=now - 20)
    assert (await exchange(client, expired_moments_ago)).status_code == 200


def _expired(p: Platform) -> str:
    now = int(time.time())
    return hs256_token(p, iat=now - 600, exp=now - 120)


def _not_yet_valid(p: Platform) -> str:
    return hs256_token(p, nbf=int(time.time()) + 300, exp=int(time.time()) + 600)


def _too_long_lived(p: Platform) -> str:
    return hs256_token(p, exp=int(time.time()) + 2 * 3600)


@pytest.mark.parametrize(
    ("make_token", "message"),
    [
        (_expired, "expired"),
        (lambda p: hs256_token(p, aud="someone-else"), "audience"),
        (lambda p: hs256_token(p, iss="https://unknown.example.com"), "Unknown issuer"),
        (lambda p: hs256_token(p, iss=None), "no iss claim"),
        (lambda p: hs256_token(p, secret="another-secret-0123456789-abcdefghijklmn"), "signature"),
        (lambda p: forged_token({"alg": "none"}, learner_claims(p), None), "signed with HS256"),
        (lambda p: hs256_token(p, sub=None), "no sub claim"),
        (lambda p: hs256_token(p, sub="x" * 201), "sub claim"),
        (lambda p: hs256_token(p, exp=None), "no exp claim"),
        (lambda p: hs256_token(p, email=None), "no email claim"),
        (lambda p: hs256_token(p, email="not-an-address"), "not a valid email"),
        (_not_yet_valid, "not valid yet"),
        (_too_long_lived, "more than an hour"),
        (lambda p: "not-a-jwt", "well-formed"),
    ],
    ids=[
        "expired",
        "wrong-audience",
        "unknown-issuer",
        "no-issuer",
        "bad-signature",
        "alg-none",
        "no-sub",
        "long-sub",
        "no-exp",
        "no-email",
        "bad-email",
        "not-yet-valid",
        "too-long-lived",
        "malformed",
    ],
)
async def test_hs256_refusals_are_401_with_a_clear_message(
    client, hs_platform, make_token: Callable[[Platform], str], message: str
):
    error = assert_error(await exchange(client, make_token(hs_platform)), 401, "invalid_sso_token")
    assert message in error["message"]


@pytest.mark.parametrize(
    "values",
    [
        {"is_active": False, "sso_hs256_secret": HS256_SECRET},
        {"sso_hs256_secret": None},  # no key: single sign-on is not set up
        {"sso_audience": None, "sso_hs256_secret": HS256_SECRET},
    ],
    ids=["inactive", "no-key", "no-audience"],
)
async def test_platforms_without_working_sso_are_unknown_issuers(client, db, values):
    platform = await make_platform(db, **values)
    error = assert_error(await exchange(client, hs256_token(platform)), 401, "invalid_sso_token")
    assert "Unknown issuer" in error["message"]


async def test_the_email_of_a_self_made_account_is_not_taken_over(
    client, hs_platform, make_user: MakeUser
):
    await make_user(email="asha@example.com")
    assert_error(await exchange(client, hs256_token(hs_platform)), 409, "email_taken")


async def test_a_deactivated_learner_is_refused(client, db, hs_platform):
    created = await exchange(client, hs256_token(hs_platform))
    async with db.transaction() as session:
        learner = await session.get(User, created.json()["user"]["id"])
        assert learner is not None
        learner.is_active = False
    assert_error(await exchange(client, hs256_token(hs_platform)), 403, "forbidden")


# ---- RS256 through the JWKS --------------------------------------------------------------------


async def test_rs256_tokens_of_either_published_key_are_accepted(
    client, rs_platform, rsa_keys, jwks_server
):
    for key in rsa_keys:
        response = await exchange(client, rs256_token(rs_platform, key))
        assert response.status_code == 200, response.text
        assert response.json()["user"]["email"] == "asha@example.com"
    assert jwks_server.hits == 1  # the second key came from the cache


async def test_a_rotated_in_key_is_fetched_once(client, rs_platform, rsa_keys, jwks_server, clock):
    old_key, new_key = rsa_keys
    jwks_server.keys = [old_key.jwk]
    assert (await exchange(client, rs256_token(rs_platform, old_key))).status_code == 200

    jwks_server.keys = [old_key.jwk, new_key.jwk]  # the platform publishes its next key
    clock.advance(31)
    for _ in range(3):
        response = await exchange(client, rs256_token(rs_platform, new_key))
        assert response.status_code == 200, response.text
    assert jwks_server.hits == 2


async def test_the_key_set_is_refetched_when_it_ages_out(
    client, rs_platform, rsa_keys, jwks_server, clock
):
    assert (await exchange(client, rs256_token(rs_platform, rsa_keys[0]))).status_code == 200
    clock.advance(599)
    assert (await exchange(client, rs256_token(rs_platform, rsa_keys[0]))).status_code == 200
    assert jwks_server.hits == 1
    jwks_server.keys = [rsa_keys[1].jwk]  # the old key is withdrawn
    clock.advance(2)
    error = assert_error(
        await exchange(client, rs256_token(rs_platform, rsa_keys[0])), 401, "invalid_sso_token"
    )
    assert "kid" in error["message"]
    assert jwks_server.hits == 2


async def test_a_flood_of_unknown_kids_refetches_at_most_once_per_interval(
    client, rs_platform, rsa_keys, jwks_server, clock
):
    assert (await exchange(client, rs256_token(rs_platform, rsa_keys[0]))).status_code == 200
    clock.advance(31)

    async def random_kid() -> httpx.Response:
        return await exchange(client, rs256_token(rs_platform, rsa_keys[0], secrets.token_hex(8)))

    responses = await asyncio.gather(*(random_kid() for _ in range(8)))
    for response in responses:
        error = assert_error(response, 401, "invalid_sso_token")
        assert "key id (kid) is not in the platform's JWKS" in error["message"]
    assert jwks_server.hits == 2

    clock.advance(10)
    assert_error(await random_kid(), 401, "invalid_sso_token")
    assert jwks_server.hits == 2
    clock.advance(21)
    assert_error(await random_kid(), 401, "invalid_sso_token")
    assert jwks_server.hits == 3


async def test_rs256_refusals(client, rs_platform, rsa_keys):
    key = rsa_keys[0]
    claims = learner_claims(rs_platform)
    cases = [
        # The classic confusion: HS256 "signed" with the platform's public key as the secret.
        (
            forged_token({"alg": "HS256", "kid": key.kid}, claims, key.public_pem),
            "signed with RS256",
        ),
        (forged_token({"alg": "none", "kid": key.kid}, claims, None), "signed with RS256"),
        (hs256_token(rs_platform), "signed with RS256"),
        (jwt.encode(claims, key.private_key, algorithm="RS256"), "no kid"),
        (rs256_token(rs_platform, rsa_keys[1], kid=key.kid), "signature"),
        (rs256_token(rs_platform, key, aud="another-audience"), "audience"),
    ]
    for token, message in cases:
        error = assert_error(await exchange(client, token), 401, "invalid_sso_token")
        assert message in error["message"], (message, error)


async def test_an_unreachable_key_server_is_503(client, db, jwks_cache, clock, rsa_keys):
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        closed_port = sock.getsockname()[1]
    platform = await make_platform(db, sso_jwks_url=f"http://127.0.0.1:{closed_port}/jwks.json")
    response = await exchange(client, rs256_token(platform, rsa_keys[0]))
    error = assert_error(response, 503, "sso_unavailable")
    assert "JWKS" in error["message"]
    assert response.headers["Retry-After"] == "30"

    clock.advance(5)  # no new attempt yet: still 503, with the time left
    response = await exchange(client, rs256_token(platform, rsa_keys[0]))
    assert_error(response, 503, "sso_unavailable")
    assert response.headers["Retry-After"] == "25"


@pytest.mark.parametrize(
    ("path", "keys"),
    [("/broken", None), ("/slow", None), ("/jwks.json", [])],
    ids=["server-error", "timeout", "no-keys"],
)
async def test_a_failing_key_server_is_503(
    client, db, jwks_server, jwks_cache, clock, rsa_keys, path, keys
):
    if keys is not None:
        jwks_server.keys = keys
    platform = await make_platform(db, sso_jwks_url=f"{jwks_server.base_url}{path}")
    assert_error(await exchange(client, rs256_token(platform, rsa_keys[0])), 503, "sso_unavailable")


# ---- throttling and logging --------------------------------------------------------------------


async def test_refused_tokens_are_throttled_per_address(client, hs_platform):
    bad = hs256_token(hs_platform, secret="a-guess-0123456789-0123456789-0123456789")
    for _ in range(20):
        assert_error(await exchange(client, bad), 401, "invalid_sso_token")
    throttled = await exchange(client, hs256_token(hs_platform))  # even a good token now
    error = assert_error(throttled, 429, "too_many_requests")
    assert int(throttled.headers["Retry-After"]) == error["details"]["retry_after_seconds"] > 0


async def test_all_exchanges_are_throttled_per_address(client, hs_platform, monkeypatch):
    monkeypatch.setattr(sso, "SSO_EXCHANGES_PER_IP", parse("3/minute"))
    for _ in range(3):
        assert (await exchange(client, hs256_token(hs_platform))).status_code == 200
    assert_error(await exchange(client, hs256_token(hs_platform)), 429, "too_many_requests")


@pytest.mark.parametrize("settings_overrides", [{"LOG_LEVEL": "INFO"}])
async def test_tokens_and_secrets_are_never_logged(client, hs_platform):
    good = hs256_token(hs_platform)
    bad = hs256_token(hs_platform, aud="elsewhere")
    with capture_logs() as logs:
        assert (await exchange(client, good)).status_code == 200
        assert (await exchange(client, bad)).status_code == 401
    events = {entry["event"]: entry for entry in logs}
    assert events["sso_exchange"]["platform_id"] == hs_platform.id
    assert events["sso_exchange"]["outcome"] == "created"
    assert events["sso_exchange_refused"]["platform_id"] == hs_platform.id
    logged = json.dumps(logs, default=str)
    for secret in (good, bad, HS256_SECRET, "asha@example.com"):
        assert secret not in logged
