"""With RATE_LIMIT_STORAGE=redis://, replicas share login throttling."""

from __future__ import annotations

import secrets

import httpx
import pytest
import redis

from enrollpay.app import create_app
from tests.conftest import assert_error, make_settings

REDIS_URL = "redis://127.0.0.1:6379"


@pytest.fixture
def redis_available() -> None:
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=1).ping()
    except redis.RedisError as exc:  # CI provides Redis; a missing one is a failure, not a skip
        pytest.fail(f"Redis is needed at {REDIS_URL}: {exc}")


async def test_failures_on_one_replica_throttle_the_other(redis_available, database, tmp_path):
    from asgi_lifespan import LifespanManager

    settings = make_settings(database.url, tmp_path, RATE_LIMIT_STORAGE=REDIS_URL)
    replica_a, replica_b = create_app(settings), create_app(settings)
    email = f"shared-{secrets.token_hex(6)}@example.com"  # fresh key: Redis outlives test runs
    body = {"email": email, "password": "wrong-password"}
    # A fresh client address too, or earlier runs' per-IP failures would still count.
    client = (f"198.51.100.{secrets.randbelow(250) + 1}:{secrets.token_hex(2)}", 4000)
    async with LifespanManager(replica_a), LifespanManager(replica_b):
        a = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=replica_a, client=client), base_url="http://a"
        )
        b = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=replica_b, client=client), base_url="http://b"
        )
        async with a, b:
            for _ in range(5):
                assert_error(
                    await a.post("/api/v1/auth/login", json=body), 401, "invalid_credentials"
                )
            assert_error(await b.post("/api/v1/auth/login", json=body), 429, "too_many_requests")
