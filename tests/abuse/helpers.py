"""Shared bits of the abuse tests."""

from __future__ import annotations

from typing import Any

import httpx

from tests.conftest import assert_error

API = "/api/v1"


def assert_throttled(response: httpx.Response) -> dict[str, Any]:
    error = assert_error(response, 429, "too_many_requests")
    retry_after = int(response.headers["Retry-After"])
    assert retry_after >= 1
    assert error["details"]["retry_after_seconds"] == retry_after
    return error


def signup_body(email: str) -> dict[str, str]:
    return {"email": email, "password": "correct horse battery", "full_name": "Some One"}


async def web_signup(client: httpx.AsyncClient, email: str) -> httpx.Response:
    return await client.post(
        "/signup", data={**signup_body(email), "next": "/"}, follow_redirects=False
    )
