"""enqueue(): a job exists exactly when the caller's transaction commits."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
import time_machine

from enrollpay.jobs import UnknownJobKind, enqueue
from enrollpay.jobs.models import JobStatus
from enrollpay.jobs.worker import JobOutcome
from enrollpay.kit.clock import utcnow
from enrollpay.kit.ids import has_prefix
from tests.jobs.support import count_jobs, effect_job_ids, load_job


async def test_rolled_back_enqueue_leaves_no_job(jobs_db, make_worker, recorder):
    with pytest.raises(RuntimeError):
        async with jobs_db.transaction() as session:
            await enqueue(session, "test.record", {"note": "never"})
            raise RuntimeError("the state change failed")

    assert await count_jobs(jobs_db) == 0
    assert await make_worker().run_once() == []
    assert recorder.calls == {}


async def test_committed_job_is_claimed_and_run(jobs_db, make_worker, recorder):
    async with jobs_db.transaction() as session:
        job_id = await enqueue(session, "test.record", {"note": "hello"})
    assert job_id is not None and has_prefix(job_id, "job")

    job = await load_job(jobs_db, job_id)
    assert (job.status, job.attempts, job.max_attempts, job.payload) == (
        JobStatus.pending,
        0,
        3,  # the kind's registered default
        {"note": "hello"},
    )
    assert await make_worker().run_once() == [JobOutcome.done]
    assert recorder.calls == {job_id: 1}
    assert await effect_job_ids(jobs_db) == [job_id]
    job = await load_job(jobs_db, job_id)
    assert job.status == JobStatus.done and job.finished_at is not None


async def test_dedupe_key_keeps_one_job(jobs_db, recorder):
    async with jobs_db.transaction() as session:
        first = await enqueue(session, "test.record", {}, dedupe_key="receipt:enr_1")
        again_same_tx = await enqueue(session, "test.record", {}, dedupe_key="receipt:enr_1")
    async with jobs_db.transaction() as session:
        again_later = await enqueue(session, "test.record", {}, dedupe_key="receipt:enr_1")
        other = await enqueue(session, "test.record", {}, dedupe_key="receipt:enr_2")

    assert first is not None and other is not None
    assert again_same_tx is None and again_later is None
    assert await count_jobs(jobs_db, dedupe_key="receipt:enr_1") == 1
    assert await count_jobs(jobs_db) == 2


async def test_delay_and_run_at_postpone_the_job(jobs_db, make_worker, recorder):
    worker = make_worker()
    async with jobs_db.transaction() as session:
        delayed = await enqueue(session, "test.record", {}, delay=60)
        scheduled = await enqueue(
            session, "test.record", {}, run_at=utcnow() + timedelta(minutes=10)
        )

    assert await worker.run_once() == []
    with time_machine.travel(utcnow() + timedelta(seconds=61)):
        assert await worker.run_once() == [JobOutcome.done]
    assert recorder.calls == {delayed: 1}
    with time_machine.travel(utcnow() + timedelta(minutes=11)):
        assert await worker.run_once() == [JobOutcome.done]
    assert recorder.calls == {delayed: 1, scheduled: 1}


async def test_programming_errors_raise_and_write_nothing(jobs_db, recorder):
    async with jobs_db.transaction() as session:
        with pytest.raises(UnknownJobKind):
            await enqueue(session, "test.nobody_handles_this", {})
        with pytest.raises(TypeError):
            await enqueue(session, "test.record", {"when": {1, 2}})  # not JSON
        with pytest.raises(TypeError):
            await enqueue(session, "test.record", ["not", "an", "object"])  # type: ignore[arg-type]
        with pytest.raises(ValueError, match="timezone-aware"):
            await enqueue(session, "test.record", {}, run_at=datetime(2030, 1, 1))
        with pytest.raises(ValueError, match="not both"):
            await enqueue(session, "test.record", {}, run_at=utcnow(), delay=5)
        with pytest.raises(ValueError, match="max_attempts"):
            await enqueue(session, "test.record", {}, max_attempts=0)
    assert await count_jobs(jobs_db) == 0


async def test_max_attempts_can_be_set_per_job(jobs_db, recorder):
    async with jobs_db.transaction() as session:
        job_id = await enqueue(session, "test.record", {}, max_attempts=7)
    assert job_id is not None
    assert (await load_job(jobs_db, job_id)).max_attempts == 7
