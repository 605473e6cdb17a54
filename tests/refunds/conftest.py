"""Fixtures and helpers for refunds and disputes: a paid enrollment made through the API and the
sandbox, and queries on our rows and the sandbox's."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import stamina
from sqlalchemy import select, update

from enrollpay.db.engine import Database
from enrollpay.jobs.models import Job, JobStatus
from enrollpay.kit.clock import utcnow
from enrollpay.notifications.models import EmailMessage
from enrollpay.refunds.models import Dispute, Refund
from enrollpay.sandbox.models import SandboxRefund
from enrollpay.users.models import Role
from enrollpay.webhooks.models import WebhookEvent
from tests.conftest import MakeUser
from tests.courses.factories import create_course
from tests.enrollments.helpers import API, initialize, pay, verify

TOTAL = 589882  # 4999 + 18 % GST, paise
TOTAL_MAJOR = 5898.82


@pytest.fixture(autouse=True)
def _no_backoff_waits():
    # The gateway client tries twice without sleeping.
    with stamina.set_testing(True, attempts=2, cap=True):
        yield


@pytest.fixture
async def admin_headers(make_user: MakeUser) -> dict[str, str]:
    _, headers = await make_user(role=Role.admin, email="admin@example.com", password=None)
    return headers


@pytest.fixture
async def course(client, admin_headers) -> dict[str, Any]:
    return await create_course(client, admin_headers, price=4999, refund_window_days=7)


@pytest.fixture
async def learner(make_user) -> tuple[Any, dict[str, str]]:
    return await make_user(password=None)


async def start(client, headers, course_id: str, **body: Any) -> dict[str, Any]:
    response = await initialize(client, headers, course_id, **body)
    assert response.status_code in (200, 201), response.text
    started: dict[str, Any] = response.json()
    return started


def order_of(started: dict[str, Any]) -> str:
    order_id: str = started["payment_session"]["razorpay_order_id"]
    return order_id


async def enroll(client, headers, course_id: str) -> tuple[str, str]:
    """A paid enrollment (Checkout, then verify): its id and the Razorpay payment id."""
    started = await start(client, headers, course_id)
    paid = await pay(client, order_of(started))
    response = await verify(client, headers, started["enrollment_id"], paid)
    assert response.json()["enrollment_status"] == "enrolled", response.text
    return started["enrollment_id"], paid["razorpay_payment_id"]


async def learner_refund(
    client: httpx.AsyncClient, headers: dict[str, str], enrollment_id: str
) -> httpx.Response:
    return await client.post(
        f"{API}/enrollments/{enrollment_id}/refund", json={"reason": "not for me"}, headers=headers
    )


async def admin_refund(
    client: httpx.AsyncClient, headers: dict[str, str], enrollment_id: str, **body: Any
) -> httpx.Response:
    return await client.post(
        f"{API}/admin/enrollments/{enrollment_id}/refund",
        json={"reason": "goodwill", **body},
        headers=headers,
    )


async def has_access(client: httpx.AsyncClient, headers: dict[str, str], course_id: str) -> bool:
    response = await client.get(f"{API}/courses/{course_id}/access", headers=headers)
    assert response.status_code == 200, response.text
    return bool(response.json()["has_access"])


async def refunds(db: Database, **where: Any) -> list[Refund]:
    async with db.sessionmaker() as session:
        stmt = select(Refund).filter_by(**where).order_by(Refund.id)
        return list((await session.execute(stmt)).scalars())


async def sandbox_refunds(db: Database, razorpay_payment_id: str) -> list[SandboxRefund]:
    """What the gateway refunded (the sandbox's own table)."""
    async with db.sessionmaker() as session:
        stmt = (
            select(SandboxRefund)
            .where(SandboxRefund.payment_id == razorpay_payment_id)
            .order_by(SandboxRefund.created)
        )
        return list((await session.execute(stmt)).scalars())


async def disputes(db: Database) -> list[Dispute]:
    async with db.sessionmaker() as session:
        return list((await session.execute(select(Dispute).order_by(Dispute.id))).scalars())


async def emails(db: Database, kind: str) -> list[EmailMessage]:
    async with db.sessionmaker() as session:
        stmt = select(EmailMessage).where(EmailMessage.kind == kind).order_by(EmailMessage.id)
        return list((await session.execute(stmt)).scalars())


async def inbox_rows(db: Database, event: str) -> list[WebhookEvent]:
    async with db.sessionmaker() as session:
        stmt = select(WebhookEvent).where(WebhookEvent.event == event).order_by(WebhookEvent.id)
        return list((await session.execute(stmt)).scalars())


async def make_jobs_due(db: Database, kind: str) -> None:
    """Jobs that wait on purpose (the refund submit job's safety delay) run now."""
    async with db.transaction() as session:
        await session.execute(
            update(Job)
            .where(Job.kind == kind, Job.status == JobStatus.pending)
            .values(run_at=utcnow())
        )
