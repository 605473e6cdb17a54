"""The outbox: queued once per dedupe key, written with its job or not at all, dropped
messages stay unsent, and without SMTP_URL messages land in the dev mailbox."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest

from enrollpay.db.engine import Database
from enrollpay.jobs import enqueue
from enrollpay.jobs.models import Job, JobStatus
from enrollpay.jobs.worker import JobOutcome
from enrollpay.kit.clock import utcnow
from enrollpay.kit.ids import has_prefix
from enrollpay.notifications.models import EmailMessage, EmailStatus
from enrollpay.notifications.service import SEND_EMAIL_JOB, drop_email, queue_email
from tests.conftest import assert_error
from tests.notifications.conftest import RunJobs, count, jobs_of, load_email

VERIFY = {"verify_url": "https://pay.example.com/verify?t=abc"}


async def queue(db: Database, settings: Any, **overrides: Any) -> str | None:
    values: dict[str, Any] = {
        "kind": "email_verification",
        "to": "learner@example.com",
        "context": VERIFY,
        "dedupe_key": "email_verification:usr_1",
    }
    values.update(overrides)
    async with db.transaction() as session:
        return await queue_email(session, settings=settings, **values)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"PUBLIC_BASE_URL": "https://pay.example.com"}


async def test_queued_row_holds_the_rendered_message_and_its_job(db, settings, make_user):
    user, _ = await make_user()
    email_id = await queue(db, settings, user_id=user.id)

    assert email_id is not None and has_prefix(email_id, "msg")
    row = await load_email(db, email_id)
    assert row.status == EmailStatus.queued and row.attempts == 0
    assert row.kind == "email_verification" and row.to_address == "learner@example.com"
    assert row.subject == "Confirm your email address"
    assert VERIFY["verify_url"] in row.text_body and VERIFY["verify_url"] in row.html_body
    assert row.message_id == f"<{email_id}@pay.example.com>"
    assert row.user_id == user.id and row.enrollment_id is None
    [job] = await jobs_of(db)
    assert job.kind == SEND_EMAIL_JOB and job.payload == {"email_id": email_id}


async def test_the_same_dedupe_key_queues_once(db, settings):
    first = await queue(db, settings)
    second = await queue(db, settings, to="someone.else@example.com")

    assert first is not None and second is None
    assert await count(db, EmailMessage) == 1
    assert await count(db, Job) == 1
    assert (await load_email(db, first)).to_address == "learner@example.com"


async def test_row_and_job_roll_back_together(db, settings):
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await queue_email(
                session,
                settings=settings,
                kind="email_verification",
                to="learner@example.com",
                context=VERIFY,
                dedupe_key="email_verification:usr_1",
            )
            raise RuntimeError("the state change failed after queueing")

    assert await count(db, EmailMessage) == 0
    assert await count(db, Job) == 0
    assert await queue(db, settings) is not None  # the key was not taken either


async def test_bad_input_queues_nothing(db, settings):
    with pytest.raises(ValueError):
        await queue(db, settings, to="learner@example.com\r\nBcc: victim@example.com")
    with pytest.raises(ValueError):
        await queue(db, settings, context={})
    with pytest.raises(ValueError):
        await queue(db, settings, delay_seconds=-1)
    assert await count(db, EmailMessage) == 0 and await count(db, Job) == 0


async def test_without_smtp_the_message_is_stored(db, settings, run_jobs: RunJobs):
    email_id = await queue(db, settings)

    assert await run_jobs() == [JobOutcome.done]

    row = await load_email(db, email_id)
    assert row.status == EmailStatus.stored and row.sent_at is not None
    assert row.attempts == 0  # no SMTP attempt was made
    assert await run_jobs() == []


async def test_a_delayed_message_waits(db, settings, run_jobs: RunJobs):
    email_id = await queue(db, settings, delay_seconds=600)

    [job] = await jobs_of(db)
    assert job.run_at - utcnow() > timedelta(seconds=590)
    assert await run_jobs() == []
    assert (await load_email(db, email_id)).status == EmailStatus.queued


async def test_a_dropped_message_is_never_delivered(db, settings, run_jobs: RunJobs):
    email_id = await queue(db, settings, dedupe_key="payment_failed:pmt_1", delay_seconds=0)
    async with db.transaction() as session:
        assert await drop_email(session, "payment_failed:pmt_1", "payment captured meanwhile")

    assert await run_jobs() == [JobOutcome.done]  # the job ran and did nothing

    row = await load_email(db, email_id)
    assert row.status == EmailStatus.dropped and row.sent_at is None
    assert row.last_error == "payment captured meanwhile"
    async with db.transaction() as session:  # nothing left to drop, twice
        assert not await drop_email(session, "payment_failed:pmt_1", "again")
        assert not await drop_email(session, "payment_failed:unknown", "never queued")


async def test_a_stored_message_cannot_be_dropped(db, settings, run_jobs: RunJobs):
    email_id = await queue(db, settings)
    await run_jobs()
    async with db.transaction() as session:
        assert not await drop_email(session, "email_verification:usr_1", "too late")
    assert (await load_email(db, email_id)).status == EmailStatus.stored


async def test_stored_messages_show_in_the_dev_mailbox(
    db, settings, run_jobs: RunJobs, client: httpx.AsyncClient
):
    older = await queue(db, settings)
    newer = await queue(
        db,
        settings,
        kind="refund_processed",
        context={"course_title": "<i>Rust</i> & Go", "amount": 59000, "refund_id": "rfd_1"},
        dedupe_key="refund_processed:rfd_1",
    )
    await run_jobs()

    page = await client.get("/dev/mailbox")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert page.headers["cache-control"] == "no-store"
    assert page.text.index(f"/dev/mailbox/{newer}") < page.text.index(f"/dev/mailbox/{older}")
    assert "Your refund for &lt;i&gt;Rust&lt;/i&gt; &amp; Go has been processed" in page.text

    detail = await client.get(f"/dev/mailbox/{newer}")
    assert detail.status_code == 200
    row = await load_email(db, newer)
    assert '<iframe sandbox=""' in detail.text
    # The HTML body is inside the srcdoc attribute, escaped once more: it cannot break out.
    assert 'srcdoc="&lt;!DOCTYPE html&gt;' in detail.text
    assert "&amp;lt;i&amp;gt;Rust&amp;lt;/i&amp;gt;" in detail.text
    assert "<i>Rust</i>" not in detail.text
    assert "₹590.00" in detail.text and f"&lt;{newer}@pay.example.com&gt;" in detail.text

    listing = await client.get("/api/v1/dev/mailbox", params={"limit": 1})
    assert listing.status_code == 200
    body = listing.json()
    [item] = body["items"]
    assert item["id"] == newer and item["status"] == "stored"
    assert item["to_address"] == "learner@example.com"
    assert item["text_body"] == row.text_body and item["html_body"] == row.html_body
    assert body["next_cursor"] == newer
    rest = (await client.get("/api/v1/dev/mailbox", params={"cursor": newer})).json()
    assert [i["id"] for i in rest["items"]] == [older] and rest["next_cursor"] is None


async def test_unknown_mailbox_message_is_404(client: httpx.AsyncClient):
    assert_error(await client.get("/dev/mailbox/msg_00000000000000000000000000"), 404, "not_found")
    assert_error(await client.get("/dev/mailbox/nonsense"), 404, "not_found")


@pytest.mark.parametrize(
    "settings_overrides",
    [
        {"RAZORPAY_KEY_ID": "rzp_test_ABCDEFGHIJKLMN", "RAZORPAY_KEY_SECRET": "real-secret"},
        {"SMTP_URL": "smtp://127.0.0.1:2525"},
    ],
    ids=["real-razorpay-keys", "smtp-configured"],
)
async def test_the_dev_mailbox_does_not_exist_outside_local_development(
    db, settings, client: httpx.AsyncClient
):
    email_id = await queue(db, settings)
    for path in ("/dev/mailbox", f"/dev/mailbox/{email_id}", "/api/v1/dev/mailbox"):
        assert_error(await client.get(path), 404, "not_found")


async def test_a_job_for_a_missing_message_does_nothing(db, settings, run_jobs: RunJobs):
    async with db.transaction() as session:
        await enqueue(session, SEND_EMAIL_JOB, {"email_id": "msg_00000000000000000000000000"})
    assert await run_jobs() == [JobOutcome.done]
    [job] = await jobs_of(db)
    assert job.status == JobStatus.done
