"""Shared arrangements for the security suite: the whole database as a comparable snapshot,
the OpenAPI operations to sweep, and a "two tenants" world (learner A and platform A own real
enrollments, payments and external ids; learner B and platform B are the attackers)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import stamina
from sqlalchemy import text, update

from enrollpay.app import create_app
from enrollpay.db.engine import Database
from enrollpay.enrollments.models import Enrollment
from enrollpay.payments.models import Payment
from enrollpay.users.models import Role
from tests.conftest import MakeUser, make_settings
from tests.courses.factories import create_course
from tests.enrollments.helpers import API, initialize, pay, verify
from tests.platform.api_keys import key_headers, platform_key, upsert_learner

# Tables that legitimately change when a refused request is audited or counted; everything
# else must be byte-for-byte the same after a refused request.
AUDIT_TABLES = frozenset(
    {
        "payment_attempt_log",  # every initialize/verify/retry call is logged, refused or not
        "risk_flags",
        "course_views",  # POST /courses/{id}/views records an anonymous view
        "api_keys",  # last_used_at
        "idempotency_keys",
        "sandbox_faults",
        "sandbox_webhook_behaviour",
        "alembic_version",
    }
)

Rows = dict[str, frozenset[tuple[Any, ...]]]


async def table_names(db: Database) -> list[str]:
    async with db.sessionmaker() as session:
        dialect = session.bind.dialect.name
        if dialect == "sqlite":
            query = "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
        else:
            query = "SELECT tablename FROM pg_tables WHERE schemaname = 'public'"
        names = [name for (name,) in await session.execute(text(query))]
    return sorted(n for n in names if n not in AUDIT_TABLES)


async def database_rows(db: Database) -> Rows:
    """Every row of every state table (audit tables left out), as sets of tuples."""
    rows: Rows = {}
    names = await table_names(db)
    async with db.sessionmaker() as session:
        for name in names:
            result = await session.execute(text(f'SELECT * FROM "{name}"'))
            rows[name] = frozenset(tuple(repr(v) for v in row) for row in result)
    return rows


def changes(before: Rows, after: Rows) -> dict[str, dict[str, int]]:
    """Tables whose rows differ: how many rows went away (or changed) and how many are new."""
    found = {}
    for name in sorted(set(before) | set(after)):
        old, new = before.get(name, frozenset()), after.get(name, frozenset())
        if old != new:
            found[name] = {"removed_or_changed": len(old - new), "added": len(new - old)}
    return found


# ---- the OpenAPI document -------------------------------------------------------------------


@dataclass(frozen=True)
class Operation:
    method: str
    path: str
    params: tuple[str, ...]
    has_body: bool
    secured: bool

    @property
    def key(self) -> tuple[str, str]:
        return (self.method, self.path)

    @property
    def is_admin(self) -> bool:
        return self.path.startswith(f"{API}/admin/")

    @property
    def is_platform(self) -> bool:
        return self.path.startswith(f"{API}/platform/")

    def fill(self, **values: str) -> str:
        return re.sub(r"\{(\w+)(?::\w+)?\}", lambda m: values[m.group(1)], self.path)


def operations(app: Any) -> list[Operation]:
    document = app.openapi()
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method not in {"get", "post", "put", "patch", "delete"}:
                continue
            found.append(
                Operation(
                    method.upper(),
                    path,
                    tuple(re.findall(r"\{(\w+)", path)),
                    "requestBody" in operation,
                    bool(operation.get("security")),
                )
            )
    return found


def request_schema(app: Any, operation: Operation) -> dict[str, Any] | None:
    document = app.openapi()
    body = document["paths"][operation.path][operation.method.lower()].get("requestBody")
    if body is None:
        return None
    schema: dict[str, Any] = body["content"]["application/json"]["schema"]
    while "$ref" in schema or "anyOf" in schema:
        if "$ref" in schema:
            name = schema["$ref"].rsplit("/", 1)[1]
            schema = document["components"]["schemas"][name]
        else:
            [schema] = [s for s in schema["anyOf"] if s.get("type") != "null"]
    return schema


# ---- the two tenants ------------------------------------------------------------------------


@pytest.fixture(autouse=True)
def _no_backoff_waits() -> Iterator[None]:
    with stamina.set_testing(True, attempts=2, cap=True):
        yield


@pytest.fixture
async def admin_headers(make_user: MakeUser) -> dict[str, str]:
    _, headers = await make_user(role=Role.admin, email="admin@example.com", password=None)
    return headers


@dataclass
class Tenant:
    """What one side owns. `headers` act as its learner (a token, or a key with X-On-Behalf-Of)."""

    name: str
    headers: dict[str, str]
    user_id: str
    enrollments: dict[str, str] = field(default_factory=dict)  # state -> enr_ id
    paid: dict[str, Any] = field(default_factory=dict)  # Checkout's fields of the paid order
    key: str | None = None
    learner_external_id: str | None = None
    course_external_id: str | None = None


@dataclass
class World:
    admin_headers: dict[str, str]
    courses: dict[str, dict[str, Any]]
    victims: list[Tenant]
    attackers: list[Tenant]

    @property
    def learner_a(self) -> Tenant:
        return self.victims[0]

    @property
    def platform_a(self) -> Tenant:
        return self.victims[1]

    @property
    def learner_b(self) -> Tenant:
        return self.attackers[0]

    @property
    def platform_b(self) -> Tenant:
        return self.attackers[1]


async def _enroll_paid(
    client: httpx.AsyncClient, tenant: Tenant, course_id: str
) -> tuple[str, dict[str, Any]]:
    started = await initialize(client, tenant.headers, course_id)
    assert started.status_code == 201, started.text
    enrollment_id = started.json()["enrollment_id"]
    paid = await pay(client, started.json()["payment_session"]["razorpay_order_id"])
    verified = await verify(client, tenant.headers, enrollment_id, paid)
    assert verified.json()["enrollment_status"] == "enrolled", verified.text
    return enrollment_id, paid


async def _start(client: httpx.AsyncClient, tenant: Tenant, course_id: str) -> str:
    started = await initialize(client, tenant.headers, course_id)
    assert started.status_code == 201, started.text
    enrollment_id: str = started.json()["enrollment_id"]
    return enrollment_id


async def mark_failed(db: Database, enrollment_id: str) -> None:
    """A payment attempt that failed (the state retry-payment accepts)."""
    async with db.transaction() as session:
        await session.execute(
            update(Enrollment)
            .where(Enrollment.id == enrollment_id)
            .values(status="failed", failure_reason="Payment failed")
        )
        await session.execute(
            update(Payment).where(Payment.enrollment_id == enrollment_id).values(status="failed")
        )


@pytest.fixture
async def world(client, db, admin_headers, make_user) -> World:
    courses = {
        name: await create_course(client, admin_headers, title=name, refund_window_days=7)
        for name in ("paid", "pending", "failed")
    }
    user_a, headers_a = await make_user(email="a@example.com", password=None)
    user_b, headers_b = await make_user(email="b@example.com", password=None)
    learner_a = Tenant("learner A", headers_a, user_a.id)
    learner_b = Tenant("learner B", headers_b, user_b.id)

    key_a = await platform_key(client, admin_headers, "Platform A")
    key_b = await platform_key(client, admin_headers, "Platform B")
    created = {}
    for key, external_id in ((key_a, "lms-a-1"), (key_b, "lms-b-1")):
        response = await upsert_learner(client, key, external_id)
        assert response.status_code == 201, response.text
        created[external_id] = response.json()["id"]
    platform_a = Tenant(
        "platform A",
        key_headers(key_a, "lms-a-1"),
        created["lms-a-1"],
        key=key_a,
        learner_external_id="lms-a-1",
        course_external_id="lms-course-a",
    )
    platform_b = Tenant(
        "platform B",
        key_headers(key_b, "lms-b-1"),
        created["lms-b-1"],
        key=key_b,
        learner_external_id="lms-b-1",
        course_external_id="lms-course-b",
    )
    for tenant in (platform_a, platform_b):  # a draft course each platform manages
        assert tenant.key is not None
        synced = await client.put(
            f"{API}/platform/courses/{tenant.course_external_id}",
            json={"title": f"{tenant.name}'s course", "price": 999},
            headers=key_headers(tenant.key),
        )
        assert synced.status_code == 201, synced.text
        courses[f"draft of {tenant.name}"] = synced.json()

    for victim in (learner_a, platform_a):
        victim.enrollments["enrolled"], victim.paid = await _enroll_paid(
            client, victim, courses["paid"]["id"]
        )
        victim.enrollments["pending"] = await _start(client, victim, courses["pending"]["id"])
        victim.enrollments["failed"] = await _start(client, victim, courses["failed"]["id"])
        await mark_failed(db, victim.enrollments["failed"])
    # The attackers have enrollments of their own, so "not found" is not "has none at all".
    for attacker in (learner_b, platform_b):
        attacker.enrollments["pending"] = await _start(client, attacker, courses["pending"]["id"])
    return World(admin_headers, courses, [learner_a, platform_a], [learner_b, platform_b])


@pytest.fixture(scope="session")
def schema_app(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """The app for reading its OpenAPI document only (no lifespan, no database): the static
    checks run once, not once per database."""
    var = tmp_path_factory.mktemp("schema-app")
    return create_app(make_settings(f"sqlite:///{var}/unused.db", var))
