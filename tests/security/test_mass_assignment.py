"""No mass assignment (SPEC §1.3): request bodies refuse unknown fields (README "Errors": 422),
so `status`, `amount`, `role`, `user_id`, `is_active`, `enrolled_at`, `price` and friends can
never reach a row.

Checked twice: statically, every JSON request body in `app.openapi()` (new endpoints
included) is closed (`additionalProperties: false`, nested objects too); and live, each
learner and platform write with a valid body plus each privileged field answers 422 naming the
field and leaves every row as it was. Fields that arrive another way (query string, a body on
an endpoint that takes none, the order notes in `metadata`, extra form fields) are ignored
and change nothing they should not."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import select

from enrollpay.users.models import User
from tests.conftest import TEST_PASSWORD, assert_error, full_size
from tests.enrollments.helpers import API, orders_of_enrollment, pay
from tests.platform.api_keys import key_headers
from tests.security.conftest import (
    World,
    changes,
    database_rows,
    operations,
    request_schema,
)

PRIVILEGED = {
    "status": "enrolled",
    "enrollment_status": "enrolled",
    "payment_status": "completed",
    "amount": 1,
    "total_payable": 1,
    "final_amount": 1,
    "original_amount": 1,
    "discount_applied": 4998,
    "tax_amount": 0,
    "price": 1,
    "currency": "USD",
    "role": "admin",
    "is_admin": True,
    "is_active": True,
    "user_id": "usr_00000000000000000000000000",
    "platform_id": "plt_00000000000000000000000000",
    "id": "enr_00000000000000000000000000",
    "enrolled_at": "2020-01-01T00:00:00Z",
    "email_verified_at": "2020-01-01T00:00:00Z",
    "refund_window_days": 3650,
    "course_progress": 100,
    "has_access": True,
    "kind": "admin",
    "external_id": "x",
}
# Small: every endpoint with a rotating third of the fields (every field meets several
# endpoints); full: every field on every endpoint.
FIELDS_PER_ENDPOINT = len(PRIVILEGED) if full_size() else 8


def _closed(schema: dict[str, Any], document: dict[str, Any], seen: set[str]) -> list[str]:
    """Object schemas (followed through $ref, anyOf, items) that accept unknown keys."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        if name in seen:
            return []
        seen.add(name)
        return _closed(document["components"]["schemas"][name], document, seen)
    open_ones = []
    for key in ("anyOf", "oneOf", "allOf"):
        for part in schema.get(key, []):
            open_ones += _closed(part, document, seen)
    if "items" in schema:
        open_ones += _closed(schema["items"], document, seen)
    if schema.get("type") == "object" and "properties" in schema:
        if schema.get("additionalProperties") is not False:
            open_ones.append(schema.get("title", "?"))
        for value in schema["properties"].values():
            open_ones += _closed(value, document, seen)
    return open_ones


def test_every_json_body_in_the_api_is_closed(schema_app):
    document = schema_app.openapi()
    checked, open_bodies = 0, []
    for op in operations(schema_app):
        schema = request_schema(schema_app, op)
        if schema is None or op.path == f"{API}/webhooks/razorpay":  # raw bytes, signed
            continue
        checked += 1
        open_bodies += [f"{op.method} {op.path}: {n}" for n in _closed(schema, document, set())]
    assert checked > 20
    assert not open_bodies, "bodies that accept unknown fields:\n" + "\n".join(open_bodies)


def _fields(index: int) -> dict[str, Any]:
    names = list(PRIVILEGED)
    start = (index * FIELDS_PER_ENDPOINT) % len(names)
    rotated = names[start:] + names[:start]
    return {name: PRIVILEGED[name] for name in rotated[:FIELDS_PER_ENDPOINT]}


def body_fields(app: Any, method: str, path: str) -> set[str]:
    """The documented fields of the body of the operation `path` is an instance of."""
    for op in operations(app):
        pattern = re.sub(r"\\\{\w+(?::\w+)?\\\}", "[^/]+", re.escape(op.path))
        if op.method == method and re.fullmatch(pattern, path):
            schema = request_schema(app, op)
            return set(schema.get("properties", {})) if schema else set()
    raise AssertionError(f"no operation for {method} {path}")


async def test_privileged_fields_are_422_and_change_nothing(
    app, client, db, world: World, make_user
):
    a = world.learner_a
    password_user, password_headers = await make_user(email="pw@example.com")
    assert world.platform_a.key is not None
    paid_again = await pay(
        client,
        (await orders_of_enrollment(db, a.enrollments["pending"]))[0].id,
    )
    verify_body = {k: paid_again[k] for k in ("razorpay_payment_id", "razorpay_order_id")}
    verify_body["razorpay_signature"] = paid_again["razorpay_signature"]
    writes: list[tuple[str, str, dict[str, Any], dict[str, str]]] = [
        (
            "POST",
            f"{API}/auth/signup",
            {"email": "new@example.com", "password": TEST_PASSWORD, "full_name": "N"},
            {},
        ),
        ("POST", f"{API}/auth/login", {"email": "pw@example.com", "password": TEST_PASSWORD}, {}),
        (
            "POST",
            f"{API}/auth/password",
            {"current_password": TEST_PASSWORD, "new_password": "another long one"},
            password_headers,
        ),
        (
            "POST",
            f"{API}/enrollments/initialize",
            {"course_id": world.courses["paid"]["id"]},
            world.learner_b.headers,
        ),
        (
            "POST",
            f"{API}/enrollments/{a.enrollments['pending']}/verify-payment",
            verify_body,
            a.headers,
        ),
        (
            "POST",
            f"{API}/enrollments/{a.enrollments['pending']}/cancel",
            {"reason": "r"},
            a.headers,
        ),
        (
            "POST",
            f"{API}/enrollments/{a.enrollments['enrolled']}/refund",
            {"reason": "r"},
            a.headers,
        ),
        (
            "PUT",
            f"{API}/courses/{world.courses['paid']['id']}/progress",
            {"progress": 10},
            a.headers,
        ),
        (
            "PUT",
            f"{API}/platform/learners/lms-a-1",
            {"email": "lms-a-1@learners.example.com", "full_name": "Asha Rao"},
            key_headers(world.platform_a.key),
        ),
        (
            "PUT",
            f"{API}/platform/courses/lms-course-a",
            {"title": "Platform A's course", "price": 999},
            key_headers(world.platform_a.key),
        ),
        ("POST", f"{API}/admin/courses", {"title": "T", "price": 10}, world.admin_headers),
    ]
    before = await database_rows(db)
    failures = []
    for index, (method, path, body, headers) in enumerate(writes):
        documented = body_fields(app, method, path)
        for name, value in _fields(index).items():
            if name in documented:  # e.g. the admin's own `price` or `external_id`
                continue
            response = await client.request(
                method, path, json={**body, name: value}, headers=headers
            )
            if response.status_code != 422:
                failures.append(f"{method} {path} + {name}: {response.status_code}")
                continue
            error = assert_error(response, 422, "validation_error")
            assert name in {f["field"] for f in error["details"]["fields"]}, error
    assert not failures, "\n".join(failures)
    assert changes(before, await database_rows(db)) == {}
    assert password_user.role == "learner"


async def test_fields_that_arrive_another_way_change_nothing(client, db, world: World):
    """The query string, a body on an endpoint that takes none, and the order's notes."""
    b = world.learner_b
    course = world.courses["paid"]
    hostile = {"amount": "100", "total_payable": "1", "status": "enrolled", "role": "admin"}
    started = await client.post(
        f"{API}/enrollments/initialize",
        params={**hostile, "user_id": world.learner_a.user_id},
        json={"course_id": course["id"], "metadata": hostile},
        headers=b.headers,
    )
    assert started.status_code == 201, started.text
    body = started.json()
    assert body["status"] == "pending" and body["total_payable"] == 5898.82
    assert body["payment_session"]["amount"] == 589882
    [order] = await orders_of_enrollment(db, body["enrollment_id"])
    assert order.amount == 589882
    assert order.notes["user_id"] == b.user_id and order.notes["amount"] == "100"
    # The reserved notes cannot be set through metadata.
    for reserved in ("user_id", "enrollment_id", "course_id"):
        refused = await client.post(
            f"{API}/enrollments/initialize",
            json={"course_id": course["id"], "metadata": {reserved: world.learner_a.user_id}},
            headers=b.headers,
        )
        assert_error(refused, 422, "validation_error")

    # retry-payment takes no body: one sent anyway is not read.
    failed = world.learner_a.enrollments["failed"]
    retried = await client.post(
        f"{API}/enrollments/{failed}/retry-payment",
        json={**hostile, "amount": 100, "course_id": course["id"]},
        headers=world.learner_a.headers,
    )
    assert retried.status_code == 200, retried.text
    assert retried.json()["status"] == "pending"
    assert retried.json()["payment_session"]["amount"] == 589882
    orders = await orders_of_enrollment(db, failed)
    assert {o.amount for o in orders} == {589882}

    status = await client.get(
        f"{API}/enrollments/{body['enrollment_id']}", params=hostile, headers=b.headers
    )
    assert status.json()["status"] == "pending"


async def test_the_signup_form_ignores_extra_fields(client, db):
    response = await client.post(
        "/signup",
        data={
            "email": "form@example.com",
            "password": TEST_PASSWORD,
            "full_name": "Form",
            "role": "admin",
            "is_active": "false",
            "email_verified_at": "2020-01-01T00:00:00Z",
        },
    )
    assert response.status_code == 303, response.text
    async with db.sessionmaker() as session:
        user = (
            await session.execute(select(User).where(User.email == "form@example.com"))
        ).scalar_one()
    assert (user.role, user.is_active, user.email_verified_at) == ("learner", True, None)
