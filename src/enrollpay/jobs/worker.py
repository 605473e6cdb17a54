"""The job worker: claims due jobs, runs their handlers, retries failures with backoff.

Embedded in `enrollpay serve` (SQLite default) or run as `enrollpay worker` processes, any
number of them. Correctness does not depend on how many run or whether one dies:

- a claim is one `UPDATE … RETURNING` statement that gives each job a fresh lease token;
- a handler's DB work commits in the same transaction as the `done` mark, and that mark only
  matches while the row still carries our token — a worker that lost its lease (it stalled, the
  lease expired, another worker took the job) has its work rolled back;
- a lease is renewed while the handler runs, so only a dead or stuck worker loses it.

Jobs therefore run at least once and complete at most once; handlers with effects outside the
database (email, gateway calls) must be idempotent.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import signal
import socket
import time
from collections.abc import Callable
from datetime import timedelta
from enum import StrEnum

import structlog

from enrollpay.config import Settings
from enrollpay.db.engine import Database
from enrollpay.jobs import repository
from enrollpay.jobs.registry import (
    DEFAULT_BACKOFF_BASE_SECONDS,
    DEFAULT_BACKOFF_CAP_SECONDS,
    JobContext,
    JobRegistry,
    JobSpec,
    PermanentJobError,
    discover_handlers,
)
from enrollpay.jobs.registry import (
    registry as default_registry,
)
from enrollpay.jobs.repository import LAST_ERROR_MAX_CHARS, ClaimedJob
from enrollpay.jobs.service import enqueue_periodic
from enrollpay.kit.clock import utcnow
from enrollpay.logging import configure_logging
from enrollpay.metrics import WorkerMetrics, record_job_run

log = structlog.get_logger(__name__)

MAX_ERROR_PAUSE_SECONDS = 30.0


class JobOutcome(StrEnum):
    done = "done"
    retry = "retry"  # failed, back to pending with backoff
    dead = "dead"  # failed for the last time
    lease_lost = "lease_lost"  # another worker owns the job now; our work was rolled back


class LeaseLost(Exception):
    pass


class LeaseExpired(Exception):
    """Recorded when a job is reclaimed after its final attempt's worker vanished."""


def backoff_delay(
    attempt: int, *, base: float, cap: float, rand: Callable[[], float] | None = None
) -> float:
    """Seconds to wait after failed attempt number `attempt` (1-based).

    "Full jitter": uniform over [0, min(cap, base * 2^(attempt-1))], so jobs that failed
    together (a gateway outage) do not come back together."""
    ceiling = min(cap, base * 2 ** min(attempt - 1, 60))
    return (rand or random.random)() * ceiling  # jitter, not a secret: random is fine


def describe_error(exc: BaseException) -> str:
    """Exception type and message only: tracebacks (with their local paths and values) stay in
    the logs, out of a column the admin console shows."""
    message = str(exc).strip()
    text = type(exc).__name__ + (f": {message}" if message else "")
    return text[:LAST_ERROR_MAX_CHARS]


class Worker:
    """Runs up to `concurrency` jobs at once; `start()` / `stop()` bracket its life.

    The keyword arguments override the settings (tests use short leases and polls)."""

    def __init__(
        self,
        db: Database,
        settings: Settings,
        *,
        registry: JobRegistry | None = None,
        name: str | None = None,
        concurrency: int | None = None,
        poll_interval: float | None = None,
        lease_seconds: float | None = None,
        heartbeat_interval: float | None = None,
        shutdown_timeout: float | None = None,
    ) -> None:
        self.db = db
        self.settings = settings
        self.registry = registry or default_registry
        self.name = name or f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"
        self.concurrency = concurrency or settings.WORKER_CONCURRENCY
        self.poll_interval = poll_interval or settings.WORKER_POLL_INTERVAL_SECONDS
        self.lease_seconds = lease_seconds or settings.JOB_LEASE_SECONDS
        # Three renewals per lease: one slow or failed renewal does not lose the job.
        self.heartbeat_interval = heartbeat_interval or self.lease_seconds / 3
        # Past the lease, another worker may take a job anyway; waiting longer buys nothing.
        self.shutdown_timeout = self.lease_seconds if shutdown_timeout is None else shutdown_timeout
        self._tasks: set[asyncio.Task[JobOutcome | None]] = set()
        self._loop_task: asyncio.Task[None] | None = None
        self._stopping = asyncio.Event()
        self._wakeup = asyncio.Event()
        self._last_slots: dict[str, int] = {}  # periodic schedule → last slot enqueued
        self.jitter: Callable[[], float] = random.random  # tests pin it to make backoff exact

    @property
    def running_jobs(self) -> int:
        return len(self._tasks)

    # ---- life cycle -----------------------------------------------------------------------

    async def start(self) -> None:
        if self._loop_task is not None:
            return
        discover_handlers()
        self._stopping.clear()
        self._loop_task = asyncio.create_task(self._run_loop(), name=f"jobs-worker:{self.name}")
        log.info(
            "jobs.worker_started",
            worker=self.name,
            concurrency=self.concurrency,
            kinds=self.registry.kinds(),
        )

    async def stop(self) -> None:
        """Stop claiming, let running jobs finish (up to `shutdown_timeout`), then return.

        Jobs still running after the timeout are cancelled: their transaction rolls back and
        they stay `running` until their lease expires, when any worker takes them again."""
        if self._loop_task is None:
            return
        self._stopping.set()
        self._wakeup.set()
        await self._loop_task
        self._loop_task = None
        abandoned = 0
        if self._tasks:
            _, pending = await asyncio.wait(set(self._tasks), timeout=self.shutdown_timeout)
            abandoned = len(pending)
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        log.info("jobs.worker_stopped", worker=self.name, abandoned=abandoned)

    async def _run_loop(self) -> None:
        consecutive_errors = 0
        while not self._stopping.is_set():
            try:
                await self.tick_schedules()
                claimed = await self._claim(self.concurrency - len(self._tasks))
            except Exception:
                # The database is down or busy: keep the loop alive, back off, try again.
                consecutive_errors += 1
                pause = min(self.poll_interval * 2**consecutive_errors, MAX_ERROR_PAUSE_SECONDS)
                log.exception("jobs.loop_error", worker=self.name, retry_in=pause)
                await self._pause(pause)
                continue
            consecutive_errors = 0
            for job in claimed:
                self._spawn(job)
            # Idle or full: wait for the poll interval, a finished job or stop().
            await self._pause(self.poll_interval)

    async def _pause(self, seconds: float) -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._wakeup.wait(), seconds)
        self._wakeup.clear()

    def _spawn(self, job: ClaimedJob) -> None:
        task = asyncio.create_task(self._run_job_task(job), name=f"job:{job.id}")
        self._tasks.add(task)

        def finished(done: asyncio.Task[JobOutcome | None]) -> None:
            self._tasks.discard(done)
            self._wakeup.set()  # a slot is free: claim again without waiting for the poll

        task.add_done_callback(finished)

    async def _run_job_task(self, job: ClaimedJob) -> JobOutcome | None:
        try:
            return await self.run_claimed(job)
        except Exception:  # run_claimed handles handler errors; this is a bug or a DB outage
            log.exception("jobs.run_error", worker=self.name, job_id=job.id, kind=job.kind)
            return None

    # ---- one pass, for tests and one-off runs ---------------------------------------------

    async def run_once(
        self, limit: int | None = None, *, schedules: bool = True
    ) -> list[JobOutcome]:
        """Tick the schedules (unless `schedules=False`: tests that count exactly which jobs
        ran), claim up to `limit` due jobs and run them to completion."""
        discover_handlers()
        if schedules:
            await self.tick_schedules()
        claimed = await self._claim(limit or self.concurrency)
        return list(await asyncio.gather(*(self.run_claimed(job) for job in claimed)))

    # ---- claiming ---------------------------------------------------------------------------

    async def _claim(self, limit: int) -> list[ClaimedJob]:
        if limit <= 0:
            return []
        async with self.db.transaction() as session:
            return await repository.claim(
                session,
                now=utcnow(),
                limit=limit,
                lease_seconds=self.lease_seconds,
                lease_token=secrets.token_hex(16),
                locked_by=self.name,
            )

    async def tick_schedules(self) -> None:
        """Enqueue each periodic job for the current slot, unless this worker already did.

        Every worker does this; the `name@slot` dedupe key lets exactly one insert win."""
        now = utcnow()
        due: list[tuple[str, int, int]] = []
        for schedule in self.registry.schedules():
            interval = schedule.interval_seconds(self.settings)
            slot = int(now.timestamp() // interval)
            if self._last_slots.get(schedule.name) != slot:
                due.append((schedule.name, interval, slot))
        if not due:
            return
        async with self.db.transaction() as session:
            for name, interval, _ in due:
                await enqueue_periodic(session, name, interval_seconds=interval, now=now)
        for name, _, slot in due:
            self._last_slots[name] = slot

    # ---- running one claimed job ------------------------------------------------------------

    async def run_claimed(self, job: ClaimedJob) -> JobOutcome:
        """Run a job this worker holds the lease on and record the outcome (and count it)."""
        started = time.perf_counter()
        outcome = await self._run_claimed(job)
        record_job_run(job.kind, outcome, time.perf_counter() - started)
        return outcome

    async def _run_claimed(self, job: ClaimedJob) -> JobOutcome:
        bound = log.bind(worker=self.name, job_id=job.id, kind=job.kind, attempt=job.attempts)
        spec = self.registry.get(job.kind)
        if job.attempts > job.max_attempts:
            return await self._record_failure(
                job,
                spec,
                LeaseExpired("the worker running the final attempt stopped renewing its lease"),
            )
        if spec is None:
            # A newer deployment may know this kind; retry (and eventually give up) as usual.
            return await self._record_failure(
                job, spec, LookupError(f"no handler registered for job kind {job.kind!r}")
            )

        stop_heartbeat = asyncio.Event()
        heartbeat = asyncio.create_task(self._keep_lease(job, stop_heartbeat))
        failure: Exception | None = None
        cancelled = False
        try:
            await self._run_handler(job, spec, stop_heartbeat)
        except LeaseLost:
            bound.warning("jobs.lease_lost", detail="completion refused; work rolled back")
            return JobOutcome.lease_lost
        except asyncio.CancelledError:
            cancelled = True
            heartbeat.cancel()
            raise
        except Exception as exc:
            failure = exc
        finally:
            stop_heartbeat.set()
            # Awaited only after the handler's transaction has ended: on SQLite a renewal may
            # be waiting for the write lock that transaction held.
            if not cancelled:
                await heartbeat
        if failure is not None:
            bound.warning("jobs.handler_failed", error=describe_error(failure), exc_info=failure)
            return await self._record_failure(job, spec, failure)
        bound.debug("jobs.done")
        return JobOutcome.done

    async def _run_handler(
        self, job: ClaimedJob, spec: JobSpec, stop_heartbeat: asyncio.Event
    ) -> None:
        async with self.db.sessionmaker() as session, session.begin():
            context = JobContext(
                job_id=job.id,
                kind=job.kind,
                payload=job.payload,
                attempt=job.attempts,
                max_attempts=job.max_attempts,
                session=session,
                db=self.db,
                settings=self.settings,
            )
            await spec.handler(context)
            stop_heartbeat.set()
            if not await repository.mark_done(session, job.id, job.lease_token, now=utcnow()):
                raise LeaseLost(job.id)  # leaving the block rolls the handler's work back

    async def _keep_lease(self, job: ClaimedJob, stop: asyncio.Event) -> None:
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self.heartbeat_interval)
            if stop.is_set():
                return
            try:
                async with self.db.transaction() as session:
                    held = await repository.extend_lease(
                        session,
                        job.id,
                        job.lease_token,
                        now=utcnow(),
                        lease_seconds=self.lease_seconds,
                    )
            except Exception:
                # Try again next beat; the lease outlasts a couple of missed renewals.
                log.warning("jobs.heartbeat_failed", job_id=job.id, exc_info=True)
                continue
            if not held:
                if not stop.is_set():  # not just the job finishing as we renewed
                    log.warning("jobs.lease_lost", job_id=job.id, worker=self.name)
                return

    async def _record_failure(
        self, job: ClaimedJob, spec: JobSpec | None, exc: Exception
    ) -> JobOutcome:
        now = utcnow()
        give_up = isinstance(exc, PermanentJobError) or job.attempts >= job.max_attempts
        retry_at = None
        if not give_up:
            delay = backoff_delay(
                job.attempts,
                base=spec.backoff_base_seconds if spec else DEFAULT_BACKOFF_BASE_SECONDS,
                cap=spec.backoff_cap_seconds if spec else DEFAULT_BACKOFF_CAP_SECONDS,
                rand=self.jitter,
            )
            retry_at = now + timedelta(seconds=delay)
        async with self.db.transaction() as session:
            recorded = await repository.mark_failed(
                session,
                job.id,
                job.lease_token,
                error=describe_error(exc),
                retry_at=retry_at,
                now=now,
            )
        if not recorded:
            log.warning("jobs.lease_lost", job_id=job.id, worker=self.name)
            return JobOutcome.lease_lost
        if give_up:
            log.error("jobs.dead", job_id=job.id, kind=job.kind, error=describe_error(exc))
            return JobOutcome.dead
        return JobOutcome.retry


async def run_worker(settings: Settings) -> None:
    """`enrollpay worker`: run until SIGINT/SIGTERM, finish running jobs, dispose the engine.

    After the first signal the handlers are removed, so a second one exits at once."""
    configure_logging(settings.LOG_LEVEL)
    db = Database(settings)
    worker = Worker(db, settings)
    metrics_task = None
    if settings.WORKER_METRICS_PORT is not None:
        metrics = WorkerMetrics(db)
        metrics.serve(settings.WORKER_METRICS_PORT)
        metrics_task = asyncio.create_task(metrics.keep_jobs_fresh())
        log.info("jobs.metrics_listening", port=settings.WORKER_METRICS_PORT)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    signals = (signal.SIGINT, signal.SIGTERM)

    def on_signal(signum: signal.Signals) -> None:
        log.info("jobs.worker_stopping", signal=signum.name, worker=worker.name)
        for sig in signals:
            loop.remove_signal_handler(sig)
        stop.set()

    for sig in signals:
        loop.add_signal_handler(sig, on_signal, sig)
    try:
        await worker.start()
        await stop.wait()
    finally:
        for sig in signals:
            loop.remove_signal_handler(sig)
        if metrics_task is not None:
            metrics_task.cancel()
        try:
            await worker.stop()
        finally:
            await db.dispose()
