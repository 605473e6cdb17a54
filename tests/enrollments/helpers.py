"""Driving the checkout API in tests: initialize, pay in the sandbox, verify, read status."""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from enrollpay.config import Settings
from enrollpay.db.engine import Database
from enrollpay.enrollments.models import LIVE_STATUSES, Enrollment
from enrollpay.jobs.models import Job, JobStatus
from enrollpay.jobs.worker import JobOutcome, Worker
from enrollpay.kit.clock import utcnow
from enrollpay.payments.models import Payment, PaymentAttempt, PaymentEvent
from enrollpay.sandbox.models import SandboxOrder

API = "/api/v1"
SANDBOX = "/sandbox/razorpay/_sandbox"


async def initialize(
    client: httpx.AsyncClient, headers: dict[str, str], course_id: str, **body: Any
) -> httpx.Response:
    extra_headers = body.pop("extra_headers", {})
    return await client.post(
        f"{API}/enrollments/initialize",
        json={"course_id": course_id, **body},
        headers={**headers, **extra_headers},
    )


async def pay(client: httpx.AsyncClient, order_id: str, **body: Any) -> dict[str, Any]:
    """What Checkout's handler would get, paying through the sandbox's control API."""
    response = await client.post(
        f"{SANDBOX}/orders/{order_id}/pay",
        json={"outcome": "success", "method": "upi", "webhooks": False, **body},
    )
    assert response.status_code == 200, response.text
    paid: dict[str, Any] = response.json()
    return paid


async def verify(
    client: httpx.AsyncClient, headers: dict[str, str], enrollment_id: str, paid: dict[str, Any]
) -> httpx.Response:
    return await client.post(
        f"{API}/enrollments/{enrollment_id}/verify-payment",
        json={
            "razorpay_payment_id": paid["razorpay_payment_id"],
            "razorpay_order_id": paid["razorpay_order_id"],
            "razorpay_signature": paid["razorpay_signature"],
        },
        headers=headers,
    )


async def payment_status(
    client: httpx.AsyncClient, headers: dict[str, str], enrollment_id: str
) -> dict[str, Any]:
    response = await client.get(
        f"{API}/enrollments/{enrollment_id}/payment-status", headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def run_jobs(db: Database, settings: Settings, rounds: int = 20) -> None:
    worker = Worker(db, settings)
    for _ in range(rounds):
        if not await worker.run_once():
            return


# ---- the sandbox's control API and state ----------------------------------------------------


async def sandbox_control(
    client: httpx.AsyncClient, verb: str, path: str, /, **json: Any
) -> dict[str, Any]:
    response = await client.request(verb, f"{SANDBOX}{path}", json=json or None)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def set_webhooks(client: httpx.AsyncClient, **behaviour: Any) -> None:
    """POST /_sandbox/webhooks: `duplicate`, `shuffle`, `drop` for the next deliveries."""
    await sandbox_control(client, "POST", "/webhooks", **behaviour)


async def add_fault(client: httpx.AsyncClient, **fault: Any) -> None:
    """POST /_sandbox/faults: the next matching REST calls fail or are slowed."""
    await sandbox_control(client, "POST", "/faults", **fault)


async def clear_faults(client: httpx.AsyncClient) -> None:
    response = await client.delete(f"{SANDBOX}/faults")
    assert response.status_code == 200, response.text


def shorten_shuffle_window(app: Any, seconds: float = 0.05) -> None:
    """Shuffled deliveries land within `seconds` instead of the default two seconds."""
    config = dataclasses.replace(
        app.state.sandbox_app.state.config, webhook_shuffle_window_seconds=seconds
    )
    app.state.sandbox_app.state.config = config
    app.state.sandbox_config = config


async def sandbox_orders(db: Database, **where: Any) -> list[SandboxOrder]:
    """The sandbox's orders (its own table), e.g. `receipt=payment_id`."""
    async with db.sessionmaker() as session:
        stmt = select(SandboxOrder).filter_by(**where).order_by(SandboxOrder.created)
        return list((await session.execute(stmt)).scalars())


async def orders_of_enrollment(db: Database, enrollment_id: str) -> list[SandboxOrder]:
    return [o for o in await sandbox_orders(db) if o.notes.get("enrollment_id") == enrollment_id]


async def deliveries(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = (await sandbox_control(client, "GET", "/deliveries"))["items"]
    return items


# ---- our rows ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Snapshot:
    """Everything the checkout flow may write for one enrollment, to compare before/after."""

    enrollment_status: str
    payments: tuple[tuple[str, str, str | None], ...]  # (id, status, order id)
    attempts: tuple[tuple[str, str], ...]  # (razorpay payment id, status)
    events: int
    refund_jobs: int


async def snapshot(db: Database, enrollment_id: str) -> Snapshot:
    async with db.sessionmaker() as session:
        enrollment = await session.get(Enrollment, enrollment_id)
        assert enrollment is not None
        payments = list(
            (
                await session.execute(
                    select(Payment)
                    .where(Payment.enrollment_id == enrollment_id)
                    .order_by(Payment.id)
                )
            ).scalars()
        )
        ids = [p.id for p in payments]
        attempts = list(
            (
                await session.execute(
                    select(PaymentAttempt)
                    .where(PaymentAttempt.payment_id.in_(ids))
                    .order_by(PaymentAttempt.razorpay_payment_id)
                )
            ).scalars()
        )
        events = await session.scalar(
            select(func.count()).select_from(PaymentEvent).where(PaymentEvent.payment_id.in_(ids))
        )
    # After the session above has ended: on SQLite every transaction takes the write lock.
    refunds = await auto_refund_jobs(db, payment_ids=ids)
    return Snapshot(
        enrollment.status,
        tuple((p.id, p.status, p.razorpay_order_id) for p in payments),
        tuple((a.razorpay_payment_id, a.status) for a in attempts),
        events or 0,
        len(refunds),
    )


async def auto_refund_jobs(db: Database, payment_ids: list[str] | None = None) -> list[Job]:
    async with db.sessionmaker() as session:
        jobs = list(
            (await session.execute(select(Job).where(Job.kind == "payments.auto_refund"))).scalars()
        )
    if payment_ids is None:
        return jobs
    return [job for job in jobs if job.payload["payment_id"] in payment_ids]


async def payment_events(db: Database, enrollment_id: str) -> list[PaymentEvent]:
    async with db.sessionmaker() as session:
        stmt = (
            select(PaymentEvent)
            .join(Payment, Payment.id == PaymentEvent.payment_id)
            .where(Payment.enrollment_id == enrollment_id)
            .order_by(PaymentEvent.id)
        )
        return list((await session.execute(stmt)).scalars())


async def live_enrollments(db: Database, **where: Any) -> list[Enrollment]:
    async with db.sessionmaker() as session:
        stmt = (
            select(Enrollment)
            .filter_by(**where)
            .where(Enrollment.status.in_(LIVE_STATUSES))
            .order_by(Enrollment.id)
        )
        return list((await session.execute(stmt)).scalars())


async def drain_jobs(db: Database, settings: Settings, *, horizon: float = 0.5) -> list[JobOutcome]:
    """Run every due job one at a time (periodic schedules off, retries due at once) until none
    is due; jobs due within `horizon` seconds (shuffled webhook deliveries) are waited for."""
    worker = Worker(db, settings, concurrency=1)
    worker.jitter = lambda: 0.0
    ran: list[JobOutcome] = []
    for _ in range(300):
        outcomes = await worker.run_once(limit=1, schedules=False)
        if outcomes:
            ran += outcomes
            continue
        async with db.sessionmaker() as session:
            soon = await session.scalar(
                select(func.min(Job.run_at)).where(Job.status == JobStatus.pending)
            )
        if soon is None or soon > utcnow() + timedelta(seconds=horizon):
            return ran
        await asyncio.sleep(0.02)
    raise AssertionError(f"jobs kept coming: {ran[-20:]}")
