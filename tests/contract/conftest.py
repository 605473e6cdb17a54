"""A running app per database for the schemathesis contract suite, seeded once with realistic
data: an admin, two learners, published courses, a coupon, a platform with API keys and a synced
learner and course, a paid and a pending enrollment, an outbound webhook endpoint, and the jobs
and deliveries these leave behind.

The app runs under Starlette's TestClient (its own event loop in a thread, with the lifespan), so
the synchronous Hypothesis tests schemathesis generates drive the real ASGI app in process; async
arranging code runs on that same loop through `client.portal`. One app per database for the whole
module (not per operation): re-seeding per operation would cost more than the fuzzing itself."""

from __future__ import annotations

import os
import tempfile
import warnings
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

with warnings.catch_warnings():
    # Starlette suggests httpx2 for its TestClient; httpx is what the project uses.
    warnings.filterwarnings("ignore", message="Using `httpx` with `starlette.testclient`")
    from starlette.testclient import TestClient

from enrollpay.app import create_app
from enrollpay.config import Settings
from enrollpay.users.models import Role
from tests.conftest import (
    MigratedDatabase,
    empty_all_tables,
    make_settings,
    user_with_headers,
)
from tests.enrollments.helpers import SANDBOX, drain_jobs

API = "/api/v1"
PLATFORM_LEARNER = "lms-learner-1"
PLATFORM_COURSE = "lms-course-1"


def _backends() -> list[str]:
    return ["sqlite"] + (["postgresql"] if os.environ.get("TEST_DATABASE_URL") else [])


@dataclass
class SeededApi:
    """The app under test, the credentials of each kind of caller, and real ids to aim at."""

    backend: str
    client: TestClient
    settings: Settings
    admin: dict[str, str]
    learner: dict[str, str]
    platform: dict[str, str]  # an API key's Authorization header
    on_behalf: dict[str, str]  # the key plus X-On-Behalf-Of one of its learners
    ids: dict[str, list[str]] = field(default_factory=dict)


def new_learner(api: SeededApi, email: str) -> dict[str, str]:
    """Auth headers of a new learner: one whose rate limits the fuzzing has not spent."""

    async def create() -> dict[str, str]:
        db = api.client.app.state.db  # type: ignore[attr-defined]
        _, headers = await user_with_headers(db, api.settings, email=email, full_name="Fresh")
        return headers

    assert api.client.portal is not None
    return api.client.portal.call(create)


def reset_rate_limits(api: SeededApi) -> None:
    """Forget every rate-limit counter (memory storage): the fuzzing spends the per-IP limits
    (all its calls come from one client address), which would refuse the calls that follow."""

    async def reset() -> None:
        await api.client.app.state.rate_limiter.storage.reset()  # type: ignore[attr-defined]

    assert api.client.portal is not None
    api.client.portal.call(reset)


def _ok(response: Any, *statuses: int) -> dict[str, Any]:
    assert response.status_code in (statuses or (200,)), response.text
    body: dict[str, Any] = response.json()
    return body


def _seed(client: TestClient, settings: Settings, backend: str) -> SeededApi:
    db = client.app.state.db  # type: ignore[attr-defined]

    async def users() -> dict[str, dict[str, str]]:
        headers = {}
        for name, role in [
            ("admin", Role.admin),
            ("learner", Role.learner),
            ("other", Role.learner),
        ]:
            _, headers[name] = await user_with_headers(
                db,
                settings,
                email=f"{name}@example.com",
                full_name=f"Contract {name.title()}",
                role=role,
            )
        return headers

    assert client.portal is not None
    people = client.portal.call(users)
    admin, learner, other = people["admin"], people["learner"], people["other"]

    def post(path: str, body: dict[str, Any], headers: dict[str, str], *ok: int) -> dict[str, Any]:
        return _ok(client.post(f"{API}{path}", json=body, headers=headers), *(ok or (201,)))

    course = post(
        "/admin/courses", {"title": "Python 101", "price": 4999, "status": "published"}, admin
    )
    second = post(
        "/admin/courses", {"title": "Rust 201", "price": 9999, "status": "published"}, admin
    )
    draft = post("/admin/courses", {"title": "Draft", "price": 100, "status": "draft"}, admin)
    coupon = post(
        "/admin/coupons",
        {"code": "SAVE10", "discount_type": "percent", "discount_value": 10},
        admin,
    )
    platform = post("/admin/platforms", {"name": "Acme LMS"}, admin)
    # The key the suite authenticates with is never offered to the fuzzer as a path id (revoking
    # it would turn every later platform call into a 401); the second one is fair game.
    key = post(f"/admin/platforms/{platform['id']}/api-keys", {"name": "suite"}, admin)["key"]
    spare_key = post(f"/admin/platforms/{platform['id']}/api-keys", {"name": "spare"}, admin)
    key_headers = {"Authorization": f"Bearer {key}"}
    _ok(
        client.put(
            f"{API}/platform/learners/{PLATFORM_LEARNER}",
            json={"email": "asha@learners.example.com", "full_name": "Asha Rao"},
            headers=key_headers,
        ),
        201,
    )
    synced = _ok(
        client.put(
            f"{API}/platform/courses/{PLATFORM_COURSE}",
            json={"title": "Synced course", "price": 1999},
            headers=key_headers,
        ),
        201,
    )
    endpoint = post(
        "/admin/webhook-endpoints", {"url": "https://hooks.example.com/enrollpay"}, admin
    )

    # A paid enrollment (with the coupon) and a pending one, through the sandbox checkout.
    paid = post(
        "/enrollments/initialize",
        {"course_id": course["id"], "coupon_code": "SAVE10"},
        learner,
        200,
        201,
    )
    order_id = paid["payment_session"]["razorpay_order_id"]
    payment = _ok(
        client.post(
            f"{SANDBOX}/orders/{order_id}/pay",
            json={"outcome": "success", "method": "upi", "webhooks": True},
        )
    )
    _ok(
        client.post(
            f"{API}/enrollments/{paid['enrollment_id']}/verify-payment",
            json={
                "razorpay_payment_id": payment["razorpay_payment_id"],
                "razorpay_order_id": payment["razorpay_order_id"],
                "razorpay_signature": payment["razorpay_signature"],
            },
            headers=learner,
        )
    )
    pending = post("/enrollments/initialize", {"course_id": second["id"]}, learner, 200, 201)
    others = post("/enrollments/initialize", {"course_id": course["id"]}, other, 200, 201)
    client.post(f"{API}/admin/webhook-endpoints/{endpoint['id']}/test", headers=admin)
    client.portal.call(drain_jobs, db, settings)

    def listed(path: str) -> list[str]:
        return [item["id"] for item in _ok(client.get(f"{API}{path}", headers=admin))["items"]]

    ids = {
        "course_id": [course["id"], second["id"], draft["id"], synced["id"]],
        "coupon_id": [coupon["id"]],
        "enrollment_id": [paid["enrollment_id"], pending["enrollment_id"], others["enrollment_id"]],
        "platform_id": [platform["id"]],
        "key_id": [spare_key["id"]],
        "endpoint_id": [endpoint["id"]],
        "job_id": listed("/admin/jobs"),
        "inbox_id": listed("/admin/webhook-events"),
        "delivery_id": listed("/admin/webhook-deliveries"),
        "flag_id": listed("/admin/risk-flags"),
        "coupon_code": ["SAVE10"],
        "learner_external_id": [PLATFORM_LEARNER],
        "course_external_id": [PLATFORM_COURSE],
    }
    return SeededApi(
        backend=backend,
        client=client,
        settings=settings,
        admin=admin,
        learner=learner,
        platform=key_headers,
        on_behalf={**key_headers, "X-On-Behalf-Of": PLATFORM_LEARNER},
        ids={name: values for name, values in ids.items() if values},
    )


@pytest.fixture(scope="module", params=_backends())
def seeded_api(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[SeededApi]:
    backend: str = request.param
    migrated: MigratedDatabase = request.getfixturevalue(f"_{backend}_database")
    empty_all_tables(migrated.engine)
    settings = make_settings(migrated.url, tmp_path_factory.mktemp(f"contract-{backend}"))
    app = create_app(settings)
    try:
        with TestClient(app, raise_server_exceptions=False, follow_redirects=False) as client:
            yield _seed(client, settings, backend)
    finally:
        empty_all_tables(migrated.engine)


def openapi_document() -> dict[str, Any]:
    """The app's OpenAPI document; building it touches no database."""
    settings = make_settings(
        "sqlite:///unused-by-the-openapi-document.db", Path(tempfile.gettempdir())
    )
    document: dict[str, Any] = create_app(settings).openapi()
    return document
