"""Arranging platforms and API keys through the admin API, and calling with a key."""

from __future__ import annotations

from typing import Any

import httpx

API = "/api/v1"


async def create_platform(
    client: httpx.AsyncClient, admin_headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    body = {"name": "Acme LMS", **fields}
    response = await client.post(f"{API}/admin/platforms", json=body, headers=admin_headers)
    assert response.status_code == 201, response.text
    platform: dict[str, Any] = response.json()
    return platform


async def create_key(
    client: httpx.AsyncClient, admin_headers: dict[str, str], platform_id: str, name: str = "LMS"
) -> dict[str, Any]:
    response = await client.post(
        f"{API}/admin/platforms/{platform_id}/api-keys", json={"name": name}, headers=admin_headers
    )
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def platform_key(
    client: httpx.AsyncClient, admin_headers: dict[str, str], platform_name: str = "Acme LMS"
) -> str:
    """A new platform's key, ready to use."""
    platform = await create_platform(client, admin_headers, name=platform_name)
    key: str = (await create_key(client, admin_headers, platform["id"]))["key"]
    return key


def key_headers(key: str, on_behalf_of: str | None = None) -> dict[str, str]:
    headers = {"Authorization": f"Bearer {key}"}
    if on_behalf_of is not None:
        headers["X-On-Behalf-Of"] = on_behalf_of
    return headers


async def upsert_learner(
    client: httpx.AsyncClient, key: str, external_id: str, **fields: Any
) -> httpx.Response:
    body = {"email": f"{external_id}@learners.example.com", "full_name": "Asha Rao", **fields}
    return await client.put(
        f"{API}/platform/learners/{external_id}", json=body, headers=key_headers(key)
    )
