"""Forged, tampered and dead credentials are 401 `unauthenticated` on every authenticated
operation of `app.openapi()` (SPEC §4: "a bad or expired token is always 401, also where a
token is optional"), as a Bearer token and as the web session cookie, and change nothing.

tests/auth/test_tokens.py and tests/web/test_session.py check single variants against /me;
this module sweeps every variant (changed sub, role or exp with the signature kept, a changed
signature, `alg: none`, another key, expired, deleted or deactivated user, the other audience)
across every operation, and checks that a role claim in a genuinely signed token grants
nothing (roles come from the database)."""

from __future__ import annotations

import base64
import json
from datetime import timedelta
from typing import Any

import jwt
import pytest
from sqlalchemy import update

from enrollpay.auth.session import CSRF_HEADER, SESSION_COOKIE, csrf_token_for
from enrollpay.auth.tokens import AUDIENCE, ISSUER, SESSION_AUDIENCE
from enrollpay.kit.clock import utcnow
from enrollpay.users.models import Role, User
from tests.conftest import TEST_SECRET_KEY, assert_error, full_size
from tests.courses.factories import create_course
from tests.enrollments.helpers import API, initialize
from tests.security.conftest import Operation, changes, database_rows, operations

# Small: every operation with one header variant and one cookie variant (rotating, so every
# variant meets several operations), and every variant on /me and on initialize.
EVERY_VARIANT_ON_EVERY_OPERATION = full_size()

pytestmark = pytest.mark.filterwarnings("ignore:The HMAC key is:UserWarning")


def _b64(data: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _unb64(segment: str) -> dict[str, Any]:
    decoded: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    )
    return decoded


def _claims(sub: str, audience: str, **extra: Any) -> dict[str, Any]:
    now = int(utcnow().timestamp())
    return {"sub": sub, "iss": ISSUER, "aud": audience, "iat": now, "exp": now + 3600, **extra}


def _sign(claims: dict[str, Any], key: str = TEST_SECRET_KEY) -> str:
    return jwt.encode(claims, key, algorithm="HS256")


def _repayload(token: str, **changed: Any) -> str:
    """The token with its payload changed and its signature kept."""
    header, payload, signature = token.split(".")
    return f"{header}.{_b64({**_unb64(payload), **changed})}.{signature}"


def forged_tokens(
    audience: str, victim_id: str, attacker_id: str, inactive_id: str
) -> dict[str, str]:
    genuine = _sign(_claims(attacker_id, audience))
    header, payload, signature = genuine.split(".")
    middle = len(signature) // 2
    flipped = signature[:middle] + ("A" if signature[middle] != "A" else "B")
    flipped += signature[middle + 1 :]
    other_audience = SESSION_AUDIENCE if audience == AUDIENCE else AUDIENCE
    past = int((utcnow() - timedelta(minutes=5)).timestamp())
    expired = _sign(_claims(victim_id, audience, iat=past - 3600, exp=past))
    return {
        "sub changed, signature kept": _repayload(genuine, sub=victim_id),
        "role added, signature kept": _repayload(genuine, role="admin", is_admin=True),
        "exp extended, signature kept": _repayload(expired, exp=past + 86_400),
        "signature changed": f"{header}.{payload}.{flipped}",
        "signature removed": f"{header}.{payload}.",
        "alg none": f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64(_claims(victim_id, audience))}.",
        "HS256 with another key": _sign(_claims(victim_id, audience), "k" * 48),
        "HS512 with our key": jwt.encode(_claims(victim_id, audience), TEST_SECRET_KEY, "HS512"),
        "expired": expired,
        "deleted user": _sign(_claims("usr_00000000000000000000000000", audience)),
        "deactivated user": _sign(_claims(inactive_id, audience)),
        "other audience": _sign(_claims(victim_id, other_audience)),
        "no issuer": _sign({k: v for k, v in _claims(victim_id, audience).items() if k != "iss"}),
    }


def _path_values(op: Operation, ids: dict[str, str]) -> dict[str, str]:
    return {name: ids.get(name, "x_0000") for name in op.params}


@pytest.fixture
async def people(client, db, make_user, admin_headers) -> dict[str, str]:
    victim, victim_headers = await make_user(email="victim@example.com", password=None)
    attacker, _ = await make_user(email="attacker@example.com", password=None)
    inactive, _ = await make_user(email="gone@example.com", password=None)
    async with db.transaction() as session:
        await session.execute(update(User).where(User.id == inactive.id).values(is_active=False))
    course = await create_course(client, admin_headers, price=0, external_id="ext-1")
    started = await initialize(client, victim_headers, course["id"])
    assert started.json()["status"] == "enrolled", started.text
    return {
        "victim": victim.id,
        "attacker": attacker.id,
        "inactive": inactive.id,
        "enrollment_id": started.json()["enrollment_id"],
        "course_id": course["id"],
        "external_id": "ext-1",
    }


def _plan(ops: list[Operation], variants: list[str]) -> list[tuple[Operation, str]]:
    if EVERY_VARIANT_ON_EVERY_OPERATION:
        return [(op, v) for op in ops for v in variants]
    plan = [(op, variants[i % len(variants)]) for i, op in enumerate(ops)]
    for op in ops:
        if op.key in {("GET", f"{API}/me"), ("POST", f"{API}/enrollments/initialize")}:
            plan += [(op, v) for v in variants]
    return plan


@pytest.mark.parametrize("carrier", ["bearer", "cookie"])
async def test_forged_credentials_are_401_everywhere_and_change_nothing(
    app, client, db, people, carrier
):
    secured = [op for op in operations(app) if op.secured]
    assert len(secured) > 40  # the sweep found the API
    audience = AUDIENCE if carrier == "bearer" else SESSION_AUDIENCE
    tokens = forged_tokens(audience, people["victim"], people["attacker"], people["inactive"])
    before = await database_rows(db)
    failures = []
    plan = _plan(secured, list(tokens))
    for op, variant in plan:
        token = tokens[variant]
        headers: dict[str, str] = {}
        client.cookies.clear()
        if carrier == "bearer":
            headers["Authorization"] = f"Bearer {token}"
        else:
            client.cookies.set(SESSION_COOKIE, token)
            # The forgery's own CSRF value is computable by nobody but us; send the right
            # one anyway, so only the session itself can be the reason for refusing.
            headers[CSRF_HEADER] = csrf_token_for(app.state.settings, token)
        path = op.fill(**_path_values(op, people))
        response = await client.request(
            op.method, path, json={} if op.has_body else None, headers=headers
        )
        if response.status_code != 401 or response.json()["error"]["code"] != "unauthenticated":
            failures.append(f"{op.method} {path} with {variant}: {response.status_code}")
    client.cookies.clear()
    assert not failures, "\n".join(failures)
    assert {v for _, v in plan} == set(tokens)
    assert changes(before, await database_rows(db)) == {}


async def test_pages_treat_a_forged_session_as_signed_out(client, people):
    tokens = forged_tokens(
        SESSION_AUDIENCE, people["victim"], people["attacker"], people["inactive"]
    )
    for variant, token in tokens.items():
        client.cookies.clear()
        client.cookies.set(SESSION_COOKIE, token)
        for path in ("/my/courses", f"/checkout/{people['enrollment_id']}", "/account"):
            page = await client.get(path)
            assert page.status_code == 303, (variant, path, page.status_code)
            assert page.headers["location"].startswith("/login?next="), (variant, path)
        catalog = await client.get("/")
        assert catalog.status_code == 200 and 'href="/login"' in catalog.text, variant
        if variant in {"deleted user", "deactivated user"}:
            continue  # a genuine token of a gone account: signed out, the cookie is kept
        # ... and the bad cookie is dropped.
        assert any(
            h.lower().startswith(f"{SESSION_COOKIE}=") and "max-age=0" in h.lower()
            for h in catalog.headers.get_list("set-cookie")
        ), variant
    client.cookies.clear()


async def test_a_role_claim_in_a_genuine_token_grants_nothing(client, db, people):
    """Roles live in the database: a correctly signed learner token claiming admin is a
    learner's token."""
    token = _sign(_claims(people["victim"], AUDIENCE, role=Role.admin.value, is_admin=True))
    headers = {"Authorization": f"Bearer {token}"}
    me = await client.get(f"{API}/me", headers=headers)
    assert me.status_code == 200, me.text
    assert me.json()["role"] == "learner"
    before = await database_rows(db)
    for method, path, body in (
        ("GET", f"{API}/admin/enrollments", None),
        ("POST", f"{API}/admin/courses", {"title": "Mine", "price": 1}),
        ("POST", f"{API}/admin/enrollments/{people['enrollment_id']}/refund", {"reason": "x"}),
    ):
        response = await client.request(method, path, json=body, headers=headers)
        assert_error(response, 403, "forbidden")
    assert changes(before, await database_rows(db)) == {}
