"""Every query on the jobs table.

Times are passed in (`now`) rather than read from the database so that every worker and every
test agrees on one clock, `kit.clock.utcnow()`, which tests can move. Statements that change a
claimed job are guarded by its lease token and use RETURNING to tell whether they matched
(never rowcount: psycopg may report -1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Table, and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.db.dialect import insert_ignore_duplicate
from enrollpay.jobs.models import Job, JobStatus

jobs: Table = Job.__table__  # type: ignore[assignment]

LAST_ERROR_MAX_CHARS = 2000


@dataclass(frozen=True)
class ClaimedJob:
    """What a worker knows about a job it holds the lease on."""

    id: str
    kind: str
    payload: dict[str, Any]
    attempts: int  # including this one
    max_attempts: int
    lease_token: str
    locked_until: datetime


@dataclass(frozen=True)
class JobStats:
    pending: int  # all pending jobs, due or scheduled for later
    running: int
    dead: int
    oldest_due_age_seconds: float | None  # how late the most overdue pending job is


async def insert(session: AsyncSession, values: dict[str, Any]) -> str:
    await session.execute(jobs.insert().values(**values))
    return str(values["id"])


async def insert_unless_duplicate(session: AsyncSession, values: dict[str, Any]) -> str | None:
    """The new job's id, or None when a job with the same dedupe_key already exists."""
    return await insert_ignore_duplicate(session, jobs, values, returning=jobs.c.id)


async def claim(
    session: AsyncSession,
    *,
    now: datetime,
    limit: int,
    lease_seconds: float,
    lease_token: str,
    locked_by: str,
) -> list[ClaimedJob]:
    """Take up to `limit` due jobs (or jobs whose lease expired) in one statement.

    One statement keeps the claim atomic on both databases: on PostgreSQL `FOR UPDATE SKIP
    LOCKED` lets concurrent workers pass over each other's rows instead of waiting; on SQLite
    (where that clause is dropped) the write transaction is BEGIN IMMEDIATE, so claims are
    serialised. The candidates are a MATERIALIZED CTE on PostgreSQL so the LIMIT-ed, locking
    subquery is evaluated exactly once (an `IN (subquery)` may be re-scanned by some plans and
    then lock more than `limit` rows).
    """
    candidates = (
        select(jobs.c.id)
        .where(
            or_(
                and_(jobs.c.status == JobStatus.pending, jobs.c.run_at <= now),
                and_(jobs.c.status == JobStatus.running, jobs.c.locked_until < now),
            )
        )
        .order_by(jobs.c.run_at)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        candidates = candidates.with_for_update(skip_locked=True)
    claimable = candidates.cte("claimable").prefix_with("MATERIALIZED", dialect="postgresql")
    locked_until = now + timedelta(seconds=lease_seconds)
    stmt = (
        update(jobs)
        .where(jobs.c.id.in_(select(claimable.c.id)))
        .values(
            status=JobStatus.running,
            attempts=jobs.c.attempts + 1,
            locked_until=locked_until,
            lease_token=lease_token,
            locked_by=locked_by,
            updated_at=now,
        )
        .returning(jobs.c.id, jobs.c.kind, jobs.c.payload, jobs.c.attempts, jobs.c.max_attempts)
    )
    rows = (await session.execute(stmt)).all()
    return [
        ClaimedJob(
            id=row.id,
            kind=row.kind,
            payload=row.payload,
            attempts=row.attempts,
            max_attempts=row.max_attempts,
            lease_token=lease_token,
            locked_until=locked_until,
        )
        for row in rows
    ]


def _guarded(job_id: str, lease_token: str) -> Any:
    return and_(
        jobs.c.id == job_id,
        jobs.c.lease_token == lease_token,
        jobs.c.status == JobStatus.running,
    )


async def extend_lease(
    session: AsyncSession,
    job_id: str,
    lease_token: str,
    *,
    now: datetime,
    lease_seconds: float,
) -> bool:
    """Heartbeat: push locked_until forward while we still hold the job. False when the lease
    was lost (another worker claimed the job, or it finished)."""
    stmt = (
        update(jobs)
        .where(_guarded(job_id, lease_token))
        .values(locked_until=now + timedelta(seconds=lease_seconds), updated_at=now)
        .returning(jobs.c.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def mark_done(session: AsyncSession, job_id: str, lease_token: str, *, now: datetime) -> bool:
    """Complete a job we hold; False when the lease was lost (the caller must roll back)."""
    stmt = (
        update(jobs)
        .where(_guarded(job_id, lease_token))
        .values(
            status=JobStatus.done,
            locked_until=None,
            finished_at=now,
            updated_at=now,
        )
        .returning(jobs.c.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def mark_failed(
    session: AsyncSession,
    job_id: str,
    lease_token: str,
    *,
    error: str,
    retry_at: datetime | None,
    now: datetime,
) -> bool:
    """Record a failed attempt: back to pending at `retry_at`, or `dead` when it is None.

    False when the lease was lost (another worker owns the job now; its outcome wins)."""
    values: dict[str, Any] = {
        "last_error": error[:LAST_ERROR_MAX_CHARS],
        "locked_until": None,
        "updated_at": now,
    }
    if retry_at is None:
        values.update(status=JobStatus.dead, finished_at=now)
    else:
        values.update(status=JobStatus.pending, run_at=retry_at)
    stmt = update(jobs).where(_guarded(job_id, lease_token)).values(**values).returning(jobs.c.id)
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def get(session: AsyncSession, job_id: str) -> Job | None:
    return await session.get(Job, job_id, populate_existing=True)


async def stats(session: AsyncSession, *, now: datetime) -> JobStats:
    rows = await session.execute(select(jobs.c.status, func.count()).group_by(jobs.c.status))
    counts: dict[str, int] = {status: count for status, count in rows.all()}
    oldest_due = (
        await session.execute(
            select(func.min(jobs.c.run_at)).where(
                jobs.c.status == JobStatus.pending, jobs.c.run_at <= now
            )
        )
    ).scalar_one_or_none()
    return JobStats(
        pending=counts.get(JobStatus.pending, 0),
        running=counts.get(JobStatus.running, 0),
        dead=counts.get(JobStatus.dead, 0),
        oldest_due_age_seconds=(now - oldest_due).total_seconds() if oldest_due else None,
    )


async def retry_dead(session: AsyncSession, job_id: str, *, now: datetime) -> bool:
    """Give a dead job a fresh set of attempts, due now. False unless it was dead.

    last_error is kept so the admin still sees why it died until it runs again."""
    stmt = (
        update(jobs)
        .where(jobs.c.id == job_id, jobs.c.status == JobStatus.dead)
        .values(
            status=JobStatus.pending,
            attempts=0,
            run_at=now,
            locked_until=None,
            lease_token=None,
            locked_by=None,
            finished_at=None,
            updated_at=now,
        )
        .returning(jobs.c.id)
    )
    return (await session.execute(stmt)).scalar_one_or_none() is not None


async def delete_done_before(session: AsyncSession, cutoff: datetime, *, limit: int) -> int:
    """Forget a bounded batch of jobs that finished before `cutoff` (dead ones stay for admins)."""
    ids = list(
        (
            await session.execute(
                select(Job.id)
                .where(Job.status == JobStatus.done, Job.finished_at < cutoff)
                .limit(limit)
            )
        ).scalars()
    )
    if ids:
        await session.execute(jobs.delete().where(Job.id.in_(ids)))
    return len(ids)


async def list_jobs(
    session: AsyncSession,
    *,
    status: str | None,
    kind: str | None,
    before_id: str | None,
    limit: int,
) -> list[Job]:
    """Newest first (ids sort by time of creation), older than the cursor id."""
    stmt = select(Job).order_by(Job.id.desc()).limit(limit)
    if status is not None:
        stmt = stmt.where(Job.status == status)
    if kind is not None:
        stmt = stmt.where(Job.kind == kind)
    if before_id is not None:
        stmt = stmt.where(Job.id < before_id)
    return list((await session.execute(stmt)).scalars())
