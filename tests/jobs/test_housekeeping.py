"""Finished jobs are forgotten after a week; dead and pending ones stay."""

from __future__ import annotations

from datetime import timedelta

import time_machine
from sqlalchemy import select

from enrollpay.jobs import enqueue, registry, repository
from enrollpay.jobs.housekeeping import RETENTION
from enrollpay.jobs.models import Job, JobStatus
from enrollpay.jobs.worker import JobOutcome
from enrollpay.kit.clock import utcnow


async def test_done_jobs_older_than_the_retention_are_deleted(jobs_db, make_worker, recorder):
    start = utcnow()
    with time_machine.travel(start, tick=False):
        async with jobs_db.transaction() as session:
            for _ in range(3):
                await enqueue(session, "test.record", {})
        assert await make_worker().run_once() == [JobOutcome.done] * 3
        recorder.fail_times = 99
        async with jobs_db.transaction() as session:
            await enqueue(session, "test.record", {}, max_attempts=1)
            await enqueue(session, "test.record", {}, run_at=start + timedelta(days=30))
        assert await make_worker().run_once() == [JobOutcome.dead]

    async with jobs_db.transaction() as session:
        kept = await repository.delete_done_before(session, start - timedelta(seconds=1), limit=10)
        assert kept == 0  # nothing finished before the cutoff
        purged = await repository.delete_done_before(
            session, start + RETENTION, limit=2
        )  # bounded batches
        assert purged == 2
        assert await repository.delete_done_before(session, start + RETENTION, limit=10) == 1
    async with jobs_db.sessionmaker() as session:
        left = sorted(status for status in (await session.execute(select(Job.status))).scalars())
    assert left == [JobStatus.dead, JobStatus.pending]


def test_handler_discovery_finds_the_purge():
    """The jobs package is skipped by `<package>.jobs` discovery; its sweep is imported itself."""
    assert registry.get("jobs.purge") is not None
