"""Platforms and their API keys through the admin API, and authenticating with a key: shown
once, stored as a digest only, refused when revoked, forged or of a deactivated platform, and
never accepted where an admin or a user token is needed."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

import pytest
from sqlalchemy import select, update

from enrollpay.db.base import Base
from enrollpay.platform.models import ApiKey
from enrollpay.users.models import Role
from tests.conftest import assert_error
from tests.platform.api_keys import (
    API,
    create_key,
    create_platform,
    key_headers,
    platform_key,
    upsert_learner,
)

HS256_SECRET = "shared-secret-of-at-least-32-characters"


async def test_platform_admin_api_never_shows_the_sso_secret(client, admin_headers):
    created = await create_platform(
        client,
        admin_headers,
        sso_issuer="https://lms.example.com",
        sso_audience="enrollpay",
        sso_hs256_secret=HS256_SECRET,
    )
    assert created["id"].startswith("plt_")
    assert created["is_active"] is True
    assert created["sso_hs256_secret_set"] is True and created["sso_jwks_url"] is None
    url = f"{API}/admin/platforms/{created['id']}"
    one = await client.get(url, headers=admin_headers)
    listed = await client.get(f"{API}/admin/platforms", headers=admin_headers)
    assert one.json() == created
    assert listed.json() == {"items": [created], "next_cursor": None}
    for response in (one, listed):
        assert HS256_SECRET not in response.text

    # From HS256 to RS256 in one PATCH; fields left out keep their value.
    switched = await client.patch(
        url,
        json={"sso_hs256_secret": None, "sso_jwks_url": "https://lms.example.com/jwks.json"},
        headers=admin_headers,
    )
    assert switched.status_code == 200, switched.text
    body = switched.json()
    assert body["sso_hs256_secret_set"] is False
    assert body["sso_jwks_url"] == "https://lms.example.com/jwks.json"
    assert body["sso_issuer"] == "https://lms.example.com" and body["name"] == "Acme LMS"

    off = await client.patch(
        url,
        json={"sso_issuer": None, "sso_audience": None, "sso_jwks_url": None, "is_active": False},
        headers=admin_headers,
    )
    assert off.status_code == 200, off.text
    assert off.json()["is_active"] is False and off.json()["sso_issuer"] is None


@pytest.mark.parametrize(
    ("fields", "bad_field"),
    [
        ({"sso_issuer": "iss", "sso_hs256_secret": HS256_SECRET}, "sso_audience"),
        ({"sso_issuer": "iss", "sso_audience": "aud"}, "sso_hs256_secret"),
        (
            {
                "sso_issuer": "iss",
                "sso_audience": "aud",
                "sso_hs256_secret": HS256_SECRET,
                "sso_jwks_url": "https://lms.example.com/jwks.json",
            },
            "sso_hs256_secret",
        ),
        ({"sso_audience": "aud"}, "sso_audience"),
        ({"sso_jwks_url": "https://lms.example.com/jwks.json"}, "sso_jwks_url"),
        (
            {
                "sso_issuer": "iss",
                "sso_audience": "aud",
                "sso_jwks_url": "http://lms.example.com/j",
            },
            "sso_jwks_url",
        ),
        (
            {"sso_issuer": "iss", "sso_audience": "aud", "sso_hs256_secret": "short"},
            "sso_hs256_secret",
        ),
        ({"is_active": False}, "is_active"),  # not a create field
    ],
)
async def test_sso_settings_must_be_complete_and_safe(client, admin_headers, fields, bad_field):
    response = await client.post(
        f"{API}/admin/platforms", json={"name": "Acme LMS", **fields}, headers=admin_headers
    )
    error = assert_error(response, 422, "validation_error")
    assert bad_field in {problem["field"] for problem in error["details"]["fields"]}
    listed = await client.get(f"{API}/admin/platforms", headers=admin_headers)
    assert listed.json()["items"] == []


async def test_loopback_jwks_url_is_allowed_over_http(client, admin_headers):
    platform = await create_platform(
        client,
        admin_headers,
        sso_issuer="iss",
        sso_audience="aud",
        sso_jwks_url="http://127.0.0.1:9999/jwks.json",
    )
    assert platform["sso_jwks_url"] == "http://127.0.0.1:9999/jwks.json"


async def test_patch_is_checked_on_the_result_and_names_and_issuers_are_unique(
    client, admin_headers
):
    first = await create_platform(
        client,
        admin_headers,
        sso_issuer="iss-1",
        sso_audience="aud",
        sso_hs256_secret=HS256_SECRET,
    )
    second = await create_platform(client, admin_headers, name="Other LMS")
    url = f"{API}/admin/platforms/{first['id']}"

    # Adding a JWKS URL next to the secret would leave two keys: refused, nothing changed.
    both = await client.patch(
        url, json={"sso_jwks_url": "https://lms.example.com/jwks.json"}, headers=admin_headers
    )
    assert_error(both, 422, "validation_error")
    assert (await client.get(url, headers=admin_headers)).json() == first

    taken_name = await client.post(
        f"{API}/admin/platforms", json={"name": "Other LMS"}, headers=admin_headers
    )
    assert_error(taken_name, 409, "platform_name_taken")
    taken_issuer = await client.patch(
        f"{API}/admin/platforms/{second['id']}",
        json={"sso_issuer": "iss-1", "sso_audience": "aud", "sso_hs256_secret": HS256_SECRET},
        headers=admin_headers,
    )
    assert_error(taken_issuer, 409, "sso_issuer_taken")
    assert_error(
        await client.get(f"{API}/admin/platforms/plt_unknown", headers=admin_headers),
        404,
        "not_found",
    )


async def test_key_is_shown_once_and_only_its_digest_is_stored(client, db, admin_headers):
    platform = await create_platform(client, admin_headers)
    response = await client.post(
        f"{API}/admin/platforms/{platform['id']}/api-keys",
        json={"name": "LMS production"},
        headers=admin_headers,
    )
    assert response.status_code == 201, response.text
    assert response.headers["cache-control"] == "no-store"
    created = response.json()
    key = created["key"]
    assert key.startswith("ep_live_") and len(key) == len("ep_live_") + 43  # 32 bytes, base64
    assert created["prefix"] == key[:12]
    assert created["id"].startswith("key_") and created["name"] == "LMS production"

    listed = await client.get(
        f"{API}/admin/platforms/{platform['id']}/api-keys", headers=admin_headers
    )
    assert listed.status_code == 200, listed.text
    [item] = listed.json()["items"]
    assert "key" not in item and key not in listed.text
    assert item["prefix"] == key[:12] and item["created_by"].startswith("usr_")
    assert item["last_used_at"] is None and item["revoked_at"] is None

    async with db.sessionmaker() as session:
        stored = await session.scalar(select(ApiKey).where(ApiKey.id == created["id"]))
        assert stored is not None
        assert stored.secret_hash == hashlib.sha256(key.encode()).hexdigest()
        # Nowhere in the database: every row of every table, as text.
        for table in Base.metadata.sorted_tables:
            for row in (await session.execute(select(table))).all():
                assert key[12:] not in repr(tuple(row)), table.name


async def test_key_authenticates_and_last_used_at_is_kept_to_the_minute(client, db, admin_headers):
    platform = await create_platform(client, admin_headers)
    created = await create_key(client, admin_headers, platform["id"])

    async def last_used():
        async with db.sessionmaker() as session:
            return (await session.get(ApiKey, created["id"])).last_used_at

    async def set_last_used(value):
        async with db.transaction() as session:
            await session.execute(
                update(ApiKey).where(ApiKey.id == created["id"]).values(last_used_at=value)
            )

    response = await upsert_learner(client, created["key"], "lms-1")
    assert response.status_code == 201, response.text
    first = await last_used()
    assert first is not None

    recent = first - timedelta(seconds=30)
    await set_last_used(recent)
    assert (await upsert_learner(client, created["key"], "lms-1")).status_code == 200
    assert await last_used() == recent  # used within the minute: no write

    stale = first - timedelta(minutes=2)
    await set_last_used(stale)
    assert (await upsert_learner(client, created["key"], "lms-1")).status_code == 200
    assert await last_used() > stale

    listed = await client.get(
        f"{API}/admin/platforms/{platform['id']}/api-keys", headers=admin_headers
    )
    assert listed.json()["items"][0]["last_used_at"] is not None


async def test_revoked_key_is_refused_and_revoking_again_changes_nothing(client, admin_headers):
    platform = await create_platform(client, admin_headers)
    created = await create_key(client, admin_headers, platform["id"])
    assert (await upsert_learner(client, created["key"], "lms-1")).status_code == 201

    url = f"{API}/admin/api-keys/{created['id']}/revoke"
    revoked = await client.post(url, headers=admin_headers)
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["revoked_at"] is not None
    again = await client.post(url, headers=admin_headers)
    assert again.json() == revoked.json()

    error = assert_error(
        await upsert_learner(client, created["key"], "lms-1"), 401, "invalid_api_key"
    )
    assert "revoked" in error["message"]
    assert_error(
        await client.post(f"{API}/admin/api-keys/key_unknown/revoke", headers=admin_headers),
        404,
        "not_found",
    )


async def test_keys_of_a_deactivated_platform_are_refused_until_it_is_reactivated(
    client, admin_headers
):
    platform = await create_platform(client, admin_headers)
    key = (await create_key(client, admin_headers, platform["id"]))["key"]
    url = f"{API}/admin/platforms/{platform['id']}"

    await client.patch(url, json={"is_active": False}, headers=admin_headers)
    error = assert_error(await upsert_learner(client, key, "lms-1"), 401, "invalid_api_key")
    assert "deactivated" in error["message"]

    await client.patch(url, json={"is_active": True}, headers=admin_headers)
    assert (await upsert_learner(client, key, "lms-1")).status_code == 201


async def test_forged_and_unknown_keys_are_refused(client, admin_headers):
    key = await platform_key(client, admin_headers)
    tampered = key[:-1] + ("A" if key[-1] != "A" else "B")
    for forged in ("ep_live_" + secrets.token_urlsafe(32), tampered, "ep_live_", key + "x"):
        response = await upsert_learner(client, forged, "lms-1")
        error = assert_error(response, 401, "invalid_api_key")
        assert error["message"] == "This API key is not valid."
    # Only the Bearer scheme carries a key.
    response = await client.get(
        f"{API}/platform/learners/lms-1", headers={"Authorization": f"Basic {key}"}
    )
    assert_error(response, 401, "unauthenticated")


async def test_admin_endpoints_refuse_keys(client, admin_headers):
    key = await platform_key(client, admin_headers)
    learner = (await upsert_learner(client, key, "lms-1")).json()
    for headers in (key_headers(key), key_headers(key, learner["id"])):
        for path in ("/admin/platforms", "/admin/courses", "/admin/coupons"):
            response = await client.get(f"{API}{path}", headers=headers)
            error = assert_error(response, 403, "forbidden")
            assert "API keys" in error["message"]


@pytest.mark.parametrize("role", [Role.learner, Role.admin])
async def test_platform_endpoints_need_a_key_not_a_user_token(client, make_user, role):
    _, headers = await make_user(role=role, password=None)
    for method, path, body in (
        ("PUT", "/platform/learners/lms-1", {"email": "a@example.com", "full_name": "A"}),
        ("GET", "/platform/learners/lms-1", None),
        ("PUT", "/platform/courses/c-1", {"title": "C", "price": 100}),
        ("GET", "/platform/courses/c-1", None),
    ):
        response = await client.request(method, f"{API}{path}", json=body, headers=headers)
        error = assert_error(response, 403, "forbidden")
        assert "API key" in error["message"]
        assert_error(
            await client.request(method, f"{API}{path}", json=body), 401, "unauthenticated"
        )


async def test_learners_cannot_manage_platforms(client, admin_headers, make_user):
    platform = await create_platform(client, admin_headers)
    _, headers = await make_user(password=None)
    for method, path in (
        ("GET", "/admin/platforms"),
        ("POST", f"/admin/platforms/{platform['id']}/api-keys"),
        ("GET", f"/admin/platforms/{platform['id']}/api-keys"),
    ):
        response = await client.request(method, f"{API}{path}", json={"name": "x"}, headers=headers)
        assert_error(response, 403, "forbidden")
    assert_error(
        await client.post(
            f"{API}/admin/platforms/plt_unknown/api-keys", json={"name": "x"}, headers=admin_headers
        ),
        404,
        "not_found",
    )
