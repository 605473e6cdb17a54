"""The emails the enrollment flow sends (SPEC §3 "Notifications"), through the real API, the
sandbox and the job worker on both databases: one receipt per enrollment with the exact
breakdown (also over real SMTP), a payment-failed notice only if the failure stands after the
delay, and one abandoned-checkout reminder per unpaid attempt, never after the learner paid."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
import time_machine
from sqlalchemy import select, update

from enrollpay.enrollments import paylink
from enrollpay.enrollments.models import Enrollment, EnrollmentStatus
from enrollpay.jobs.models import Job
from enrollpay.kit.clock import utcnow
from enrollpay.notifications import triggers
from enrollpay.notifications.models import EmailMessage
from enrollpay.users.models import Role
from enrollpay.webhooks.service import replay
from tests.courses.factories import create_coupon, create_course
from tests.enrollments.helpers import (
    drain_jobs,
    initialize,
    pay,
    payment_status,
    sandbox_control,
    verify,
)
from tests.notifications.conftest import FakeSmtpServer
from tests.webhooks.conftest import inbox

BASE = "https://pay.example.com"
ACCESS_URL = "https://learn.example.com/c/dsa"
REMINDER_DELAY = 600  # shorter than the 30-minute hold, so the reminder links the payment page


@pytest.fixture
def settings_overrides(request: pytest.FixtureRequest) -> dict[str, Any]:
    overrides: dict[str, Any] = {
        "PUBLIC_BASE_URL": BASE,
        "ABANDONED_CHECKOUT_DELAY_SECONDS": REMINDER_DELAY,
    }
    if "smtp_server" in request.fixturenames:
        smtp: FakeSmtpServer = request.getfixturevalue("smtp_server")
        overrides["SMTP_URL"] = f"smtp://127.0.0.1:{smtp.port}"
    return overrides


@pytest.fixture
async def admin_headers(make_user) -> dict[str, str]:
    _, headers = await make_user(email="admin@example.com", password=None, role=Role.admin)
    return headers


@pytest.fixture
async def learner(make_user) -> tuple[Any, dict[str, str]]:
    return await make_user(email="asha@example.com", password=None)


@pytest.fixture
async def course(client, admin_headers) -> dict[str, Any]:
    # 3499 with a 500 course discount: the receipt of tests/notifications/test_rendering.py.
    return await create_course(
        client,
        admin_headers,
        title="Data Structures in Python",
        price=3499,
        discount_price=2999,
        access_url=ACCESS_URL,
    )


@contextmanager
def later(seconds: float) -> Iterator[None]:
    with time_machine.travel(utcnow() + timedelta(seconds=seconds), tick=True):
        yield


async def start(client, headers, course_id: str, **body: Any) -> dict[str, Any]:
    response = await initialize(client, headers, course_id, **body)
    assert response.status_code in (200, 201), response.text
    started: dict[str, Any] = response.json()
    return started


def order_of(started: dict[str, Any]) -> str:
    order_id: str = started["payment_session"]["razorpay_order_id"]
    return order_id


async def emails(db, kind: str | None = None) -> list[EmailMessage]:
    async with db.sessionmaker() as session:
        stmt = select(EmailMessage).order_by(EmailMessage.id)
        if kind is not None:
            stmt = stmt.where(EmailMessage.kind == kind)
        return list((await session.execute(stmt)).scalars())


async def trigger_jobs(db, kind: str) -> list[Job]:
    async with db.sessionmaker() as session:
        return list((await session.execute(select(Job).where(Job.kind == kind))).scalars())


async def fail_payment(client, db, settings, started: dict[str, Any]) -> dict[str, Any]:
    """A card payment that fails, reported by webhook (Checkout gives no signature)."""
    failed = await pay(client, order_of(started), outcome="failure", method="card", webhooks=True)
    await drain_jobs(db, settings)
    return failed


async def set_status(db, enrollment_id: str, status: EnrollmentStatus) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(Enrollment).where(Enrollment.id == enrollment_id).values(status=status)
        )


# ---- enrollment confirmed ---------------------------------------------------------------------


async def test_paying_sends_one_receipt_with_the_exact_breakdown_over_smtp(
    client, db, settings, course, learner, admin_headers, smtp_server: FakeSmtpServer
):
    _, headers = learner
    await create_coupon(client, admin_headers, code="SAVE10")
    started = await start(client, headers, course["id"], coupon_code="save10")
    enrollment_id = started["enrollment_id"]
    assert started["total_payable"] == 3184.94
    paid = await pay(client, order_of(started))
    assert (await verify(client, headers, enrollment_id, paid)).json()["enrollment_status"] == (
        "enrolled"
    )

    await drain_jobs(db, settings)

    [receipt] = await emails(db)  # the reminder's trigger is not due yet, and then finds it paid
    assert receipt.kind == "enrollment_confirmed" and receipt.status == "sent"
    assert receipt.dedupe_key == f"enrollment_confirmed:{enrollment_id}"
    assert (receipt.to_address, receipt.enrollment_id) == ("asha@example.com", enrollment_id)
    [received] = smtp_server.received
    message = received.message
    assert received.rcpt_tos == ["asha@example.com"]
    assert message["Subject"] == "You're enrolled in Data Structures in Python"
    assert message["Message-ID"] == receipt.message_id
    text = message.get_body(preferencelist=("plain",)).get_content()
    html = message.get_body(preferencelist=("html",)).get_content()
    for line in (
        "Course price:      ₹3,499.00",
        "Course discount:  -₹500.00",
        "Coupon discount:  -₹299.90 (code SAVE10)",
        "GST:               ₹485.84",
        "Total paid:        ₹3,184.94",
        f"Payment id: {paid['razorpay_payment_id']}",
        f"Start learning: {ACCESS_URL}",
        "Hi Test User",
    ):
        assert line in text, line
    for shown in ("₹3,184.94", "SAVE10", paid["razorpay_payment_id"], f'href="{ACCESS_URL}"'):
        assert shown in html, shown


async def test_a_webhook_replay_queues_no_second_receipt(client, db, settings, course, learner):
    _, headers = learner
    started = await start(client, headers, course["id"])
    paid = await pay(client, order_of(started), webhooks=True)
    await verify(client, headers, started["enrollment_id"], paid)  # and the browser reports too
    await drain_jobs(db, settings)
    assert len(await emails(db, "enrollment_confirmed")) == 1

    async with db.transaction() as session:
        for row in await inbox(db):
            await replay(session, row.id)
    await drain_jobs(db, settings)

    assert {row.replays for row in await inbox(db)} == {1}
    assert len(await emails(db, "enrollment_confirmed")) == 1
    assert len(await trigger_jobs(db, triggers.ENROLLMENT_CONFIRMED_JOB)) == 1


async def test_the_free_path_sends_a_receipt_without_a_payment_id(
    client, db, settings, admin_headers, learner
):
    _, headers = learner
    free = await create_course(client, admin_headers, title="Programming Basics", price=0)
    started = await start(client, headers, free["id"])
    assert started["status"] == "enrolled"

    await drain_jobs(db, settings)

    [receipt] = await emails(db)
    assert receipt.kind == "enrollment_confirmed" and receipt.status == "stored"
    assert "Total paid:        ₹0.00" in receipt.text_body
    assert "Payment id" not in receipt.text_body and "Payment id" not in receipt.html_body
    # No access_url on the course: the receipt links our access API.
    assert f"{BASE}/api/v1/courses/{free['id']}/access" in receipt.text_body
    assert await trigger_jobs(db, triggers.ABANDONED_CHECKOUT_JOB) == []


# ---- payment failed ---------------------------------------------------------------------------


async def test_a_capture_before_the_delay_means_no_payment_failed_email(
    client, db, settings, course, learner
):
    _, headers = learner
    started = await start(client, headers, course["id"])
    failed = await fail_payment(client, db, settings, started)
    status = await payment_status(client, headers, started["enrollment_id"])
    assert status["enrollment_status"] == "failed"
    assert await emails(db) == []  # the notice waits

    await sandbox_control(
        client, "POST", f"/payments/{failed['razorpay_payment_id']}/capture-late", webhooks=True
    )
    await drain_jobs(db, settings)
    with later(triggers.PAYMENT_FAILED_DELAY_SECONDS + 1):
        await drain_jobs(db, settings)

    assert [e.kind for e in await emails(db)] == ["enrollment_confirmed"]
    [job] = await trigger_jobs(db, triggers.PAYMENT_FAILED_JOB)
    assert job.status == "done"  # it ran, and found nothing to say


async def test_a_failure_that_stands_sends_one_notice_with_a_working_retry_link(
    client, db, settings, course, learner
):
    _, headers = learner
    started = await start(client, headers, course["id"])
    enrollment_id = started["enrollment_id"]
    await fail_payment(client, db, settings, started)
    reason = (await payment_status(client, headers, enrollment_id))["failure_reason"]
    # A second failed try on the same order: still one notice for this attempt.
    await fail_payment(client, db, settings, started)

    with later(triggers.PAYMENT_FAILED_DELAY_SECONDS + 1):
        await drain_jobs(db, settings)
        await drain_jobs(db, settings)

    [notice] = await emails(db)
    assert notice.kind == "payment_failed" and notice.enrollment_id == enrollment_id
    assert reason and f"Reason: {reason}" in notice.text_body
    assert "₹3,538.82" in notice.text_body  # 2999 + 18 % GST
    link = next(w for w in notice.text_body.split() if w.startswith(f"{BASE}/pay/"))
    parts = urlsplit(link)
    assert parts.path == f"/pay/{enrollment_id}"
    token = parse_qs(parts.query)["t"][0]
    assert paylink.token_allows(settings, token, enrollment_id)
    page = await client.get(f"{parts.path}?{parts.query}")
    assert page.status_code == 200 and "Try again" in page.text


async def test_a_notice_after_the_hold_ran_out_links_the_course_page(
    client, db, settings, course, learner
):
    _, headers = learner
    started = await start(client, headers, course["id"])
    await fail_payment(client, db, settings, started)
    async with db.transaction() as session:
        await session.execute(
            update(Enrollment)
            .where(Enrollment.id == started["enrollment_id"])
            .values(expires_at=utcnow())
        )

    with later(triggers.PAYMENT_FAILED_DELAY_SECONDS + 1):
        await drain_jobs(db, settings)

    [notice] = await emails(db, "payment_failed")
    assert f"{BASE}/courses/{course['id']}" in notice.text_body
    assert f"{BASE}/pay/" not in notice.text_body


# ---- abandoned checkout -----------------------------------------------------------------------


async def test_an_unpaid_attempt_gets_one_reminder_after_the_delay(
    client, db, settings, course, learner, admin_headers
):
    _, headers = learner
    started = await start(client, headers, course["id"])
    enrollment_id = started["enrollment_id"]
    await drain_jobs(db, settings)
    assert await emails(db) == []  # not before the delay

    with later(REMINDER_DELAY + 1):
        await drain_jobs(db, settings)
        await drain_jobs(db, settings)
    [reminder] = await emails(db)
    assert reminder.kind == "abandoned_checkout" and reminder.enrollment_id == enrollment_id
    assert reminder.subject == "Your seat in Data Structures in Python is waiting"
    assert "₹3,538.82" in reminder.text_body
    assert started["payment_session"]["payment_url"] in reminder.text_body

    # A new attempt (another coupon supersedes the order) gets its own reminder, once.
    await create_coupon(client, admin_headers, code="SAVE10")
    again = await start(client, headers, course["id"], coupon_code="SAVE10")
    assert again["enrollment_id"] == enrollment_id and order_of(again) != order_of(started)
    with later(REMINDER_DELAY + 1):
        await drain_jobs(db, settings)
    reminders = await emails(db, "abandoned_checkout")
    assert len(reminders) == 2 and "₹3,184.94" in reminders[1].text_body


async def test_no_reminder_once_the_attempt_is_paid(client, db, settings, course, learner):
    _, headers = learner
    started = await start(client, headers, course["id"])
    paid = await pay(client, order_of(started))
    await verify(client, headers, started["enrollment_id"], paid)

    with later(REMINDER_DELAY + 1):
        await drain_jobs(db, settings)

    assert [e.kind for e in await emails(db)] == ["enrollment_confirmed"]
    [job] = await trigger_jobs(db, triggers.ABANDONED_CHECKOUT_JOB)
    assert job.status == "done"


async def test_no_reminder_when_the_learner_paid_in_a_new_enrollment_since(
    client, db, settings, course, learner
):
    _, headers = learner
    first = await start(client, headers, course["id"])
    await set_status(db, first["enrollment_id"], EnrollmentStatus.expired)
    second = await start(client, headers, course["id"])
    assert second["enrollment_id"] != first["enrollment_id"]
    paid = await pay(client, order_of(second))
    await verify(client, headers, second["enrollment_id"], paid)

    with later(REMINDER_DELAY + 1):
        await drain_jobs(db, settings)

    assert [e.kind for e in await emails(db)] == ["enrollment_confirmed"]
    assert len(await trigger_jobs(db, triggers.ABANDONED_CHECKOUT_JOB)) == 2


async def test_an_expired_unpaid_enrollment_is_reminded_with_the_course_page(
    client, db, settings, course, learner
):
    _, headers = learner
    started = await start(client, headers, course["id"])
    await set_status(db, started["enrollment_id"], EnrollmentStatus.expired)

    with later(REMINDER_DELAY + 1):
        await drain_jobs(db, settings)

    [reminder] = await emails(db, "abandoned_checkout")
    assert f"{BASE}/courses/{course['id']}" in reminder.text_body
    assert f"{BASE}/pay/" not in reminder.text_body


async def test_a_cancelled_checkout_gets_no_reminder(client, db, settings, course, learner):
    _, headers = learner
    started = await start(client, headers, course["id"])
    cancelled = await client.post(
        f"/api/v1/enrollments/{started['enrollment_id']}/cancel", json={}, headers=headers
    )
    assert cancelled.status_code == 200, cancelled.text

    with later(REMINDER_DELAY + 1):
        await drain_jobs(db, settings)

    assert await emails(db) == []
