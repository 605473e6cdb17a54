"""Sign-up, login and /me over the real app (SPEC §4.1), with the edges."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from enrollpay.users.models import Role, User
from tests.conftest import TEST_PASSWORD, assert_error

SIGNUP = {"email": "Asha.Rao@Example.com", "password": "s3cret-passw0rd", "full_name": "Asha Rao"}


async def count_users(db) -> int:
    async with db.transaction() as session:
        return (await session.execute(select(func.count()).select_from(User))).scalar_one()


async def test_signup_returns_user_and_token_that_works(client):
    response = await client.post("/api/v1/auth/signup", json={**SIGNUP, "phone": "+91 98765 43210"})
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["token_type"] == "bearer"
    assert body["expires_in"] == 3600
    user = body["user"]
    assert user["email"] == "asha.rao@example.com"  # normalised
    assert user["phone"] == "+919876543210"
    assert user["role"] == "learner"
    assert user["id"].startswith("usr_")
    assert "password" not in str(body).lower().replace("password_", "")

    me = await client.get("/api/v1/me", headers={"Authorization": f"Bearer {body['access_token']}"})
    assert me.status_code == 200
    assert me.json()["id"] == user["id"]


async def test_signup_email_is_unique_case_insensitively(client, db):
    assert (await client.post("/api/v1/auth/signup", json=SIGNUP)).status_code == 201
    again = await client.post(
        "/api/v1/auth/signup", json={**SIGNUP, "email": "  ASHA.RAO@example.COM "}
    )
    assert_error(again, 409, "email_taken")
    assert await count_users(db) == 1


async def test_signup_cannot_assign_role(client, db):
    response = await client.post("/api/v1/auth/signup", json={**SIGNUP, "role": "admin"})
    error = assert_error(response, 422, "validation_error")
    assert any(f["field"] == "role" for f in error["details"]["fields"])
    assert await count_users(db) == 0


@pytest.mark.parametrize(
    ("patch", "field"),
    [
        ({"email": "not-an-email"}, "email"),
        ({"password": "short"}, "password"),
        ({"password": "        "}, "password"),
        ({"password": "x" * 129}, "password"),
        ({"full_name": "   "}, "full_name"),
        ({"phone": "12ab"}, "phone"),
        ({"email": None}, "email"),
    ],
)
async def test_signup_rejects_bad_fields_with_details(client, db, patch, field):
    response = await client.post("/api/v1/auth/signup", json={**SIGNUP, **patch})
    error = assert_error(response, 422, "validation_error")
    assert [f["field"] for f in error["details"]["fields"]] == [field]
    assert await count_users(db) == 0


async def test_signup_rejects_malformed_json_and_wrong_types(client, db):
    bad_json = await client.post(
        "/api/v1/auth/signup", content=b'{"email": ', headers={"Content-Type": "application/json"}
    )
    assert_error(bad_json, 422, "validation_error")
    not_object = await client.post("/api/v1/auth/signup", json=["a", "b"])
    assert_error(not_object, 422, "validation_error")
    missing = await client.post("/api/v1/auth/signup", json={})
    error = assert_error(missing, 422, "validation_error")
    assert {f["field"] for f in error["details"]["fields"]} == {"email", "password", "full_name"}
    assert await count_users(db) == 0


async def test_login_success_and_uniform_failures(client, make_user):
    await make_user(email="learner@example.com")
    ok = await client.post(
        "/api/v1/auth/login", json={"email": "LEARNER@example.com", "password": TEST_PASSWORD}
    )
    assert ok.status_code == 200, ok.text
    assert ok.json()["user"]["email"] == "learner@example.com"

    wrong_password = await client.post(
        "/api/v1/auth/login", json={"email": "learner@example.com", "password": "nope-nope"}
    )
    unknown_email = await client.post(
        "/api/v1/auth/login", json={"email": "ghost@example.com", "password": "nope-nope"}
    )
    a = assert_error(wrong_password, 401, "invalid_credentials")
    b = assert_error(unknown_email, 401, "invalid_credentials")
    assert a == b  # one message: no account enumeration


async def test_login_throttles_per_account(client, make_user):
    await make_user(email="learner@example.com")
    for _ in range(5):
        response = await client.post(
            "/api/v1/auth/login", json={"email": "learner@example.com", "password": "wrong-one"}
        )
        assert_error(response, 401, "invalid_credentials")
    throttled = await client.post(
        "/api/v1/auth/login", json={"email": "learner@example.com", "password": TEST_PASSWORD}
    )
    error = assert_error(throttled, 429, "too_many_requests")
    assert int(throttled.headers["Retry-After"]) > 0
    assert error["details"]["retry_after_seconds"] == int(throttled.headers["Retry-After"])


async def test_login_throttles_per_ip_across_accounts(client):
    for i in range(20):
        response = await client.post(
            "/api/v1/auth/login", json={"email": f"ghost{i}@example.com", "password": "wrong-one"}
        )
        assert_error(response, 401, "invalid_credentials")
    throttled = await client.post(
        "/api/v1/auth/login", json={"email": "someone-new@example.com", "password": "wrong-one"}
    )
    assert_error(throttled, 429, "too_many_requests")


async def test_successful_login_resets_account_failures(client, make_user):
    await make_user(email="learner@example.com")
    for _ in range(4):
        await client.post(
            "/api/v1/auth/login", json={"email": "learner@example.com", "password": "wrong-one"}
        )
    ok = await client.post(
        "/api/v1/auth/login", json={"email": "learner@example.com", "password": TEST_PASSWORD}
    )
    assert ok.status_code == 200
    for _ in range(4):
        response = await client.post(
            "/api/v1/auth/login", json={"email": "learner@example.com", "password": "wrong-one"}
        )
        assert_error(response, 401, "invalid_credentials")


async def test_inactive_user_cannot_log_in_or_use_token(client, db, make_user):
    user, headers = await make_user(email="learner@example.com")
    async with db.transaction() as session:
        (await session.get(User, user.id)).is_active = False
    assert_error(await client.get("/api/v1/me", headers=headers), 401, "unauthenticated")
    response = await client.post(
        "/api/v1/auth/login", json={"email": "learner@example.com", "password": TEST_PASSWORD}
    )
    assert_error(response, 401, "invalid_credentials")


async def test_admin_role_is_reported(client, make_user):
    _, headers = await make_user(role=Role.admin)
    assert (await client.get("/api/v1/me", headers=headers)).json()["role"] == "admin"
