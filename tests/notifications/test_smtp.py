"""Sending through a real SMTP server (aiosmtpd on a free port): the message as received,
sent once, the same Message-ID on a resend, dropped ones never sent, refusals and retries."""

from __future__ import annotations

from email.message import EmailMessage as MimeMessage
from email.utils import parsedate_to_datetime
from typing import Any

import pytest
from sqlalchemy import update

from enrollpay.db.engine import Database
from enrollpay.jobs import enqueue
from enrollpay.jobs.models import Job, JobStatus
from enrollpay.jobs.worker import JobOutcome
from enrollpay.notifications import repository
from enrollpay.notifications.models import EmailStatus
from enrollpay.notifications.service import SEND_EMAIL_JOB, drop_email, queue_email
from tests.notifications.conftest import FakeSmtpServer, RunJobs, jobs_of, load_email
from tests.notifications.test_rendering import receipt

SENDER = "billing@pay.example.com"


@pytest.fixture
def settings_overrides(smtp_server: FakeSmtpServer) -> dict[str, Any]:
    return {
        # Percent-encoded: the password is "s@cret:1".
        "SMTP_URL": f"smtp://mailer:s%40cret%3A1@127.0.0.1:{smtp_server.port}",
        "EMAIL_FROM": f"Enrollpay <{SENDER}>",
        "PUBLIC_BASE_URL": "https://pay.example.com",
    }


async def queue_receipt(db: Database, settings: Any, **overrides: Any) -> str:
    values: dict[str, Any] = {
        "kind": "enrollment_confirmed",
        "to": "asha@example.com",
        "context": receipt(),
        "dedupe_key": "enrollment_confirmed:enr_1",
    }
    values.update(overrides)
    async with db.transaction() as session:
        email_id = await queue_email(session, settings=settings, **values)
    assert email_id is not None
    return email_id


def parts(message: MimeMessage) -> tuple[str, str]:
    """The text and HTML parts, with the wire's CRLF line ends and final newline undone."""
    found = []
    for subtype in ("plain", "html"):
        part = message.get_body(preferencelist=(subtype,))
        assert part is not None, subtype
        found.append(part.get_content().replace("\r\n", "\n").rstrip("\n"))
    return found[0], found[1]


async def test_the_server_receives_the_message_as_queued(
    db, settings, smtp_server: FakeSmtpServer, run_jobs: RunJobs
):
    email_id = await queue_receipt(db, settings)

    assert await run_jobs() == [JobOutcome.done]

    [received] = smtp_server.received
    assert received.mail_from == SENDER and received.rcpt_tos == ["asha@example.com"]
    assert smtp_server.logins == [("mailer", "s@cret:1")]
    message = received.message
    assert message["From"] == f"Enrollpay <{SENDER}>"
    assert message["To"] == "asha@example.com"
    assert message["Subject"] == "You're enrolled in Data Structures in Python"
    assert message["Message-ID"] == f"<{email_id}@pay.example.com>"
    assert parsedate_to_datetime(message["Date"]).utcoffset() is not None
    assert message.get_content_type() == "multipart/alternative"
    text, html = parts(message)
    row = await load_email(db, email_id)
    assert text == row.text_body.rstrip("\n") and html == row.html_body.rstrip("\n")
    assert "Total paid:        ₹3,184.94" in text and "₹3,184.94" in html
    assert row.status == EmailStatus.sent and row.attempts == 1 and row.sent_at is not None


async def test_a_sent_message_is_never_sent_again(
    db, settings, smtp_server: FakeSmtpServer, run_jobs: RunJobs
):
    email_id = await queue_receipt(db, settings)
    await run_jobs()
    # The same job run again (a stale lease, an admin retry) and a second job for the row.
    async with db.transaction() as session:
        await session.execute(update(Job).values(status=JobStatus.pending, attempts=0))
        await enqueue(session, SEND_EMAIL_JOB, {"email_id": email_id})

    assert await run_jobs() == [JobOutcome.done, JobOutcome.done]

    assert len(smtp_server.received) == 1
    row = await load_email(db, email_id)
    assert row.status == EmailStatus.sent and row.attempts == 1


async def test_a_crash_after_the_server_accepted_resends_with_the_same_message_id(
    db, settings, smtp_server: FakeSmtpServer, run_jobs: RunJobs, monkeypatch
):
    email_id = await queue_receipt(db, settings)
    real_mark_sent = repository.mark_sent
    crashes = iter([True])

    async def crash_once(*args: Any, **kwargs: Any) -> None:
        if next(crashes, False):
            raise ConnectionError("database went away before the commit")
        await real_mark_sent(*args, **kwargs)

    monkeypatch.setattr(repository, "mark_sent", crash_once)

    assert await run_jobs() == [JobOutcome.retry]
    assert (await load_email(db, email_id)).status == EmailStatus.queued
    assert await run_jobs() == [JobOutcome.done]

    first, second = smtp_server.received
    assert first.message["Message-ID"] == second.message["Message-ID"]
    assert first.message["Message-ID"] == f"<{email_id}@pay.example.com>"
    assert parts(first.message) == parts(second.message)
    row = await load_email(db, email_id)
    assert row.status == EmailStatus.sent and row.attempts == 2


async def test_a_dropped_message_is_never_sent(
    db, settings, smtp_server: FakeSmtpServer, run_jobs: RunJobs
):
    email_id = await queue_receipt(
        db,
        settings,
        kind="payment_failed",
        context={
            "course_title": "SQL",
            "amount": 118000,
            "payment_url": "https://pay.example.com/pay/enr_1?t=x",
        },
        dedupe_key="payment_failed:pmt_1",
    )
    async with db.transaction() as session:
        assert await drop_email(session, "payment_failed:pmt_1", "captured meanwhile")

    assert await run_jobs() == [JobOutcome.done]

    assert smtp_server.received == []
    row = await load_email(db, email_id)
    assert row.status == EmailStatus.dropped and row.attempts == 0


async def test_a_permanent_refusal_fails_after_one_attempt(
    db, settings, smtp_server: FakeSmtpServer, run_jobs: RunJobs
):
    smtp_server.rcpt_reply = "550 5.1.1 No such mailbox"
    email_id = await queue_receipt(db, settings)

    assert await run_jobs() == [JobOutcome.dead]

    row = await load_email(db, email_id)
    assert row.status == EmailStatus.failed and row.attempts == 1
    assert row.last_error is not None and "No such mailbox" in row.last_error
    [job] = await jobs_of(db)
    assert job.status == JobStatus.dead and job.attempts == 1
    assert job.last_error is not None and "refused" in job.last_error
    assert "s@cret" not in row.last_error + job.last_error
    assert await run_jobs() == []


async def test_a_temporary_refusal_is_retried_until_accepted(
    db, settings, smtp_server: FakeSmtpServer, run_jobs: RunJobs
):
    smtp_server.rcpt_reply = "451 4.3.0 Try again later"
    email_id = await queue_receipt(db, settings)

    assert await run_jobs() == [JobOutcome.retry]
    row = await load_email(db, email_id)
    assert row.status == EmailStatus.queued and row.attempts == 1
    assert row.last_error is not None and "Try again later" in row.last_error

    smtp_server.rcpt_reply = None
    assert await run_jobs() == [JobOutcome.done]
    assert len(smtp_server.received) == 1
    row = await load_email(db, email_id)
    assert row.status == EmailStatus.sent and row.attempts == 2 and row.last_error is None


async def test_an_unreachable_server_is_retried_and_gives_up_on_the_last_attempt(
    db, settings, smtp_server: FakeSmtpServer, run_jobs: RunJobs
):
    settings.SMTP_URL = "smtp://127.0.0.1:1"  # nothing listens there
    email_id = await queue_receipt(db, settings)
    async with db.transaction() as session:
        await session.execute(update(Job).values(max_attempts=2))

    assert await run_jobs() == [JobOutcome.retry]
    assert (await load_email(db, email_id)).status == EmailStatus.queued
    assert await run_jobs() == [JobOutcome.dead]

    row = await load_email(db, email_id)
    assert row.status == EmailStatus.failed and row.attempts == 2
    assert smtp_server.received == []
