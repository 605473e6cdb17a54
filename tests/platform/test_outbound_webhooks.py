"""Outbound webhooks (SPEC §4.4) end to end on both databases: enrollment status changes made
through the API and the Razorpay sandbox, delivered by the real worker to a real HTTP receiver
(uvicorn on a free port), every request checked with the official `standardwebhooks` library;
retries, redelivery, secret rotation, subscriptions, platforms and the admin API."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select, update
from standardwebhooks.webhooks import Webhook, WebhookVerificationError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from enrollpay.db.engine import Database
from enrollpay.enrollments.expiry import expire_due
from enrollpay.enrollments.models import Enrollment
from enrollpay.kit.clock import utcnow
from enrollpay.kit.ids import new_id
from enrollpay.platform import outbound
from enrollpay.platform.models import Platform
from enrollpay.platform.outbound_models import (
    EventType,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)
from enrollpay.users.models import Role, User
from enrollpay.webhooks import service as webhooks_service
from tests.conftest import MakeUser, assert_error
from tests.courses.factories import create_course
from tests.e2e.conftest import serve_asgi
from tests.enrollments.helpers import (
    API,
    drain_jobs,
    initialize,
    pay,
    sandbox_control,
    verify,
)
from tests.webhooks.conftest import inbox

ADMIN = f"{API}/admin"
TOTAL = 589882  # 4999 + 18 % GST, paise


# ---- a real receiver -----------------------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: str
    answered: int

    @property
    def webhook_id(self) -> str:
        return self.headers["webhook-id"]


@dataclass
class Receiver:
    """Records every POST; `answers[path]` lists statuses to give first (then 200)."""

    base_url: str = ""
    received: list[Received] = field(default_factory=list)
    answers: dict[str, list[int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def url(self, path: str = "/hook") -> str:
        return self.base_url + path

    async def handle(self, request: Request) -> PlainTextResponse:
        body = (await request.body()).decode()
        with self._lock:
            queued = self.answers.get(request.url.path) or []
            status = queued.pop(0) if queued else 200
            self.received.append(Received(request.url.path, dict(request.headers), body, status))
        return PlainTextResponse(f"answered {status}", status_code=status)

    def at(self, path: str = "/hook") -> list[Received]:
        return [r for r in self.received if r.path == path]

    def delivered(self, path: str = "/hook") -> list[Received]:
        return [r for r in self.at(path) if 200 <= r.answered < 300]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    hooks = Receiver()
    app = Starlette(routes=[Route("/{path:path}", hooks.handle, methods=["POST"])])
    with serve_asgi(app) as base_url:
        hooks.base_url = base_url
        yield hooks


@pytest.fixture
def short_retries(monkeypatch: pytest.MonkeyPatch) -> None:
    """Retries due within drain_jobs' horizon instead of minutes or hours apart."""
    monkeypatch.setattr(outbound, "RETRY_DELAYS_SECONDS", (0.05, 0.05, 0.05))


@pytest.fixture
async def admin_headers(make_user: MakeUser) -> dict[str, str]:
    _, headers = await make_user(role=Role.admin, email="admin@example.com", password=None)
    return headers


def verified(received: Received, secret: str) -> dict[str, Any]:
    """The payload, after the official library accepted the signature and the timestamp."""
    payload: dict[str, Any] = Webhook(secret).verify(received.body, received.headers)
    return payload


async def add_endpoint(
    client: httpx.AsyncClient, admin_headers: dict[str, str], url: str, **fields: Any
) -> dict[str, Any]:
    response = await client.post(
        f"{ADMIN}/webhook-endpoints", json={"url": url, **fields}, headers=admin_headers
    )
    assert response.status_code == 201, response.text
    endpoint: dict[str, Any] = response.json()
    return endpoint


async def paid_enrollment(
    client: httpx.AsyncClient, headers: dict[str, str], course_id: str, *, webhooks: bool = False
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Initialize, pay in the sandbox, verify: (initialize's body, what Checkout got)."""
    started = (await initialize(client, headers, course_id)).json()
    paid = await pay(client, started["payment_session"]["razorpay_order_id"], webhooks=webhooks)
    response = await verify(client, headers, started["enrollment_id"], paid)
    assert response.json()["enrollment_status"] == "enrolled", response.text
    return started, paid


async def free_enrollment(
    client: httpx.AsyncClient, headers: dict[str, str], course_id: str
) -> str:
    response = await initialize(client, headers, course_id)
    assert response.status_code == 201 and response.json()["status"] == "enrolled", response.text
    enrollment_id: str = response.json()["enrollment_id"]
    return enrollment_id


async def rows(db: Database, model: type[Any], **where: Any) -> list[Any]:
    async with db.sessionmaker() as session:
        stmt = select(model).filter_by(**where).order_by(model.id)
        return list((await session.execute(stmt)).scalars())


async def count(db: Database, model: type[Any]) -> int:
    async with db.sessionmaker() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def join_platform(db: Database, user: User, platform_id: str, external_id: str) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(User)
            .where(User.id == user.id)
            .values(platform_id=platform_id, external_id=external_id)
        )


async def add_platform(db: Database, name: str) -> str:
    platform_id = new_id("plt")
    async with db.transaction() as session:
        session.add(Platform(id=platform_id, name=name, is_active=True))
    return platform_id


# ---- the events ----------------------------------------------------------------------------------


async def test_a_paid_enrollment_is_announced_once_though_its_capture_arrives_twice(
    client, db, settings, admin_headers, make_user, receiver
):
    endpoint = await add_endpoint(client, admin_headers, receiver.url())
    course = await create_course(client, admin_headers, price=4999, external_id="lms-course-7")
    learner, headers = await make_user(password=None)
    # Checkout's verify call and the sandbox's webhooks both report the same capture.
    started, paid = await paid_enrollment(client, headers, course["id"], webhooks=True)

    await drain_jobs(db, settings)

    assert {row.status for row in await inbox(db)} == {"processed"}  # the webhooks were applied
    [request] = receiver.received
    payload = verified(request, endpoint["secret"])
    assert payload["type"] == "enrollment.enrolled"
    data = payload["data"]
    assert data["enrollment_id"] == started["enrollment_id"] and data["status"] == "enrolled"
    assert (data["course_id"], data["course_external_id"]) == (course["id"], "lms-course-7")
    assert (data["user_id"], data["user_external_id"], data["platform_id"]) == (
        learner.id,
        None,
        None,
    )
    assert (data["total_payable"], data["currency"]) == (TOTAL / 100, "INR")
    assert data["payment"]["razorpay_payment_id"] == paid["razorpay_payment_id"]
    assert data["payment"]["razorpay_order_id"] == paid["razorpay_order_id"]
    assert data["enrolled_at"].endswith("Z") and payload["timestamp"].endswith("Z")
    assert data["expires_at"] is None  # the hold is over once enrolled
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"].startswith("enrollpay-webhooks/")
    assert abs(int(request.headers["webhook-timestamp"]) - utcnow().timestamp()) < 60
    # One message, and its body is the stored one, byte for byte.
    [message] = await rows(db, WebhookMessage)
    assert (message.id, message.body) == (request.webhook_id, request.body)


async def test_a_fact_recorded_twice_emits_one_event(client, db, admin_headers, make_user):
    await add_endpoint(client, admin_headers, "https://lms.example.com/hooks")
    course = await create_course(client, admin_headers, price=0)
    _, headers = await make_user(password=None)
    enrollment_id = await free_enrollment(client, headers, course["id"])
    async with db.transaction() as session:
        enrollment = await session.get(Enrollment, enrollment_id)
        assert enrollment is not None
        again = await outbound.record_enrollment_event(
            session, enrollment, EventType.enrollment_enrolled
        )
    assert again is None
    assert await count(db, WebhookMessage) == 1 and await count(db, WebhookDelivery) == 1


async def test_free_enrollment_has_no_payment(
    client, db, settings, admin_headers, make_user, receiver
):
    endpoint = await add_endpoint(client, admin_headers, receiver.url())
    course = await create_course(client, admin_headers, price=0)
    _, headers = await make_user(password=None)
    enrollment_id = await free_enrollment(client, headers, course["id"])
    await drain_jobs(db, settings)
    [request] = receiver.received
    data = verified(request, endpoint["secret"])["data"]
    assert (data["enrollment_id"], data["status"]) == (enrollment_id, "enrolled")
    assert (data["total_payable"], data["payment"]) == (0, None)


async def test_a_failed_payment_is_announced(
    client, db, settings, admin_headers, make_user, receiver
):
    endpoint = await add_endpoint(client, admin_headers, receiver.url())
    course = await create_course(client, admin_headers, price=4999)
    _, headers = await make_user(password=None)
    started = (await initialize(client, headers, course["id"])).json()
    order_id = started["payment_session"]["razorpay_order_id"]
    failed = await pay(client, order_id, outcome="failure", method="card", webhooks=True)

    await drain_jobs(db, settings)

    [request] = receiver.received
    payload = verified(request, endpoint["secret"])
    assert payload["type"] == "payment.failed"
    data = payload["data"]
    assert (data["enrollment_id"], data["status"]) == (started["enrollment_id"], "failed")
    assert data["failure_reason"]
    assert data["payment"]["razorpay_payment_id"] == failed["razorpay_payment_id"]
    assert data["payment"]["razorpay_order_id"] == order_id


async def test_cancel_expiry_and_refund_are_announced(
    client, db, settings, admin_headers, make_user, receiver
):
    endpoint = await add_endpoint(client, admin_headers, receiver.url())
    course = await create_course(client, admin_headers, price=4999, refund_window_days=7)
    _, canceller = await make_user(password=None)
    _, idler = await make_user(password=None)
    _, refunder = await make_user(password=None)

    cancelled = (await initialize(client, canceller, course["id"])).json()["enrollment_id"]
    response = await client.post(f"{API}/enrollments/{cancelled}/cancel", headers=canceller)
    assert response.status_code == 200, response.text

    expired = (await initialize(client, idler, course["id"])).json()["enrollment_id"]
    async with db.transaction() as session:
        await session.execute(
            update(Enrollment)
            .where(Enrollment.id == expired)
            .values(expires_at=utcnow() - timedelta(minutes=1))
        )
    assert await expire_due(db, now=utcnow()) == 1

    started, _ = await paid_enrollment(client, refunder, course["id"])
    refunded = started["enrollment_id"]
    response = await client.post(
        f"{API}/enrollments/{refunded}/refund", json={"reason": "changed my mind"}, headers=refunder
    )
    assert response.status_code in (201, 202), response.text

    await drain_jobs(db, settings)

    events = {
        (payload["type"], payload["data"]["enrollment_id"]): payload["data"]
        for payload in (verified(r, endpoint["secret"]) for r in receiver.received)
    }
    assert sorted(events) == sorted(
        [
            ("enrollment.cancelled", cancelled),
            ("enrollment.expired", expired),
            ("enrollment.enrolled", refunded),
            ("enrollment.refunded", refunded),
        ]
    )
    assert len(receiver.received) == 4
    assert events[("enrollment.cancelled", cancelled)]["cancelled_at"] is not None
    assert events[("enrollment.expired", expired)]["status"] == "expired"
    assert events[("enrollment.expired", expired)]["expires_at"] is not None
    refund = events[("enrollment.refunded", refunded)]["refund"]
    assert (refund["amount"], refund["currency"]) == (TOTAL / 100, "INR")


# ---- delivery: retries, redelivery, giving up ----------------------------------------------------


async def test_an_endpoint_that_fails_twice_gets_every_event_exactly_once(
    client, db, settings, admin_headers, make_user, receiver, short_retries
):
    endpoint = await add_endpoint(client, admin_headers, receiver.url())
    receiver.answers["/hook"] = [500, 500]
    first_course = await create_course(client, admin_headers, price=0)
    second_course = await create_course(client, admin_headers, price=0)
    _, headers = await make_user(password=None)
    await free_enrollment(client, headers, first_course["id"])
    await drain_jobs(db, settings)
    await free_enrollment(client, headers, second_course["id"])
    await drain_jobs(db, settings)

    first, second = (await rows(db, WebhookMessage))[:2]
    seen = [(r.webhook_id, r.answered) for r in receiver.received]
    assert seen == [(first.id, 500), (first.id, 500), (first.id, 200), (second.id, 200)]
    # Every try carries the same id and body, and a signature over its own timestamp.
    for request in receiver.received:
        verified(request, endpoint["secret"])
    assert {r.body for r in receiver.at() if r.webhook_id == first.id} == {first.body}
    assert Counter(r.webhook_id for r in receiver.delivered()) == {first.id: 1, second.id: 1}

    deliveries = await rows(db, WebhookDelivery)
    assert [(d.status, d.attempts, d.last_status_code) for d in deliveries] == [
        ("delivered", 3, 200),
        ("delivered", 1, 200),
    ]
    attempts = await rows(db, WebhookAttempt, delivery_id=deliveries[0].id)
    assert [a.status_code for a in attempts] == [500, 500, 200]
    assert [a.error for a in attempts] == ["HTTP 500", "HTTP 500", None]
    assert attempts[0].response_excerpt == "answered 500"
    assert all(a.duration_ms >= 0 for a in attempts)
    [endpoint_row] = await rows(db, WebhookEndpoint)
    assert endpoint_row.failing_since is None  # healthy again

    listed = await client.get(
        f"{ADMIN}/webhook-deliveries",
        params={"endpoint_id": endpoint["id"], "status": "delivered"},
        headers=admin_headers,
    )
    assert listed.status_code == 200, listed.text
    items = listed.json()["items"]
    assert [(d["message_id"], d["attempt_count"]) for d in items] == [(second.id, 1), (first.id, 3)]
    assert [a["status_code"] for a in items[1]["attempts"]] == [500, 500, 200]


async def test_a_delivery_gives_up_after_the_schedule_and_can_be_redelivered(
    client, db, settings, admin_headers, make_user, receiver, short_retries
):
    endpoint = await add_endpoint(client, admin_headers, receiver.url())
    receiver.answers["/hook"] = [503] * 4
    course = await create_course(client, admin_headers, price=0)
    _, headers = await make_user(password=None)
    await free_enrollment(client, headers, course["id"])
    await drain_jobs(db, settings)

    [delivery] = await rows(db, WebhookDelivery)
    assert (delivery.status, delivery.attempts, delivery.next_attempt_at) == ("failed", 4, None)
    failed = await client.get(
        f"{ADMIN}/webhook-deliveries", params={"status": "failed"}, headers=admin_headers
    )
    assert [d["id"] for d in failed.json()["items"]] == [delivery.id]
    [endpoint_row] = await rows(db, WebhookEndpoint)
    assert endpoint_row.failing_since is not None and endpoint_row.is_enabled

    response = await client.post(
        f"{ADMIN}/webhook-deliveries/{delivery.id}/redeliver", headers=admin_headers
    )
    assert response.status_code == 202, response.text
    assert response.json()["status"] == "pending"
    await drain_jobs(db, settings)

    assert len(receiver.received) == 5
    assert {r.webhook_id for r in receiver.received} == {delivery.message_id}
    verified(receiver.received[-1], endpoint["secret"])
    detail = await client.get(f"{ADMIN}/webhook-deliveries/{delivery.id}", headers=admin_headers)
    body = detail.json()
    assert (body["status"], body["attempt_count"]) == ("delivered", 5)
    assert [a["status_code"] for a in body["attempts"]] == [503, 503, 503, 503, 200]
    assert body["payload"]["type"] == "enrollment.enrolled"


async def test_an_endpoint_failing_for_days_or_gone_is_disabled(
    client, db, settings, admin_headers, make_user, receiver, short_retries
):
    failing = await add_endpoint(client, admin_headers, receiver.url("/failing"))
    gone = await add_endpoint(client, admin_headers, receiver.url("/gone"))
    receiver.answers["/failing"] = [500] * 10
    receiver.answers["/gone"] = [410]
    async with db.transaction() as session:
        await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == failing["id"])
            .values(failing_since=utcnow() - outbound.DISABLE_AFTER - timedelta(minutes=1))
        )
    course = await create_course(client, admin_headers, price=0)
    _, headers = await make_user(password=None)
    await free_enrollment(client, headers, course["id"])
    await drain_jobs(db, settings)

    # One try each: neither is retried.
    assert Counter(r.path for r in receiver.received) == {"/failing": 1, "/gone": 1}
    endpoints = {e.id: e for e in await rows(db, WebhookEndpoint)}
    assert not endpoints[failing["id"]].is_enabled and not endpoints[gone["id"]].is_enabled
    assert endpoints[gone["id"]].disabled_reason == "the endpoint answered 410 Gone"
    assert "5 days" in (endpoints[failing["id"]].disabled_reason or "")
    assert {d.status for d in await rows(db, WebhookDelivery)} == {"failed"}

    # Disabled endpoints get nothing new, and cannot be redelivered to or tested.
    other = await create_course(client, admin_headers, price=0)
    await free_enrollment(client, headers, other["id"])
    assert await count(db, WebhookDelivery) == 2
    delivery = (await rows(db, WebhookDelivery))[0]
    assert_error(
        await client.post(
            f"{ADMIN}/webhook-deliveries/{delivery.id}/redeliver", headers=admin_headers
        ),
        409,
        "invalid_state",
    )
    assert_error(
        await client.post(f"{ADMIN}/webhook-endpoints/{gone['id']}/test", headers=admin_headers),
        409,
        "invalid_state",
    )


# ---- secrets, subscriptions, platforms -----------------------------------------------------------


async def test_after_a_rotation_both_secrets_sign_until_the_overlap_ends(
    client, db, settings, admin_headers, receiver
):
    endpoint = await add_endpoint(client, admin_headers, receiver.url())
    old_secret = endpoint["secret"]
    rotated = await client.post(
        f"{ADMIN}/webhook-endpoints/{endpoint['id']}/rotate-secret", headers=admin_headers
    )
    assert rotated.status_code == 200, rotated.text
    new_secret = rotated.json()["secret"]
    assert new_secret.startswith("whsec_") and new_secret != old_secret
    assert rotated.json()["previous_secret_expires_at"] is not None

    sent = await client.post(
        f"{ADMIN}/webhook-endpoints/{endpoint['id']}/test", headers=admin_headers
    )
    assert sent.status_code == 202, sent.text
    await drain_jobs(db, settings)
    [during] = receiver.received
    assert during.webhook_id == sent.json()["message_id"]
    assert len(during.headers["webhook-signature"].split(" ")) == 2
    for secret in (old_secret, new_secret):
        assert verified(during, secret)["type"] == "endpoint.test"

    async with db.transaction() as session:
        await session.execute(
            update(WebhookEndpoint)
            .where(WebhookEndpoint.id == endpoint["id"])
            .values(previous_secret_expires_at=utcnow() - timedelta(seconds=1))
        )
    await client.post(f"{ADMIN}/webhook-endpoints/{endpoint['id']}/test", headers=admin_headers)
    await drain_jobs(db, settings)
    after = receiver.received[-1]
    assert len(after.headers["webhook-signature"].split(" ")) == 1
    assert verified(after, new_secret)["data"]["endpoint_id"] == endpoint["id"]
    with pytest.raises(WebhookVerificationError):
        verified(after, old_secret)


async def test_subscriptions_and_platforms_decide_who_hears_what(
    client, db, settings, admin_headers, make_user, receiver
):
    north = await add_platform(db, "North Academy")
    south = await add_platform(db, "South Academy")
    cancellations = await add_endpoint(
        client, admin_headers, receiver.url("/global"), event_types=["enrollment.cancelled"]
    )
    north_hook = await add_endpoint(
        client, admin_headers, receiver.url("/north"), platform_id=north
    )
    await add_endpoint(client, admin_headers, receiver.url("/south"), platform_id=south)
    free = await create_course(client, admin_headers, price=0)
    paid = await create_course(client, admin_headers, price=4999)
    northerner, north_headers = await make_user(password=None)
    await join_platform(db, northerner, north, "n-42")
    loner, loner_headers = await make_user(password=None)  # no platform: global endpoints only

    await free_enrollment(client, north_headers, free["id"])
    await free_enrollment(client, loner_headers, free["id"])
    for headers in (north_headers, loner_headers):
        started = (await initialize(client, headers, paid["id"])).json()
        cancel = f"{API}/enrollments/{started['enrollment_id']}/cancel"
        assert (await client.post(cancel, headers=headers)).status_code == 200

    await drain_jobs(db, settings)

    heard: Counter[tuple[str, str, str]] = Counter()
    for hook, path in ((cancellations, "/global"), (north_hook, "/north")):
        for request in receiver.at(path):
            payload = verified(request, hook["secret"])
            heard[(path, payload["type"], payload["data"]["user_id"])] += 1
    assert heard == {
        ("/global", "enrollment.cancelled", northerner.id): 1,
        ("/global", "enrollment.cancelled", loner.id): 1,
        ("/north", "enrollment.enrolled", northerner.id): 1,
        ("/north", "enrollment.cancelled", northerner.id): 1,
    }
    assert receiver.at("/south") == []
    north_event = verified(receiver.at("/north")[0], north_hook["secret"])["data"]
    assert (north_event["platform_id"], north_event["user_external_id"]) == (north, "n-42")


# ---- the admin API -------------------------------------------------------------------------------


async def test_admin_api_validates_and_shows_the_secret_only_when_made(
    client, db, admin_headers, make_user
):
    for url in (
        "http://lms.example.com/hooks",  # plain http off this machine
        "ftp://lms.example.com/hooks",
        "https://user:pw@lms.example.com/hooks",
        "lms.example.com/hooks",
    ):
        response = await client.post(
            f"{ADMIN}/webhook-endpoints", json={"url": url}, headers=admin_headers
        )
        assert_error(response, 422, "validation_error")
    for body in (
        {"url": "https://lms.example.com/hooks", "event_types": ["enrollment.unknown"]},
        {"url": "https://lms.example.com/hooks", "event_types": ["endpoint.test"]},
        {"url": "https://lms.example.com/hooks", "platform_id": "plt_nope"},
        {"url": "https://lms.example.com/hooks", "secret": "whsec_mine"},
    ):
        response = await client.post(f"{ADMIN}/webhook-endpoints", json=body, headers=admin_headers)
        assert_error(response, 422, "validation_error")

    local = await add_endpoint(client, admin_headers, "http://localhost:9000/hooks")
    created = await add_endpoint(
        client,
        admin_headers,
        "https://lms.example.com/hooks",
        description="LMS",
        event_types=["payment.failed", "payment.failed", "enrollment.enrolled"],
    )
    assert created["secret"].startswith("whsec_") and created["is_enabled"] is True
    assert created["event_types"] == ["payment.failed", "enrollment.enrolled"]

    one = await client.get(f"{ADMIN}/webhook-endpoints/{created['id']}", headers=admin_headers)
    assert one.status_code == 200 and "secret" not in one.json()
    listed = await client.get(f"{ADMIN}/webhook-endpoints", headers=admin_headers)
    assert [e["id"] for e in listed.json()["items"]] == [created["id"], local["id"]]
    assert all("secret" not in e for e in listed.json()["items"])

    patched = await client.patch(
        f"{ADMIN}/webhook-endpoints/{created['id']}",
        json={"url": "https://lms.example.com/v2/hooks", "event_types": [], "is_enabled": False},
        headers=admin_headers,
    )
    assert patched.status_code == 200, patched.text
    body = patched.json()
    assert (body["url"], body["event_types"], body["is_enabled"]) == (
        "https://lms.example.com/v2/hooks",
        [],
        False,
    )
    assert body["disabled_reason"] == "disabled by an admin"
    assert_error(
        await client.patch(
            f"{ADMIN}/webhook-endpoints/{created['id']}",
            json={"url": None},
            headers=admin_headers,
        ),
        422,
        "validation_error",
    )
    enabled = await client.patch(
        f"{ADMIN}/webhook-endpoints/{created['id']}",
        json={"is_enabled": True},
        headers=admin_headers,
    )
    assert enabled.json()["is_enabled"] is True and enabled.json()["disabled_reason"] is None

    for path in ("webhook-endpoints/whe_nope", "webhook-deliveries/wdl_nope"):
        assert_error(await client.get(f"{ADMIN}/{path}", headers=admin_headers), 404, "not_found")


async def test_admin_routes_refuse_learners_and_strangers(client, make_user):
    _, learner = await make_user(password=None)
    whe, wdl = new_id("whe"), new_id("wdl")
    routes = [
        ("POST", "webhook-endpoints", {"url": "https://lms.example.com/hooks"}),
        ("GET", "webhook-endpoints", None),
        ("GET", f"webhook-endpoints/{whe}", None),
        ("PATCH", f"webhook-endpoints/{whe}", {"is_enabled": False}),
        ("POST", f"webhook-endpoints/{whe}/rotate-secret", None),
        ("POST", f"webhook-endpoints/{whe}/test", None),
        ("GET", "webhook-deliveries", None),
        ("GET", f"webhook-deliveries/{wdl}", None),
        ("POST", f"webhook-deliveries/{wdl}/redeliver", None),
    ]
    for method, path, body in routes:
        response = await client.request(method, f"{ADMIN}/{path}", json=body, headers=learner)
        assert_error(response, 403, "forbidden")
        assert_error(
            await client.request(method, f"{ADMIN}/{path}", json=body), 401, "unauthenticated"
        )


async def test_a_lost_dispute_is_announced_as_refunded_once(
    client, db, settings, admin_headers, make_user, receiver
):
    endpoint = await add_endpoint(
        client, admin_headers, receiver.url(), event_types=["enrollment.refunded"]
    )
    course = await create_course(client, admin_headers, price=4999)
    _, headers = await make_user(password=None)
    started, paid = await paid_enrollment(client, headers, course["id"])

    lost = await sandbox_control(
        client, "POST", f"/payments/{paid['razorpay_payment_id']}/dispute", outcome="lost"
    )
    assert lost["events"] == ["payment.dispute.created", "payment.dispute.lost"]
    await drain_jobs(db, settings)
    # The decision processed again (a replay) revokes nothing more and announces nothing more.
    (row,) = [event for event in await inbox(db) if event.event == "payment.dispute.lost"]
    async with db.transaction() as session:
        await webhooks_service.replay(session, row.id)
    await drain_jobs(db, settings)

    [received] = receiver.received
    payload = verified(received, endpoint["secret"])
    assert payload["type"] == "enrollment.refunded"
    assert payload["data"]["enrollment_id"] == started["enrollment_id"]
    assert payload["data"]["status"] == "refunded"
