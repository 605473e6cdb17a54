"""Schemathesis fuzzing of every operation in our OpenAPI document (SPEC §4), on each database.

Each case is sent to the real ASGI app (in process, seeded: tests/contract/conftest.py) as the
right kind of caller — an admin token for /admin, a platform's API key for /platform, a learner
token (or the API key plus X-On-Behalf-Of) for learner endpoints, now and then someone else
(nobody, or the wrong kind of caller) — with path ids (and body ids) sometimes swapped for real
objects, so the fuzzer reaches past the 404s.
Every response must: not be a 5xx; have a documented status code; have a documented content
type; match the documented schema for that status; carry the documented headers.

Every operation in the document is fuzzed; nothing is filtered out here. What is not in the
document is not part of our API contract, so it is not fuzzed: the built-in Razorpay sandbox (a
mounted app mimicking Razorpay's API, tested in tests/sandbox), the HTML pages, /metrics and the
dev mailbox (all `include_in_schema=False`). The Razorpay webhook endpoint gets the real signature
on half its cases, or it would only ever answer 400.

`EXAMPLES_PER_OPERATION` below is the size: small in CI (plus schemathesis' coverage phase, a
few dozen boundary and negative cases per operation), `TEST_SIZE=full` for many more."""

from __future__ import annotations

import json
import os
import random
import zlib
from datetime import timedelta
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core import NOT_SET
from schemathesis.core.failures import FailureGroup
from schemathesis.core.result import Ok
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from enrollpay.payments.gateway.signatures import webhook_signature
from tests.conftest import full_size
from tests.contract.conftest import (
    API,
    SeededApi,
    new_learner,
    openapi_document,
    reset_rate_limits,
)
from tests.enrollments.helpers import SANDBOX

# The size knob: examples per operation per database. Small keeps CI within ~60 s a database.
EXAMPLES_PER_OPERATION = 300 if full_size() else 6

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
]

schema = schemathesis.openapi.from_dict(openapi_document())

# (backend, operation) -> the statuses it answered: what the fuzzing reached, checked below.
STATUSES: dict[tuple[str, str], list[int]] = {}

WEBHOOK_PATH = "/api/v1/webhooks/razorpay"
ADMIN_PREFIX = "/api/v1/admin/"
PLATFORM_PREFIX = "/api/v1/platform/"


def _id_pool_name(path: str, parameter: str) -> str:
    if parameter == "external_id":
        return "learner_external_id" if "/learners/" in path else "course_external_id"
    return parameter


def _callers(case: Any, api: SeededApi) -> list[dict[str, str]]:
    """Whom to send this operation as; the first is the caller the operation is meant for."""
    path = case.operation.path
    anonymous: dict[str, str] = {}
    if path.startswith(ADMIN_PREFIX):
        return [api.admin, anonymous, api.learner]
    if path.startswith(PLATFORM_PREFIX):
        return [api.platform, anonymous, api.admin]
    if not case.operation.definition.raw.get("security"):
        return [anonymous]
    return [api.learner, api.on_behalf, anonymous, api.platform]


def _chooser(case: Any) -> random.Random:
    """The choices below, seeded by the generated case itself: the same case gets the same
    choices (reproducible), different cases different ones. (`@schema.given(st.data())` would be
    neater, but schemathesis refuses it for operations with schema examples.)"""
    generated = (case.operation.label, case.path_parameters, case.query, case.headers, case.body)
    return random.Random(zlib.crc32(repr(generated).encode()))


def _aim_at_real_objects(case: Any, api: SeededApi, choose: random.Random) -> None:
    """Sometimes replace a generated path id, or an id in the body, with a seeded object's."""
    for name in list(case.path_parameters or {}):
        pool = api.ids.get(_id_pool_name(case.operation.path, name))
        if pool and choose.random() < 0.5:
            case.path_parameters[name] = choose.choice(pool)
    if isinstance(case.body, dict):
        for name in ("course_id", "enrollment_id", "coupon_code", "platform_id"):
            pool = api.ids.get(name)
            if name in case.body and pool and choose.random() < 0.5:
                case.body[name] = choose.choice(pool)


def _sign_webhook(api: SeededApi, kwargs: dict[str, Any], choose: random.Random) -> None:
    """Half the deliveries get the real signature (and an event id), so the fuzzed bodies reach
    past the signature check into storing and parsing."""
    if "json" not in kwargs or choose.random() >= 0.5:
        return
    raw = json.dumps(kwargs.pop("json")).encode()
    secret = api.client.app.state.sandbox_config.webhook_secret  # type: ignore[attr-defined]
    kwargs["data"] = raw
    kwargs["headers"] = {
        **kwargs["headers"],
        "Content-Type": "application/json",
        "X-Razorpay-Signature": webhook_signature(raw, secret),
        "X-Razorpay-Event-Id": f"EvtFuzz{choose.getrandbits(48):012x}",
    }


def _send(api: SeededApi, kwargs: dict[str, Any]) -> Any:
    """Schemathesis' requests-style arguments, sent with the TestClient (httpx) of the app."""
    body: dict[str, Any] = {}
    if "json" in kwargs:
        body["json"] = kwargs["json"]
    data = kwargs.get("data")
    if isinstance(data, str | bytes):
        body["content"] = data
    elif data is not None:
        body["data"] = data
    if kwargs.get("files") is not None:
        body["files"] = kwargs["files"]
    if kwargs.get("cookies"):
        # No operation documents a cookie today; per-request cookies are deprecated in httpx.
        raise AssertionError(f"cookies to send: {kwargs['cookies']}")
    return api.client.request(
        kwargs["method"],
        kwargs["url"],
        params=kwargs.get("params"),
        headers=kwargs.get("headers"),
        **body,
    )


@schema.parametrize()
@settings(
    max_examples=EXAMPLES_PER_OPERATION,
    deadline=None,
    derandomize=not full_size(),  # CI: the same cases each run; full size explores
    suppress_health_check=list(HealthCheck),
    database=None,
)
def test_every_operation_honours_its_documentation(case: Any, seeded_api: SeededApi) -> None:
    choose = _chooser(case)
    _aim_at_real_objects(case, seeded_api, choose)
    callers = _callers(case, seeded_api)
    # Mostly the intended caller; the others check the refusals are documented too.
    caller = choose.choice(callers) if choose.random() < 0.25 else callers[0]
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=caller)
    if case.operation.path == WEBHOOK_PATH:
        _sign_webhook(seeded_api, kwargs, choose)
    response = _send(seeded_api, kwargs)
    STATUSES.setdefault((seeded_api.backend, case.operation.label), []).append(response.status_code)
    case.validate_response(response, checks=CHECKS, headers=kwargs["headers"])


# ---- what the fuzzing reached, and the happy paths it rarely finds ---------------------------


def test_the_fuzzing_reached_every_operation_and_past_the_refusals(seeded_api: SeededApi) -> None:
    """Guards the fuzz test above against passing vacuously (every call a 401 or a 404): it
    ran after it, on the same database, so every operation must have been called, and most must
    have answered 2xx at least once (the rest need a multi-step setup: see the test below)."""
    reached = {
        op: codes for (backend, op), codes in STATUSES.items() if backend == seeded_api.backend
    }
    operations = {operation.label for operation in _operations()}
    if not reached:
        pytest.skip("the fuzz test did not run in this process (deselected)")
    if not os.environ.get("PYTEST_XDIST_WORKER"):  # `-n` spreads the operations over workers
        assert operations <= set(reached), sorted(operations - set(reached))
    succeeded = {op for op, codes in reached.items() if any(200 <= c < 300 for c in codes)}
    assert len(succeeded) >= len(reached) // 2, sorted(set(reached) - succeeded)


def _operations() -> list[Any]:
    operations = []
    for result in schema.get_all_operations():
        assert isinstance(result, Ok), result  # an operation schemathesis cannot read
        operations.append(result.ok())
    return operations


def _call(
    api: SeededApi,
    method: str,
    path: str,
    caller: dict[str, str],
    *,
    body: Any = NOT_SET,
    expect: tuple[int, ...] = (200, 201, 202),
    **path_parameters: str,
) -> dict[str, Any]:
    """One realistic call, checked like every fuzzed one, that must succeed."""
    operation = schema[API + path][method]
    case = operation.Case(path_parameters=path_parameters or None, body=body)
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers=caller)
    response = _send(api, kwargs)
    case.validate_response(response, checks=CHECKS, headers=kwargs["headers"])
    assert response.status_code in expect, response.text
    answer: dict[str, Any] = response.json()
    return answer


def _paid_enrollment(api: SeededApi, caller: dict[str, str], course_id: str) -> str:
    started = _call(api, "POST", "/enrollments/initialize", caller, body={"course_id": course_id})
    enrollment_id: str = started["enrollment_id"]
    order_id = started["payment_session"]["razorpay_order_id"]
    # Paying happens in Razorpay (the sandbox's control API here), not in our contract.
    paid = api.client.post(
        f"{SANDBOX}/orders/{order_id}/pay",
        json={"outcome": "success", "method": "upi", "webhooks": False},
    )
    assert paid.status_code == 200, paid.text
    fields = ("razorpay_payment_id", "razorpay_order_id", "razorpay_signature")
    verified = _call(
        api,
        "POST",
        "/enrollments/{enrollment_id}/verify-payment",
        caller,
        body={name: paid.json()[name] for name in fields},
        enrollment_id=enrollment_id,
    )
    assert verified["enrollment_status"] == "enrolled", verified
    return enrollment_id


def test_the_success_paths_match_the_documentation(seeded_api: SeededApi) -> None:
    """The 2xx answers random data seldom reaches — creating things, a whole paid checkout,
    refunds, signed webhooks, password changes — each checked against the document too."""
    api, admin, tag = seeded_api, seeded_api.admin, seeded_api.backend.upper()
    reset_rate_limits(api)
    learner = new_learner(api, f"fresh-{tag.lower()}@example.com")
    course = _call(
        api,
        "POST",
        "/admin/courses",
        admin,
        body={"title": "Contract course", "price": 4999, "status": "published"},
    )
    other_course = _call(
        api,
        "POST",
        "/admin/courses",
        admin,
        body={"title": "Another course", "price": 2500, "status": "published"},
    )
    _call(
        api,
        "PATCH",
        "/admin/courses/{course_id}",
        admin,
        body={"capacity": 50},
        course_id=course["id"],
    )
    _call(
        api,
        "POST",
        "/admin/coupons",
        admin,
        body={"code": f"REAL-{tag}", "discount_type": "flat", "discount_value": 500},
    )

    # A platform's learner, on behalf of whom its key enrolls and pays; then an admin refund.
    # (A platform of its own: the fuzzing may have deactivated the seeded one.)
    platform = _call(api, "POST", "/admin/platforms", admin, body={"name": f"LMS {tag}"})
    created = _call(
        api,
        "POST",
        "/admin/platforms/{platform_id}/api-keys",
        admin,
        body={"name": "contract"},
        platform_id=platform["id"],
    )
    key, learner_id = {"Authorization": f"Bearer {created['key']}"}, f"lms-real-{tag.lower()}"
    _call(
        api,
        "PUT",
        "/platform/learners/{external_id}",
        key,
        body={"email": f"{learner_id}@learners.example.com", "full_name": "Ravi Kumar"},
        external_id=learner_id,
    )
    _call(
        api,
        "PUT",
        "/platform/courses/{external_id}",
        key,
        body={"title": "Synced again", "price": 2999},
        external_id=f"lms-course-{tag}",
    )
    on_behalf = {**key, "X-On-Behalf-Of": learner_id}
    enrollment_id = _paid_enrollment(api, on_behalf, course["id"])
    _call(api, "GET", "/courses/{course_id}/access", on_behalf, course_id=course["id"])
    _call(
        api,
        "PUT",
        "/courses/{course_id}/progress",
        on_behalf,
        body={"progress": 40},
        course_id=course["id"],
    )
    _call(
        api,
        "POST",
        "/admin/enrollments/{enrollment_id}/refund",
        admin,
        body={"reason": "contract test"},
        enrollment_id=enrollment_id,
    )

    # The learner: pays and asks for a refund; starts another and cancels it.
    paid = _paid_enrollment(api, learner, other_course["id"])
    _call(api, "GET", "/enrollments/{enrollment_id}/payment-status", learner, enrollment_id=paid)
    _call(
        api,
        "POST",
        "/enrollments/{enrollment_id}/refund",
        learner,
        body={"reason": "changed my mind"},
        enrollment_id=paid,
    )
    fresh = _call(
        api,
        "POST",
        "/admin/courses",
        admin,
        body={"title": "Third", "price": 999, "status": "published"},
    )
    pending = _call(
        api, "POST", "/enrollments/initialize", learner, body={"course_id": fresh["id"]}
    )["enrollment_id"]
    _call(
        api,
        "POST",
        "/enrollments/{enrollment_id}/cancel",
        learner,
        body={"reason": "later"},
        enrollment_id=pending,
    )

    # An admin grant, and outbound webhooks.
    me = _call(api, "GET", "/me", learner)
    _call(
        api,
        "POST",
        "/admin/enrollments",
        admin,
        body={"user_id": me["id"], "course_id": fresh["id"], "reason": "scholarship"},
    )
    endpoint = _call(
        api,
        "POST",
        "/admin/webhook-endpoints",
        admin,
        body={"url": f"https://hooks.example.com/{tag.lower()}"},
    )
    _call(
        api,
        "POST",
        "/admin/webhook-endpoints/{endpoint_id}/test",
        admin,
        endpoint_id=endpoint["id"],
    )
    _call(
        api,
        "POST",
        "/admin/webhook-endpoints/{endpoint_id}/rotate-secret",
        admin,
        endpoint_id=endpoint["id"],
    )

    # Accounts: sign up, log in, change the password.
    email, password = f"new-{tag.lower()}@example.com", "a long enough password 1"
    _call(
        api,
        "POST",
        "/auth/signup",
        {},
        body={"email": email, "password": password, "full_name": "New Learner"},
    )
    token = _call(api, "POST", "/auth/login", {}, body={"email": email, "password": password})
    _call(
        api,
        "POST",
        "/auth/password",
        {"Authorization": f"Bearer {token['access_token']}"},
        body={"current_password": password, "new_password": password + " changed"},
    )


def test_a_signed_webhook_is_acknowledged_as_documented(seeded_api: SeededApi) -> None:
    reset_rate_limits(seeded_api)
    operation = schema[WEBHOOK_PATH]["POST"]
    case = operation.Case(body={"event": "payment.captured", "payload": {}})
    kwargs = case.as_transport_kwargs(base_url="http://testserver", headers={})
    _sign_webhook(seeded_api, kwargs, _Always())
    response = _send(seeded_api, kwargs)
    case.validate_response(response, checks=CHECKS, headers=kwargs["headers"])
    assert response.status_code == 200, response.text


class _Always(random.Random):
    """A chooser that always takes the first branch (random() == 0)."""

    def random(self) -> float:
        return 0.0


# ---- the checks themselves --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "failure"),
    [
        (200, {"not": "a user"}, "JsonSchemaError"),
        (500, {"error": {"code": "x", "message": "m", "hint": None, "details": {}}}, "ServerError"),
        (418, {}, "UndefinedStatusCode"),
        (200, b"<html></html>", "UndefinedContentType"),
    ],
)
def test_the_checks_catch_a_response_that_breaks_the_document(
    status: int, body: Any, failure: str
) -> None:
    """The suite cannot pass vacuously: made-up wrong answers to GET /me fail the checks."""
    request = httpx.Request("GET", "http://testserver/api/v1/me")
    if isinstance(body, bytes):
        response = httpx.Response(status, content=body, headers={"content-type": "text/html"})
    else:
        response = httpx.Response(status, json=body)
    response.request = request
    response.elapsed = timedelta(0)
    with pytest.raises(FailureGroup) as caught:
        schema[f"{API}/me"]["GET"].Case().validate_response(response, checks=CHECKS)
    assert [type(f).__name__ for f in caught.value.exceptions] == [failure]


def test_a_nul_character_is_invalid_input_on_postgresql_not_a_500(seeded_api: SeededApi) -> None:
    """Found by this fuzzing: PostgreSQL text cannot hold U+0000, which was a 500 there."""
    response = seeded_api.client.post(
        f"{API}/admin/platforms", json={"name": "Nul\u0000LMS"}, headers=seeded_api.admin
    )
    if seeded_api.backend == "postgresql":
        assert response.status_code == 422, response.text
        assert response.json()["error"]["code"] == "validation_error"
    else:  # SQLite stores it like any other character
        assert response.status_code == 201, response.text
