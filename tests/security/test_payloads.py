"""Hostile bodies: over MAX_REQUEST_BODY_BYTES → 413 `payload_too_large` before parsing, on
every operation of `app.openapi()` that takes a body, the web forms and the webhook — with an
honest Content-Length, a lying one and none (chunked); JSON nested 10 000 deep and huge
arrays and strings inside the limit → a clean 4xx envelope, never a 500, and the app keeps
answering. Nothing is written by any of them.

tests/test_errors.py and tests/webhooks/test_endpoint.py check 413 on one endpoint each."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest

from enrollpay.jobs.worker import JobOutcome
from enrollpay.payments.gateway.factory import gateway_credentials
from enrollpay.payments.gateway.signatures import webhook_signature
from tests.conftest import assert_error, full_size
from tests.courses.factories import create_course
from tests.enrollments.helpers import API, drain_jobs
from tests.security.conftest import Operation, changes, database_rows, operations
from tests.webhooks.conftest import inbox

LIMIT = 1_048_576  # MAX_REQUEST_BODY_BYTES's default, which the app under test keeps
DEPTH = 10_000
# Small: every operation gets each oversize mode and each hostile JSON shape at least once
# (rotating); full: every operation gets every one.
EVERYTHING_EVERYWHERE = full_size()

WEB_FORMS = ["/login", "/signup", "/forgot-password", "/logout", "/pay/enr_x/callback?t=x"]
WEBHOOK = f"{API}/webhooks/razorpay"


def _path(op: Operation) -> str:
    return op.fill(**{name: "x_0000" for name in op.params})


def body_operations(app: Any) -> list[Operation]:
    return [op for op in operations(app) if op.has_body or op.path == WEBHOOK]


def _pick(items: list[Any], index: int) -> list[Any]:
    return items if EVERYTHING_EVERYWHERE else [items[index % len(items)]]


async def _chunks(total: int, size: int = 65_536) -> AsyncIterator[bytes]:
    sent = 0
    while sent < total:
        piece = min(size, total - sent)
        sent += piece
        yield b" " * piece


def oversize_requests(total: int) -> dict[str, dict[str, Any]]:
    body = b'{"pad": "' + b"x" * (total - 11) + b'"}'
    assert len(body) == total
    return {
        "honest Content-Length": {"content": body},
        "lying Content-Length": {"content": body, "headers": {"Content-Length": "64"}},
        "chunked, no Content-Length": {"content": _chunks(total)},
    }


@pytest.fixture
async def admin_and_learner(make_user, admin_headers) -> dict[str, str]:
    _, learner = await make_user(password=None)
    return {"admin": admin_headers["Authorization"], "learner": learner["Authorization"]}


def _auth(op: Operation, tokens: dict[str, str]) -> dict[str, str]:
    return {"Authorization": tokens["admin" if op.is_admin else "learner"]}


def _body_never_read(path: str, response: Any) -> bool:
    """Pages that answer before reading a form: nothing is parsed, which is as good as 413
    (an honest Content-Length is refused by the middleware before them anyway)."""
    if path.startswith("/pay/"):  # the payment link is checked first
        return response.status_code == 404 and "invalid or has expired" in response.text
    if path == "/logout":  # signed out, sign-out reads no form
        return response.status_code == 303 and response.headers["location"] == "/"
    return False


async def test_bodies_over_the_limit_are_413_everywhere_and_write_nothing(
    app, client, db, admin_and_learner
):
    assert app.state.settings.MAX_REQUEST_BODY_BYTES == LIMIT
    targets = [(op.method, _path(op), _auth(op, admin_and_learner)) for op in body_operations(app)]
    targets += [("POST", path, {}) for path in WEB_FORMS]
    assert len(targets) > 30
    modes = list(oversize_requests(LIMIT + 1))
    before = await database_rows(db)
    failures = []
    for index, (method, path, auth) in enumerate(targets):
        for mode in _pick(modes, index) + (["lying Content-Length"] if index == 0 else []):
            request = oversize_requests(LIMIT + 1)[mode]
            headers = {"Content-Type": "application/json", **auth, **request.get("headers", {})}
            response = await client.request(
                method, path, content=request["content"], headers=headers
            )
            if mode != "honest Content-Length" and _body_never_read(path, response):
                continue
            if response.status_code != 413:
                failures.append(f"{method} {path} ({mode}): {response.status_code}")
            else:
                error = assert_error(response, 413, "payload_too_large")
                assert "Traceback" not in response.text, error
    assert not failures, "\n".join(failures)
    assert changes(before, await database_rows(db)) == {}
    assert (await client.get("/healthz")).status_code == 200


def hostile_json() -> dict[str, bytes]:
    deep_array = b"[" * DEPTH + b"]" * DEPTH
    deep_object = b'{"a":' * DEPTH + b"1" + b"}" * DEPTH
    return {
        "array nested 10 000 deep": deep_array,
        "object nested 10 000 deep": deep_object,
        "deep value in a known field": b'{"course_id": "crs_x", "metadata": '
        + deep_object
        + b', "email": '
        + deep_array
        + b"}",
        "huge array": b"[" + b"0," * 400_000 + b"0]",
        "huge string": json.dumps({"email": "a" * 900_000, "course_id": "b" * 90_000}).encode(),
        "many keys": json.dumps({f"k{i}": i for i in range(60_000)}).encode(),
        "many metadata values": json.dumps(
            {"course_id": "crs_x", "metadata": {f"k{i}": i for i in range(50_000)}}
        ).encode(),
        "huge number": b'{"progress": 1' + b"0" * 100_000 + b"}",
        "broken unicode": b'{"email": "\\ud800\\udc00\\udfff", "password": "\xff\xfe"}',
    }


async def test_deep_and_huge_json_is_a_clean_4xx_and_the_app_keeps_answering(
    app, client, db, admin_and_learner
):
    shapes = hostile_json()
    assert all(len(body) < LIMIT for body in shapes.values())
    names = list(shapes)
    before = await database_rows(db)
    failures = []
    ops = [op for op in body_operations(app) if op.path != WEBHOOK]
    for index, op in enumerate(ops):
        for name in _pick(names, index) + (names if index == 0 else []):
            response = await client.request(
                op.method,
                _path(op),
                content=shapes[name],
                headers={"Content-Type": "application/json", **_auth(op, admin_and_learner)},
            )
            if not 400 <= response.status_code < 500:
                failures.append(f"{op.method} {_path(op)} with {name}: {response.status_code}")
                continue
            assert set(response.json()) == {"error"}, response.text[:300]
            # The answer stays small however much was sent (errors.MAX_FIELD_ERRORS).
            if len(response.content) > 64 * 1024:
                failures.append(f"{op.method} {_path(op)} with {name}: {len(response.content)} B")
    assert not failures, "\n".join(failures)
    assert changes(before, await database_rows(db)) == {}
    assert (await client.get("/healthz")).status_code == 200
    me = await client.get(f"{API}/me", headers={"Authorization": admin_and_learner["learner"]})
    assert me.status_code == 200, me.text


async def test_the_real_operations_still_validate_deep_json_in_their_fields(
    client, admin_headers, admin_and_learner
):
    """With a valid token and a real course, a deep value in a known field is a 422 that
    names the field (the JSON is parsed; the field refuses it)."""
    course = await create_course(client, admin_headers)
    deep = {"a": 1}
    for _ in range(200):  # deep enough to be silly, shallow enough for json.dumps
        deep = {"a": deep}
    response = await client.post(
        f"{API}/enrollments/initialize",
        json={"course_id": course["id"], "metadata": deep},
        headers={"Authorization": admin_and_learner["learner"]},
    )
    error = assert_error(response, 422, "validation_error")
    assert any("metadata" in f["field"] for f in error["details"]["fields"]), error


# Small: three shapes through the webhook; full: every one.
WEBHOOK_SHAPES = (
    list(hostile_json())
    if EVERYTHING_EVERYWHERE
    else ["array nested 10 000 deep", "deep value in a known field", "huge array"]
)


@pytest.mark.parametrize("name", WEBHOOK_SHAPES)
async def test_signed_hostile_webhooks_are_stored_not_crashed_on(client, db, settings, name):
    """Razorpay's signature is over raw bytes: a correctly signed deep or huge body is stored
    (as failed, for an admin) and answered 2xx — never a 500 that makes Razorpay retry for a
    day — and its processing (if any) ends without a retry or a dead job."""
    body = hostile_json()[name]
    secret = gateway_credentials(settings).webhook_secrets[0]
    response = await client.post(
        WEBHOOK,
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Razorpay-Signature": webhook_signature(body, secret),
            "X-Razorpay-Event-Id": "EvtHostile0001",
        },
    )
    assert response.status_code == 200, response.text
    outcomes = await drain_jobs(db, settings)
    assert set(outcomes) <= {JobOutcome.done}, outcomes
    [row] = await inbox(db)
    assert row.status in {"failed", "ignored"}, (row.status, row.outcome)
    assert row.body_sha256 == hashlib.sha256(body).hexdigest()
    assert (await client.get("/healthz")).status_code == 200
