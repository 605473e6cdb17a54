"""A stored event whose processing job died (a worker lost on the last attempt) does not wait
for ever: the sweep marks it failed, where admins see it and can replay it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import update

from enrollpay.jobs.models import Job, JobStatus
from enrollpay.kit.clock import utcnow
from enrollpay.webhooks.models import WebhookEventStatus
from enrollpay.webhooks.service import STUCK_AFTER, fail_orphaned, replay
from tests.webhooks.conftest import deliver, inbox, processing_jobs, sample


async def _sweep(db, *, after: timedelta) -> int:
    async with db.transaction() as session:
        return await fail_orphaned(session, now=utcnow() + after)


async def test_only_rows_whose_job_died_are_failed(client, db):
    await deliver(client, sample("payment.captured"))
    await deliver(client, sample("payment.failed"))
    dead_job, _live_job = await processing_jobs(db)
    async with db.transaction() as session:
        await session.execute(
            update(Job).where(Job.id == dead_job.id).values(status=JobStatus.dead)
        )

    assert await _sweep(db, after=timedelta(minutes=1)) == 0  # too recent to judge
    assert await _sweep(db, after=STUCK_AFTER + timedelta(minutes=1)) == 1
    rows = {row.id: row for row in await inbox(db)}
    dead_row = rows[dead_job.payload["inbox_id"]]
    assert dead_row.status == WebhookEventStatus.failed
    assert "replay" in (dead_row.outcome or "")
    others = [row for row in rows.values() if row.id != dead_row.id]
    assert [row.status for row in others] == [WebhookEventStatus.pending]  # still queued

    # A replay gives the row a fresh job; the sweep leaves it alone while that job is queued.
    async with db.transaction() as session:
        await replay(session, dead_row.id)
    assert await _sweep(db, after=STUCK_AFTER + timedelta(minutes=1)) == 0
