"""Replayed webhooks change nothing (SPEC §1.1, §4.1 "dedupe by X-Razorpay-Event-Id").

End to end with the real processing (no stand-in for `record_gateway_fact`): the sandbox pays
an order and delivers its signed webhooks, the worker processes them; then a correctly signed
delivery reusing a stored event id — with the same bytes, and with other bytes — and, after
a refund, the captured-payment event replayed (same id, a new id, an admin replay) must leave
the enrollment, payments, refunds, emails and platform messages as they were: no
re-enrollment, no second refund.

tests/webhooks/ checks ingest dedupe against a recording stand-in; this is the money view."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import func, select, text

from enrollpay.db.engine import Database
from enrollpay.payments.gateway.factory import gateway_credentials
from enrollpay.payments.gateway.signatures import webhook_signature
from enrollpay.webhooks import service as webhooks_service
from enrollpay.webhooks.models import WebhookEvent
from tests.courses.factories import create_course
from tests.enrollments.helpers import (
    API,
    auto_refund_jobs,
    drain_jobs,
    initialize,
    pay,
    sandbox_control,
    snapshot,
)
from tests.refunds.conftest import inbox_rows, refunds, sandbox_refunds

WEBHOOK = f"{API}/webhooks/razorpay"


@dataclass(frozen=True)
class MoneyView:
    """What a replay must never change (payment events may grow: duplicates are recorded)."""

    enrollment_status: str
    payments: tuple[tuple[str, str, str | None], ...]
    attempts: tuple[tuple[str, str], ...]
    refunds: tuple[tuple[str, str, int], ...]
    gateway_refunds: int
    auto_refund_jobs: int
    emails: tuple[tuple[str, int], ...]
    platform_messages: int


async def money_view(db: Database, enrollment_id: str, payment_id: str) -> MoneyView:
    shot = await snapshot(db, enrollment_id)
    async with db.sessionmaker() as session:
        emails = tuple(
            (kind, count)
            for kind, count in await session.execute(
                text("SELECT kind, COUNT(*) FROM email_messages GROUP BY kind ORDER BY kind")
            )
        )
        messages = await session.scalar(text("SELECT COUNT(*) FROM outbound_messages"))
    return MoneyView(
        shot.enrollment_status,
        shot.payments,
        shot.attempts,
        tuple((r.id, r.status, r.amount) for r in await refunds(db)),
        len(await sandbox_refunds(db, payment_id)),
        len(await auto_refund_jobs(db)),
        emails,
        messages or 0,
    )


async def deliver(client, settings, body: bytes, event_id: str) -> dict[str, Any]:
    secret = gateway_credentials(settings).webhook_secrets[0]
    response = await client.post(
        WEBHOOK,
        content=body,
        headers={
            "Content-Type": "application/json",
            "X-Razorpay-Signature": webhook_signature(body, secret),
            "X-Razorpay-Event-Id": event_id,
        },
    )
    assert response.status_code == 200, response.text
    ack: dict[str, Any] = response.json()
    return ack


async def inbox_count(db: Database) -> int:
    async with db.sessionmaker() as session:
        return await session.scalar(select(func.count()).select_from(WebhookEvent)) or 0


async def has_access(client, headers, course_id: str) -> bool:
    response = await client.get(f"{API}/courses/{course_id}/access", headers=headers)
    return bool(response.json()["has_access"])


async def test_replayed_and_reused_event_ids_change_nothing_before_and_after_a_refund(
    client, db, settings, admin_headers, make_user
):
    course = await create_course(client, admin_headers, price=4999, refund_window_days=7)
    _, headers = await make_user(password=None)
    started = await initialize(client, headers, course["id"])
    assert started.status_code == 201, started.text
    enrollment_id = started.json()["enrollment_id"]
    paid = await pay(client, started.json()["payment_session"]["razorpay_order_id"], webhooks=True)
    payment_id = paid["razorpay_payment_id"]
    await drain_jobs(db, settings)  # the sandbox delivers; the worker processes
    [captured] = await inbox_rows(db, "payment.captured")
    assert captured.status == "processed", (captured.status, captured.outcome)
    assert await has_access(client, headers, course["id"])
    raw = captured.body_bytes()
    enrolled = await money_view(db, enrollment_id, payment_id)
    assert enrolled.enrollment_status == "enrolled"

    # 1. The same event id with the same bytes: a duplicate, no row, no job.
    rows = await inbox_count(db)
    assert (await deliver(client, settings, raw, captured.event_id))["status"] == "duplicate"
    assert await inbox_count(db) == rows
    assert await drain_jobs(db, settings) == []

    # 2. The same event id with other bytes: a stale "failed" for the captured payment, and
    #    the same capture re-serialised. Kept under their own ids, processed, and ignored.
    document = json.loads(raw)
    failed = json.loads(raw)
    failed["event"] = "payment.failed"
    failed["payload"]["payment"]["entity"].update(
        status="failed", error_code="BAD_REQUEST_ERROR", error_description="Payment failed"
    )
    for other in (json.dumps(failed).encode(), json.dumps(document, indent=1).encode()):
        await deliver(client, settings, other, captured.event_id)
    await drain_jobs(db, settings)
    assert await money_view(db, enrollment_id, payment_id) == enrolled
    assert await has_access(client, headers, course["id"])

    # A refund ends access; Razorpay settles it.
    refund = await client.post(
        f"{API}/enrollments/{enrollment_id}/refund",
        json={"reason": "changed my mind"},
        headers=headers,
    )
    assert refund.status_code == 201, refund.text
    await drain_jobs(db, settings)
    [gateway_refund] = await sandbox_refunds(db, payment_id)
    await sandbox_control(
        client, "POST", f"/refunds/{gateway_refund.id}/settle", outcome="processed", webhooks=True
    )
    await drain_jobs(db, settings)
    refunded = await money_view(db, enrollment_id, payment_id)
    assert refunded.enrollment_status == "refunded"
    assert [r[1] for r in refunded.refunds] == ["processed"]
    assert not await has_access(client, headers, course["id"])

    # 3. The captured event replayed after the refund: same id (duplicate), a new id (the same
    #    capture told again), other bytes under the old id, and an admin's replay of the row.
    assert (await deliver(client, settings, raw, captured.event_id))["status"] == "duplicate"
    assert (await deliver(client, settings, raw, "EvtReplayAfterRefund1"))["status"] == "accepted"
    await deliver(client, settings, json.dumps(document, indent=2).encode(), captured.event_id)
    order_paid = await inbox_rows(db, "order.paid")
    async with db.transaction() as session:
        await webhooks_service.replay(session, captured.id)
        for row in order_paid:
            await webhooks_service.replay(session, row.id)
    await drain_jobs(db, settings)

    assert await money_view(db, enrollment_id, payment_id) == refunded
    assert not await has_access(client, headers, course["id"])
    status = await client.get(f"{API}/enrollments/{enrollment_id}/payment-status", headers=headers)
    assert (status.json()["enrollment_status"], status.json()["payment_status"]) == (
        "refunded",
        "refunded",
    )
    # Every replayed capture was seen and recorded, not dropped unprocessed.
    for row in await inbox_rows(db, "payment.captured"):
        assert row.status == "processed", (row.event_id, row.status, row.outcome)
