"""One error envelope for everything the framework and the app can throw (SPEC §1.5, §4.3)."""

from __future__ import annotations

import httpx
from asgi_lifespan import LifespanManager
from sqlalchemy.exc import TimeoutError as PoolTimeoutError

from enrollpay.app import create_app
from tests.conftest import assert_error, make_settings


async def test_unknown_route_is_404_envelope(client):
    assert_error(await client.get("/api/v1/nothing-here"), 404, "not_found")
    assert_error(await client.get("/definitely/not/here"), 404, "not_found")


async def test_wrong_method_is_405_envelope(client):
    response = await client.delete("/api/v1/auth/login")
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["allow"]


async def test_body_over_limit_is_413_before_parsing(client, db):
    big = b'{"email": "' + b"a" * 1_048_576 + b'"}'
    response = await client.post(
        "/api/v1/auth/signup", content=big, headers={"Content-Type": "application/json"}
    )
    error = assert_error(response, 413, "payload_too_large")
    assert error["details"]["max_bytes"] == 1_048_576


async def test_streamed_body_over_limit_is_413(client):
    async def chunks():
        for _ in range(20):
            yield b"x" * 65_536  # no Content-Length: counted as it streams

    response = await client.post(
        "/api/v1/auth/signup", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_error(response, 413, "payload_too_large")


async def test_unexpected_exception_is_500_with_request_id_and_no_trace(app, client):
    async def explode() -> None:
        raise RuntimeError("secret-internal-detail sk_live_123")

    app.add_api_route("/api/v1/_test/explode", explode)
    response = await client.get("/api/v1/_test/explode", headers={"X-Request-ID": "req-abc-12345"})
    error = assert_error(response, 500, "internal_error")
    assert error["details"]["request_id"] == "req-abc-12345"
    assert response.headers["x-request-id"] == "req-abc-12345"
    assert "secret-internal-detail" not in response.text
    assert "Traceback" not in response.text


async def test_an_exhausted_connection_pool_is_503_not_500(app, client):
    async def overloaded() -> None:
        raise PoolTimeoutError("QueuePool limit of size 5 overflow 0 reached")

    app.add_api_route("/api/v1/_test/overloaded", overloaded)
    response = await client.get("/api/v1/_test/overloaded")
    assert_error(response, 503, "service_unavailable")
    assert response.headers["retry-after"] == "5"


async def test_request_id_is_generated_when_missing_or_unsafe(client):
    response = await client.get("/healthz", headers={"X-Request-ID": "bad id\twith spaces"})
    assert response.headers["x-request-id"].startswith("req_")


async def test_database_down_is_503_service_unavailable(tmp_path):
    # A PostgreSQL URL where nothing listens: every query fails to connect.
    settings = make_settings(
        "postgresql://postgres@127.0.0.1:9/none", tmp_path, RATE_LIMIT_STORAGE="memory://"
    )
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post(
                "/api/v1/auth/login", json={"email": "a@example.com", "password": "whatever1"}
            )
            assert_error(response, 503, "service_unavailable")
            assert response.headers["retry-after"]
            ready = await client.get("/readyz")
            assert ready.status_code == 503
            assert ready.json()["checks"]["database"].startswith("unavailable")


async def test_readyz_reports_ready_on_migrated_database(client):
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json() == {"status": "ready", "checks": {"database": "ok", "migrations": "ok"}}


async def test_readyz_reports_pending_migrations(tmp_path):
    settings = make_settings(f"sqlite:///{tmp_path}/empty.db", tmp_path)
    app = create_app(settings)
    async with LifespanManager(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "ok", "migrations": "pending"}


async def test_openapi_documents_the_error_envelope(client):
    spec = (await client.get("/openapi.json")).json()
    assert "ErrorEnvelope" in spec["components"]["schemas"]
    login = spec["paths"]["/api/v1/auth/login"]["post"]["responses"]
    for status in ("401", "422", "429", "500"):
        schema = login[status]["content"]["application/json"]["schema"]
        assert schema["$ref"].endswith("/ErrorEnvelope")
    assert (await client.get("/docs")).status_code == 200
