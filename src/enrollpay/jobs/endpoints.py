"""Admin routes on the jobs table: list, show, and retry a dead job (`/admin/jobs`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from enrollpay.admin.service import record_admin_action
from enrollpay.auth.dependencies import AdminUser
from enrollpay.db.session import SessionDep
from enrollpay.errors import documented
from enrollpay.jobs import service
from enrollpay.jobs.models import JobStatus
from enrollpay.jobs.registry import KIND_MAX_LENGTH
from enrollpay.jobs.schemas import JobDetail, JobSummary
from enrollpay.kit.clock import utcnow
from enrollpay.kit.pagination import DEFAULT_LIMIT, Cursor, Limit, Page

admin_router = APIRouter()

AUDITED_ERROR_CHARS = 300


@admin_router.get(
    "/jobs",
    response_model=Page[JobSummary],
    summary="Jobs, newest first (filter by status and kind; every status unless asked)",
)
async def list_jobs(
    _admin: AdminUser,
    session: SessionDep,
    status: Annotated[JobStatus | None, Query()] = None,
    kind: Annotated[str | None, Query(max_length=KIND_MAX_LENGTH)] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[JobSummary]:
    return await service.job_page(session, status=status, kind=kind, cursor=cursor, limit=limit)


@admin_router.get(
    "/jobs/{job_id}",
    response_model=JobDetail,
    summary="One job with its payload, attempts, last error and lease",
)
async def get_job(job_id: str, _admin: AdminUser, session: SessionDep) -> JobDetail:
    return await service.get_job(session, job_id)


@admin_router.post(
    "/jobs/{job_id}/retry",
    status_code=202,
    response_model=JobDetail,
    summary="Run a dead job again with a fresh set of attempts",
    description=(
        "The job goes back to `pending`, due now, with `attempts` reset; `last_error` stays "
        "until it runs. Recorded in the audit trail as `job.retry`."
    ),
    responses={409: documented("Not dead (`job_not_dead`; details.status says what it is)")},
)
async def retry_job(job_id: str, admin: AdminUser, session: SessionDep) -> JobDetail:
    job = await service.retry_job(session, job_id, now=utcnow())
    enrollment_id = job.payload.get("enrollment_id")
    await record_admin_action(
        session,
        admin,
        "job.retry",
        target_type="job",
        target_id=job.id,
        enrollment_id=enrollment_id if isinstance(enrollment_id, str) else None,
        # Why it had died, as the console already shows it (type and message, no traceback).
        details={"kind": job.kind, "last_error": (job.last_error or "")[:AUDITED_ERROR_CHARS]},
    )
    return job
