"""The admin inbox API (SPEC §4.5): list with filters and cursors, one event with its raw body,
and replay — which, on events already processed, provably changes nothing (a whole sandbox
journey is snapshotted before and after), and which re-processes an event that had failed."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
import stamina
from sqlalchemy import select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse
from starlette.routing import Route

from enrollpay.db.base import Base
from enrollpay.db.engine import Database
from enrollpay.jobs.models import Job
from enrollpay.payments.models import PaymentEvent
from enrollpay.users.models import Role
from enrollpay.webhooks.models import WebhookEvent
from enrollpay.webhooks.service import PROCESS_EVENT_JOB
from tests.conftest import assert_error
from tests.courses.factories import create_course
from tests.e2e.conftest import serve_asgi
from tests.enrollments.helpers import API, drain_jobs, initialize, pay, payment_status
from tests.enrollments.helpers import sandbox_control as control
from tests.webhooks.conftest import FactRecorder, deliver, encode, inbox, sample

INBOX = f"{API}/admin/webhook-events"
# Everything a journey writes that a replay must leave alone, compared row by row.
UNTOUCHED_TABLES = (
    "enrollments",
    "payments",
    "payment_attempts",
    "refunds",
    "disputes",
    "email_messages",
    "outbound_messages",
    "outbound_deliveries",
)
# What processing an event again may change on its inbox row.
REPLAY_COLUMNS = {"replays", "attempts", "outcome", "processed_at"}


@pytest.fixture(autouse=True)
def _no_backoff_waits():
    with stamina.set_testing(True, attempts=2, cap=True):
        yield


@pytest.fixture
async def admin(make_user):
    return await make_user(role=Role.admin, email="admin@example.com", password=None)


@pytest.fixture
def receiver() -> Iterator[tuple[str, list[str]]]:
    """A platform's webhook URL (a real HTTP server) and the bodies it received."""
    received: list[str] = []
    lock = threading.Lock()

    async def handle(request: Request) -> PlainTextResponse:
        body = (await request.body()).decode()
        with lock:
            received.append(body)
        return PlainTextResponse("ok")

    app = Starlette(routes=[Route("/hook", handle, methods=["POST"])])
    with serve_asgi(app) as base_url:
        yield f"{base_url}/hook", received


async def table_rows(db: Database, name: str) -> list[dict[str, Any]]:
    table = Base.metadata.tables[name]
    async with db.sessionmaker() as session:
        result = await session.execute(select(table).order_by(*table.primary_key.columns))
        return [dict(row._mapping) for row in result]


async def state_of(db: Database) -> dict[str, list[dict[str, Any]]]:
    return {name: await table_rows(db, name) for name in UNTOUCHED_TABLES}


async def replay(client, headers, inbox_id: str) -> dict[str, Any]:
    response = await client.post(f"{INBOX}/{inbox_id}/replay", headers=headers)
    assert response.status_code == 202, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_replaying_processed_events_changes_nothing(
    client, db, settings, admin, make_user, receiver
):
    admin_user, admin_headers = admin
    hook_url, received = receiver
    created = await client.post(
        f"{API}/admin/webhook-endpoints", json={"url": hook_url}, headers=admin_headers
    )
    assert created.status_code == 201, created.text
    course = await create_course(client, admin_headers, price=4999, refund_window_days=7)
    _, headers = await make_user(password=None)

    # The journey: paid in Checkout, the browser never reports back, the webhooks enroll; then a
    # refund that Razorpay completes by webhook.
    started = (await initialize(client, headers, course["id"])).json()
    enrollment_id = started["enrollment_id"]
    await pay(client, started["payment_session"]["razorpay_order_id"], webhooks=True)
    await drain_jobs(db, settings)
    assert (await payment_status(client, headers, enrollment_id))["enrollment_status"] == "enrolled"
    refund = await client.post(
        f"{API}/enrollments/{enrollment_id}/refund", json={"reason": "not for me"}, headers=headers
    )
    assert refund.status_code == 201, refund.text
    await drain_jobs(db, settings)
    await control(
        client,
        "POST",
        f"/refunds/{refund.json()['razorpay_refund_id']}/settle",
        outcome="processed",
        webhooks=True,
    )
    await drain_jobs(db, settings)

    rows = await inbox(db)
    assert [row.event for row in rows] == [
        "payment.authorized",
        "payment.captured",
        "order.paid",
        "refund.created",
        "refund.processed",
    ]
    assert {row.status for row in rows} == {"processed"}
    before = await state_of(db)
    assert [r["status"] for r in before["refunds"]] == ["processed"]
    assert sorted(m["kind"] for m in before["email_messages"]) == [
        "enrollment_confirmed",
        "refund_processed",
    ]
    assert len(before["outbound_messages"]) == 2  # enrollment.enrolled, enrollment.refunded
    assert {d["status"] for d in before["outbound_deliveries"]} == {"delivered"}
    events_before = await table_rows(db, "payment_events")
    jobs_before = await table_rows(db, "jobs")
    announced = len(received)

    for row in rows:
        answer = await replay(client, admin_headers, row.id)
        assert (answer["id"], answer["status"], answer["replays"]) == (row.id, "pending", 1)
        assert answer["outcome"] is None and answer["raw_body"] == row.raw_body
    await drain_jobs(db, settings)

    assert await state_of(db) == before
    assert len(received) == announced
    events_after = await table_rows(db, "payment_events")
    assert events_after[: len(events_before)] == events_before
    new_events = events_after[len(events_before) :]
    # The three payment events' facts, seen again and recorded as changing nothing: the
    # authorization is older than the capture (stale), the captures repeat one (duplicate).
    assert [(e["reference"], e["status"], e["outcome"]) for e in new_events] == [
        (rows[0].event_id, "authorized", "stale"),
        (rows[1].event_id, "captured", "duplicate"),
        (rows[2].event_id, "captured", "duplicate"),
    ]
    # The only new jobs are the replays' processing runs, all done; no job was touched.
    jobs_after = await table_rows(db, "jobs")
    known = {job["id"] for job in jobs_before}
    assert [job for job in jobs_after if job["id"] in known] == jobs_before
    new_jobs = [job for job in jobs_after if job["id"] not in known]
    assert len(new_jobs) == len(rows)
    assert {(j["kind"], j["status"]) for j in new_jobs} == {(PROCESS_EVENT_JOB, "done")}
    assert {j["payload"]["inbox_id"] for j in new_jobs} == {row.id for row in rows}

    after = {row.id: row for row in await inbox(db)}
    for row in rows:
        again = after[row.id]
        assert (again.status, again.replays, again.attempts) == ("processed", 1, row.attempts + 1)
        assert again.processed_at is not None and again.processed_at >= row.processed_at
        unchanged = set(WebhookEvent.__table__.columns.keys()) - REPLAY_COLUMNS
        assert {c: getattr(again, c) for c in unchanged} == {c: getattr(row, c) for c in unchanged}
    assert "duplicate" in after[rows[1].id].outcome
    assert after[rows[4].id].outcome.endswith("unchanged (processed)")

    trail = await client.get(
        f"{API}/admin/audit-log", params={"action": "webhook_event.replay"}, headers=admin_headers
    )
    actions = trail.json()["items"][::-1]  # oldest first, like rows
    assert [(a["actor_id"], a["target_type"], a["target_id"]) for a in actions] == [
        (admin_user.id, "webhook_event", row.id) for row in rows
    ]
    assert actions[0]["details"] == {
        "event": "payment.authorized",
        "event_id": rows[0].event_id,
        "replay": 1,
    }


async def test_a_replay_processes_an_event_that_had_failed(
    client, db, settings, admin, make_user, monkeypatch
):
    _, admin_headers = admin
    course = await create_course(client, admin_headers, price=4999)
    _, headers = await make_user(password=None)
    started = (await initialize(client, headers, course["id"])).json()
    enrollment_id = started["enrollment_id"]

    # Every processing attempt fails (a bug, say) until the job gives up: the rows end failed.
    with monkeypatch.context() as patch:
        patch.setattr(
            "enrollpay.payments.service.record_gateway_fact", FactRecorder(fail_times=10_000)
        )
        await pay(client, started["payment_session"]["razorpay_order_id"], webhooks=True)
        await drain_jobs(db, settings)
    rows = {row.event: row for row in await inbox(db)}
    captured = rows["payment.captured"]
    assert (captured.status, captured.outcome) == ("failed", "gave up after repeated errors")
    assert captured.last_error.startswith("RuntimeError: database hiccup")
    assert (await payment_status(client, headers, enrollment_id))["enrollment_status"] == "pending"

    # The bug is fixed (the patch is gone): the admin replays the capture.
    answer = await replay(client, admin_headers, captured.id)
    assert (answer["status"], answer["replays"]) == ("pending", 1)
    await drain_jobs(db, settings)

    rows = {row.event: row for row in await inbox(db)}
    assert rows["payment.captured"].status == "processed"
    assert "applied" in rows["payment.captured"].outcome
    assert rows["order.paid"].status == "failed"  # not replayed: left as it was
    status = await payment_status(client, headers, enrollment_id)
    assert (status["enrollment_status"], status["payment_status"]) == ("enrolled", "completed")
    async with db.sessionmaker() as session:
        applied = await session.scalar(
            select(PaymentEvent).where(PaymentEvent.reference == captured.event_id)
        )
        dead = list(
            (await session.scalars(select(Job.status).where(Job.kind == PROCESS_EVENT_JOB))).all()
        )
    assert applied is not None and applied.outcome == "applied"
    assert dead.count("dead") == 3 and dead.count("done") == 1  # the first runs stay dead


async def test_list_filter_page_and_show(client, db, admin, make_user):
    _, admin_headers = admin
    captured = sample("payment.captured", payment={"id": "pay_A", "order_id": "order_A"})
    failed = sample("payment.failed", payment={"id": "pay_B", "order_id": "order_B"})
    paid = sample(
        "order.paid", payment={"id": "pay_A", "order_id": "order_A"}, order={"id": "order_A"}
    )
    for event_id, document in (("E1", captured), ("E2", failed), ("E3", paid)):
        assert (await deliver(client, document, event_id=event_id)).status_code == 200
    assert (await deliver(client, b"not json", event_id="E4")).status_code == 200

    async def event_ids(**query: Any) -> list[str]:
        response = await client.get(INBOX, params=query, headers=admin_headers)
        assert response.status_code == 200, response.text
        return [item["event_id"] for item in response.json()["items"]]

    assert await event_ids() == ["E4", "E3", "E2", "E1"]  # newest first
    assert await event_ids(status="failed") == ["E4"]  # unusable body: failed at once
    assert await event_ids(status="pending") == ["E3", "E2", "E1"]
    assert await event_ids(event="payment.failed") == ["E2"]
    assert await event_ids(razorpay_payment_id="pay_A") == ["E3", "E1"]
    assert await event_ids(razorpay_order_id="order_B") == ["E2"]
    assert await event_ids(razorpay_payment_id="pay_A", event="order.paid") == ["E3"]

    first = (await client.get(INBOX, params={"limit": 3}, headers=admin_headers)).json()
    assert [item["event_id"] for item in first["items"]] == ["E4", "E3", "E2"]
    rest = await client.get(
        INBOX, params={"limit": 3, "cursor": first["next_cursor"]}, headers=admin_headers
    )
    assert [i["event_id"] for i in rest.json()["items"]] == ["E1"]
    assert rest.json()["next_cursor"] is None
    summary = first["items"][1]
    assert "raw_body" not in summary and "headers" not in summary

    detail = await client.get(f"{INBOX}/{summary['id']}", headers=admin_headers)
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert body["raw_body"].encode() == encode(paid)  # exactly the bytes received
    assert (body["event"], body["status"], body["body_encoding"]) == (
        "order.paid",
        "pending",
        "utf-8",
    )
    assert body["headers"]["x-razorpay-event-id"] == "E3"
    assert json.loads(body["raw_body"])["payload"]["order"]["entity"]["id"] == "order_A"

    # Unknown ids, bad filters and the wrong callers.
    assert_error(await client.get(f"{INBOX}/whk_nope", headers=admin_headers), 404, "not_found")
    assert_error(await client.get(f"{INBOX}/E3", headers=admin_headers), 404, "not_found")
    assert_error(
        await client.post(f"{INBOX}/whk_nope/replay", headers=admin_headers), 404, "not_found"
    )
    assert_error(
        await client.get(INBOX, params={"status": "done"}, headers=admin_headers),
        422,
        "validation_error",
    )
    assert_error(
        await client.get(INBOX, params={"cursor": "job_1"}, headers=admin_headers),
        422,
        "validation_error",
    )
    _, learner_headers = await make_user(password=None)
    assert_error(await client.get(INBOX, headers=learner_headers), 403, "forbidden")
    assert_error(
        await client.get(f"{INBOX}/{summary['id']}", headers=learner_headers), 403, "forbidden"
    )
    assert_error(
        await client.post(f"{INBOX}/{summary['id']}/replay", headers=learner_headers),
        403,
        "forbidden",
    )
    assert_error(await client.get(INBOX), 401, "unauthenticated")
    row = next(row for row in await inbox(db) if row.id == summary["id"])
    assert (row.replays, row.status) == (0, "pending")  # the refused replay did nothing
