"""Running jobs: completion is atomic with the handler's DB work, failures retry with backoff
and end dead, leases move jobs away from dead workers, and nothing runs twice."""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from datetime import timedelta

import pytest
import time_machine
from sqlalchemy import event, insert, select
from sqlalchemy.exc import OperationalError

from enrollpay.db.engine import Database
from enrollpay.jobs import JobContext, PermanentJobError, enqueue, registry, repository
from enrollpay.jobs.models import Job, JobStatus
from enrollpay.jobs.worker import JobOutcome, backoff_delay, describe_error
from enrollpay.kit.clock import utcnow
from enrollpay.kit.ids import new_id
from tests.jobs.support import count_jobs, effect_job_ids, effects, load_job, wait_until


async def _enqueue(db: Database, kind: str = "test.record", **options) -> str:
    async with db.transaction() as session:
        job_id = await enqueue(session, kind, options.pop("payload", {}), **options)
    assert job_id is not None
    return job_id


# ---- outcomes of one run ---------------------------------------------------------------------


async def test_failing_handler_backs_off_then_dies_with_its_error(jobs_db, make_worker, recorder):
    registry.register("test.record", recorder, max_attempts=3, backoff_base_seconds=10)
    recorder.fail_times = 99
    worker = make_worker()
    worker.jitter = lambda: 1.0  # the top of the jitter range: delays are exactly 10 s, 20 s
    job_id = await _enqueue(jobs_db)

    with time_machine.travel(utcnow(), tick=False) as clock:
        assert await worker.run_once() == [JobOutcome.retry]
        job = await load_job(jobs_db, job_id)
        assert (job.status, job.attempts) == (JobStatus.pending, 1)
        assert job.run_at == utcnow() + timedelta(seconds=10)
        assert job.last_error == "ValueError: boom on attempt 1"
        assert job.locked_until is None

        assert await worker.run_once() == []  # not due yet
        clock.shift(10)
        assert await worker.run_once() == [JobOutcome.retry]
        job = await load_job(jobs_db, job_id)
        assert (job.status, job.attempts) == (JobStatus.pending, 2)
        assert job.run_at == utcnow() + timedelta(seconds=20)

        clock.shift(20)
        assert await worker.run_once() == [JobOutcome.dead]
        job = await load_job(jobs_db, job_id)
        assert (job.status, job.attempts) == (JobStatus.dead, 3)
        assert job.last_error == "ValueError: boom on attempt 3"
        assert job.finished_at == utcnow()

        clock.shift(3600)
        assert await worker.run_once() == []  # dead stays dead
    assert recorder.calls[job_id] == 3
    assert await effect_job_ids(jobs_db) == []  # every attempt's DB work was rolled back


async def test_succeeding_handler_commits_its_work_with_completion(jobs_db, make_worker, recorder):
    recorder.fail_times = 1
    worker = make_worker()
    job_id = await _enqueue(jobs_db, payload={"note": "second time lucky"})

    assert await worker.run_once() == [JobOutcome.retry]
    assert await effect_job_ids(jobs_db) == []  # the raising attempt's insert was rolled back
    with time_machine.travel(utcnow() + timedelta(hours=2)):
        assert await worker.run_once() == [JobOutcome.done]

    job = await load_job(jobs_db, job_id)
    assert (job.status, job.attempts, job.last_error) == (
        JobStatus.done,
        2,
        "ValueError: boom on attempt 1",  # kept: why it needed a retry
    )
    assert await effect_job_ids(jobs_db) == [job_id]


async def test_permanent_error_skips_remaining_attempts(jobs_db, make_worker):
    async def gone(ctx: JobContext) -> None:
        raise PermanentJobError(f"enrollment {ctx.payload['enrollment_id']} no longer exists")

    registry.register("test.gone", gone, max_attempts=5)
    job_id = await _enqueue(jobs_db, "test.gone", payload={"enrollment_id": "enr_x"})
    assert await make_worker().run_once() == [JobOutcome.dead]
    job = await load_job(jobs_db, job_id)
    assert (job.status, job.attempts) == (JobStatus.dead, 1)
    assert job.last_error == "PermanentJobError: enrollment enr_x no longer exists"


async def test_job_of_unknown_kind_is_retried_not_lost(jobs_db, make_worker):
    """A row whose kind this deployment does not know (an older or newer release wrote it)."""
    now = utcnow()
    async with jobs_db.transaction() as session:
        job_id = await repository.insert(
            session,
            {
                "id": new_id("job"),
                "kind": "test.from_another_release",
                "payload": {},
                "status": JobStatus.pending,
                "attempts": 0,
                "max_attempts": 3,
                "run_at": now,
                "created_at": now,
                "updated_at": now,
            },
        )
    assert await make_worker().run_once() == [JobOutcome.retry]
    job = await load_job(jobs_db, job_id)
    assert job.status == JobStatus.pending
    assert "no handler registered" in (job.last_error or "")


def test_backoff_is_exponential_capped_and_jittered():
    top = [backoff_delay(n, base=5, cap=100, rand=lambda: 1.0) for n in range(1, 8)]
    assert top == [5, 10, 20, 40, 80, 100, 100]
    assert backoff_delay(3, base=5, cap=100, rand=lambda: 0.0) == 0
    assert backoff_delay(10_000, base=5, cap=100, rand=lambda: 0.5) == 50  # no overflow
    delays = {backoff_delay(4, base=5, cap=100) for _ in range(20)}
    assert len(delays) > 1 and all(0 <= d <= 40 for d in delays)


def test_error_text_is_type_and_message_only():
    assert describe_error(ValueError("bad amount")) == "ValueError: bad amount"
    assert describe_error(TimeoutError()) == "TimeoutError"
    assert len(describe_error(RuntimeError("x" * 10_000))) == 2000


# ---- leases ------------------------------------------------------------------------------------


async def test_dead_workers_job_is_taken_over_and_its_late_completion_refused(
    jobs_db, make_worker, recorder
):
    job_id = await _enqueue(jobs_db)

    async def claim(name: str, lease_seconds: float):
        async with jobs_db.transaction() as session:
            return await repository.claim(
                session,
                now=utcnow(),
                limit=1,
                lease_seconds=lease_seconds,
                lease_token=name * 32,
                locked_by=f"worker-{name}",
            )

    # Worker A claims the job with a 5-second lease, then stalls (no completion, no heartbeat).
    [claimed_by_a] = await claim("a", 5)
    worker_a, worker_b = make_worker(name="worker-a"), make_worker(name="worker-b")
    assert await worker_b.run_once() == []  # A's lease is still valid

    with time_machine.travel(utcnow() + timedelta(seconds=6)):
        [claimed_by_b] = await claim("b", 30)  # A's lease has expired: B takes the job
        assert claimed_by_b.attempts == 2

        # A wakes up and finishes its run while B holds the job: the completion is refused.
        assert await worker_a.run_claimed(claimed_by_a) == JobOutcome.lease_lost
        assert await effect_job_ids(jobs_db) == []  # A's DB work was rolled back
        job = await load_job(jobs_db, job_id)
        assert (job.status, job.locked_by) == (JobStatus.running, "worker-b")

        assert await worker_b.run_claimed(claimed_by_b) == JobOutcome.done

    assert recorder.calls[job_id] == 2
    assert await effect_job_ids(jobs_db) == [job_id]  # only B's work is committed
    job = await load_job(jobs_db, job_id)
    assert (job.status, job.attempts, job.locked_by) == (JobStatus.done, 2, "worker-b")

    # A late *failure* report from A cannot reopen the job either.
    recorder.fail_times = 99
    assert await worker_a.run_claimed(claimed_by_a) == JobOutcome.lease_lost
    assert (await load_job(jobs_db, job_id)).status == JobStatus.done


async def test_expired_lease_is_claimed_by_the_worker_loop(jobs_db, make_worker, recorder):
    job_id = await _enqueue(jobs_db)
    async with jobs_db.transaction() as session:
        await repository.claim(
            session, now=utcnow(), limit=1, lease_seconds=5, lease_token="a" * 32, locked_by="a"
        )
    worker = make_worker(name="survivor")
    assert await worker.run_once() == []
    with time_machine.travel(utcnow() + timedelta(seconds=6)):
        assert await worker.run_once() == [JobOutcome.done]
    job = await load_job(jobs_db, job_id)
    assert (job.status, job.attempts, job.locked_by) == (JobStatus.done, 2, "survivor")


async def test_job_whose_final_attempt_lost_its_worker_ends_dead(jobs_db, make_worker, recorder):
    job_id = await _enqueue(jobs_db, max_attempts=1)
    async with jobs_db.transaction() as session:
        await repository.claim(
            session, now=utcnow(), limit=1, lease_seconds=5, lease_token="a" * 32, locked_by="a"
        )
    with time_machine.travel(utcnow() + timedelta(seconds=6)):
        assert await make_worker().run_once() == [JobOutcome.dead]
    job = await load_job(jobs_db, job_id)
    assert job.status == JobStatus.dead
    assert (job.last_error or "").startswith("LeaseExpired:")
    assert recorder.calls == {}


async def test_heartbeat_keeps_a_long_job_from_being_taken(jobs_db, make_worker):
    started = asyncio.Event()

    async def slow(ctx: JobContext) -> None:
        started.set()
        await asyncio.sleep(1.6)  # longer than the lease

    registry.register("test.slow", slow)
    job_id = await _enqueue(jobs_db, "test.slow")
    owner = make_worker(name="owner", lease_seconds=1.0, heartbeat_interval=0.1)
    rival = make_worker(name="rival", lease_seconds=1.0)

    run = asyncio.create_task(owner.run_once())
    await started.wait()
    first_lease = (await load_job(jobs_db, job_id)).locked_until
    latest_lease = first_lease
    while not run.done():
        assert await rival.run_once() == []  # the lease never lapses while the owner lives
        latest_lease = (await load_job(jobs_db, job_id)).locked_until or latest_lease
        await asyncio.sleep(0.05)
    assert await run == [JobOutcome.done]
    assert first_lease is not None and latest_lease is not None
    assert latest_lease - first_lease > timedelta(seconds=0.3)  # renewed while running
    job = await load_job(jobs_db, job_id)
    assert (job.status, job.attempts, job.locked_by) == (JobStatus.done, 1, "owner")


# ---- concurrency -------------------------------------------------------------------------------


async def test_many_workers_run_every_job_exactly_once(jobs_db, make_worker, settings, backend):
    job_count = 200 if backend == "postgresql" else 120
    calls: Counter[str] = Counter()

    async def record(ctx: JobContext) -> None:
        calls[ctx.job_id] += 1
        await ctx.session.execute(insert(effects).values(job_id=ctx.job_id, note="ran"))
        await asyncio.sleep(random.random() * 0.005)  # interleave the workers

    registry.register("test.count", record, max_attempts=1)
    async with jobs_db.transaction() as session:
        job_ids = [await enqueue(session, "test.count", {"n": n}) for n in range(job_count)]

    # Separate Database objects: separate pools, like separate worker processes.
    databases = [Database(settings) for _ in range(4)]
    workers = [make_worker(db, name=f"w{i}", concurrency=4) for i, db in enumerate(databases)]
    try:
        for worker in workers:
            await worker.start()

        async def all_done() -> bool:
            return await count_jobs(jobs_db, status=JobStatus.done) == job_count

        await wait_until(all_done, timeout=45)
        for worker in workers:
            await worker.stop()
    finally:
        for db in databases:
            await db.dispose()

    assert sorted(calls) == sorted(job_ids)
    assert set(calls.values()) == {1}, "a job ran more than once"
    effect_ids = await effect_job_ids(jobs_db)
    assert len(effect_ids) == job_count and set(effect_ids) == set(job_ids)
    async with jobs_db.sessionmaker() as session:
        owners = Counter((await session.execute(select(Job.locked_by))).scalars())
        attempts = set((await session.execute(select(Job.attempts))).scalars())
    assert attempts == {1}
    assert sum(owners.values()) == job_count
    assert len(owners) > 1, f"only one worker ever claimed: {owners}"


async def test_concurrent_claims_never_hand_out_a_job_twice(jobs_db, settings):
    """The claim statement itself, raced from separate connections."""
    registry.register("test.noop", _noop)
    async with jobs_db.transaction() as session:
        for n in range(60):
            await enqueue(session, "test.noop", {"n": n})

    databases = [Database(settings) for _ in range(4)]

    async def claim_all(db: Database, name: str) -> list[str]:
        taken: list[str] = []
        while True:
            async with db.transaction() as session:
                batch = await repository.claim(
                    session,
                    now=utcnow(),
                    limit=3,
                    lease_seconds=60,
                    lease_token=new_id("job"),
                    locked_by=name,
                )
            if not batch:
                return taken
            taken.extend(job.id for job in batch)

    try:
        results = await asyncio.gather(*(claim_all(db, f"c{i}") for i, db in enumerate(databases)))
    finally:
        for db in databases:
            await db.dispose()
    claimed = [job_id for batch in results for job_id in batch]
    assert len(claimed) == 60 and len(set(claimed)) == 60


async def _noop(ctx: JobContext) -> None:
    return None


@pytest.mark.postgresql_only
async def test_claim_skips_rows_locked_by_another_transaction(jobs_db, make_worker):
    """PostgreSQL: a claim passes over a row another claimer has locked instead of waiting.
    (SQLite has no row locks: its claims are serialised by the database write lock.)"""
    registry.register("test.noop", _noop)
    locked_id = await _enqueue(jobs_db, "test.noop")
    free_id = await _enqueue(jobs_db, "test.noop")
    worker = make_worker()
    async with jobs_db.transaction() as holder:
        await holder.execute(select(Job.id).where(Job.id == locked_id).with_for_update())
        outcomes = await asyncio.wait_for(worker.run_once(), timeout=5)
        assert outcomes == [JobOutcome.done]
        assert (await load_job(jobs_db, free_id)).status == JobStatus.done
    assert await worker.run_once() == [JobOutcome.done]
    assert (await load_job(jobs_db, locked_id)).status == JobStatus.done


async def test_claim_statement_is_one_update_with_skip_locked_on_postgresql(
    jobs_db, make_worker, backend
):
    statements: list[str] = []

    def capture(conn, cursor, statement, parameters, context, executemany):
        statements.append(statement)

    event.listen(jobs_db.engine.sync_engine, "before_cursor_execute", capture)
    try:
        await make_worker().run_once()
    finally:
        event.remove(jobs_db.engine.sync_engine, "before_cursor_execute", capture)
    [claim_sql] = [s for s in statements if "UPDATE jobs" in s]
    assert "RETURNING" in claim_sql
    assert ("FOR UPDATE SKIP LOCKED" in claim_sql) == (backend == "postgresql")


# ---- the loop and its life cycle ---------------------------------------------------------------


async def test_worker_loop_survives_failing_handlers_and_database_errors(
    jobs_db, make_worker, recorder, monkeypatch
):
    async def crash(ctx: JobContext) -> None:
        raise RuntimeError("handler bug")

    registry.register("test.crash", crash, max_attempts=1)
    real_claim = repository.claim
    failures = {"left": 2}

    async def flaky_claim(*args, **kwargs):
        if failures["left"]:
            failures["left"] -= 1
            raise OperationalError("SELECT 1", {}, Exception("database is restarting"))
        return await real_claim(*args, **kwargs)

    monkeypatch.setattr(repository, "claim", flaky_claim)
    crash_id = await _enqueue(jobs_db, "test.crash")
    good_id = await _enqueue(jobs_db)
    worker = make_worker()
    await worker.start()

    async def settled() -> bool:
        crashed = await load_job(jobs_db, crash_id)
        good = await load_job(jobs_db, good_id)
        return crashed.status == JobStatus.dead and good.status == JobStatus.done

    await wait_until(settled, timeout=10)
    assert failures["left"] == 0  # the loop went through both database errors
    later_id = await _enqueue(jobs_db)  # and is still claiming

    async def later_done() -> bool:
        return (await load_job(jobs_db, later_id)).status == JobStatus.done

    await wait_until(later_done, timeout=10)
    await worker.stop()


async def test_stop_waits_for_running_jobs_and_claims_no_more(jobs_db, make_worker, recorder):
    started, release = asyncio.Event(), asyncio.Event()

    async def gated(ctx: JobContext) -> None:
        started.set()
        await release.wait()
        await ctx.session.execute(insert(effects).values(job_id=ctx.job_id, note="finished"))

    registry.register("test.gated", gated)
    running_id = await _enqueue(jobs_db, "test.gated")
    worker = make_worker(concurrency=1)
    await worker.start()
    await started.wait()

    stopping = asyncio.create_task(worker.stop())
    await asyncio.sleep(0.1)
    assert not stopping.done(), "stop() returned while a job was running"
    waiting_id = await _enqueue(jobs_db)  # due, but the worker is shutting down
    await asyncio.sleep(0.1)
    release.set()
    await asyncio.wait_for(stopping, timeout=5)

    assert (await load_job(jobs_db, running_id)).status == JobStatus.done
    assert await effect_job_ids(jobs_db) == [running_id]
    assert (await load_job(jobs_db, waiting_id)).status == JobStatus.pending
    assert worker.running_jobs == 0


async def test_stop_gives_up_on_a_stuck_job_after_the_timeout(jobs_db, make_worker):
    started = asyncio.Event()

    async def stuck(ctx: JobContext) -> None:
        await ctx.session.execute(insert(effects).values(job_id=ctx.job_id, note="partial"))
        started.set()
        await asyncio.Event().wait()

    registry.register("test.stuck", stuck)
    job_id = await _enqueue(jobs_db, "test.stuck")
    worker = make_worker(shutdown_timeout=0.2)
    await worker.start()
    await started.wait()
    await asyncio.wait_for(worker.stop(), timeout=5)

    job = await load_job(jobs_db, job_id)
    assert job.status == JobStatus.running  # left for its lease to expire; another worker retries
    assert await effect_job_ids(jobs_db) == []  # the cancelled attempt's work was rolled back


async def test_run_worker_runs_until_signalled(jobs_db, settings, recorder):
    import os
    import signal

    from enrollpay.jobs.worker import run_worker

    job_id = await _enqueue(jobs_db)
    task = asyncio.create_task(run_worker(settings))

    async def done() -> bool:
        return (await load_job(jobs_db, job_id)).status == JobStatus.done

    await wait_until(done, timeout=10)
    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(task, timeout=10)
    assert recorder.calls == {job_id: 1}
    assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL


@pytest.mark.parametrize(
    "settings_overrides", [{"EMBEDDED_WORKER": True, "WORKER_POLL_INTERVAL_SECONDS": 0.01}]
)
async def test_embedded_worker_runs_jobs_inside_the_app(jobs_db, app, db, recorder):
    job_id = await _enqueue(db)

    async def done() -> bool:
        return (await load_job(jobs_db, job_id)).status == JobStatus.done

    await wait_until(done, timeout=10)
    assert recorder.calls == {job_id: 1}
