"""Enqueueing jobs inside the caller's transaction (the transactional outbox, SPEC §1.4).

A job enqueued here exists exactly when the caller's transaction commits: a state change and
the side effects it causes are written together or not at all. Nothing here commits.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.errors import Conflict, NotFound
from enrollpay.jobs import repository
from enrollpay.jobs.models import JobStatus
from enrollpay.jobs.registry import registry
from enrollpay.jobs.schemas import JobDetail, JobSummary
from enrollpay.kit.clock import utcnow
from enrollpay.kit.ids import has_prefix, new_id
from enrollpay.kit.pagination import Page, checked_cursor


async def enqueue(
    session: AsyncSession,
    kind: str,
    payload: Mapping[str, Any],
    *,
    run_at: datetime | None = None,
    delay: timedelta | float | None = None,
    dedupe_key: str | None = None,
    max_attempts: int | None = None,
) -> str | None:
    """Add a job to the caller's transaction; returns its id.

    `run_at` (aware datetime) or `delay` (timedelta or seconds) postpone it; default: due now.
    With `dedupe_key`, returns None when a job with that key already exists (in any status —
    a finished job still holds its key), so "send this receipt once" can be enqueued by every
    path that might need it. `max_attempts` defaults to the kind's registration.

    Raises UnknownJobKind for an unregistered kind, and TypeError / ValueError for a payload
    that is not a JSON object or for bad times — programming errors, found at enqueue time
    rather than by the worker.
    """
    spec = registry.require(kind)
    if not isinstance(payload, Mapping):
        raise TypeError(f"job payload must be a mapping (a JSON object), got {type(payload)!r}")
    payload = dict(payload)
    json.dumps(payload, allow_nan=False)  # raises now, not later in the worker
    if run_at is not None and delay is not None:
        raise ValueError("give run_at or delay, not both")
    if run_at is not None and run_at.utcoffset() is None:
        raise ValueError("run_at must be timezone-aware")
    attempts_allowed = spec.max_attempts if max_attempts is None else max_attempts
    if attempts_allowed < 1:
        raise ValueError("max_attempts must be at least 1")

    now = utcnow()
    if delay is not None:
        run_at = now + (delay if isinstance(delay, timedelta) else timedelta(seconds=delay))
    values: dict[str, Any] = {
        "id": new_id("job"),
        "kind": kind,
        "payload": payload,
        "status": JobStatus.pending,
        "attempts": 0,
        "max_attempts": attempts_allowed,
        "run_at": run_at or now,
        "dedupe_key": dedupe_key,
        "created_at": now,
        "updated_at": now,
    }
    if dedupe_key is None:
        return await repository.insert(session, values)
    return await repository.insert_unless_duplicate(session, values)


def periodic_dedupe_key(name: str, slot: int) -> str:
    return f"{name}@{slot}"


async def enqueue_periodic(
    session: AsyncSession, name: str, *, interval_seconds: int, now: datetime
) -> str | None:
    """Enqueue `name` for the interval slot containing `now`; None if that slot already has
    its job. The unique dedupe key makes this safe for any number of workers to call."""
    slot = int(now.timestamp() // interval_seconds)
    payload = {"slot": slot, "interval_seconds": interval_seconds}
    return await enqueue(session, name, payload, dedupe_key=periodic_dedupe_key(name, slot))


# ---- admin --------------------------------------------------------------------------------------


class JobNotDead(Conflict):
    code = "job_not_dead"
    message = "Only a dead job can be retried; this one is still queued, running or done."
    hint = "A pending or running job retries by itself; a done job has nothing left to do."


async def job_page(
    session: AsyncSession,
    *,
    status: JobStatus | None = None,
    kind: str | None = None,
    cursor: str | None = None,
    limit: int,
) -> Page[JobSummary]:
    """The jobs table, newest first; `next_cursor` continues with older jobs."""
    rows = await repository.list_jobs(
        session,
        status=status,
        kind=kind,
        before_id=checked_cursor(cursor, "job"),
        limit=limit + 1,
    )
    page = rows[:limit]
    return Page[JobSummary](
        items=[JobSummary.model_validate(row) for row in page],
        next_cursor=page[-1].id if len(rows) > limit else None,
    )


async def get_job(session: AsyncSession, job_id: str) -> JobDetail:
    job = await repository.get(session, job_id) if has_prefix(job_id, "job") else None
    if job is None:
        raise NotFound("No such job.")
    return JobDetail.model_validate(job)


async def retry_job(session: AsyncSession, job_id: str, *, now: datetime) -> JobDetail:
    """A dead job gets a fresh set of attempts, due now; anything else is `JobNotDead` (409),
    so two admins pressing Retry together start it once."""
    await get_job(session, job_id)  # an unknown id is a 404, not a 409
    if not await repository.retry_dead(session, job_id, now=now):
        current = await get_job(session, job_id)  # as it is now, after any concurrent retry
        raise JobNotDead(details={"status": current.status})
    return await get_job(session, job_id)
