"""Admin routes that span domains: the audit trail of admin actions and the console's
enrollments (search, detail, timeline, grant access)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, status

from enrollpay.admin import enrollments, service
from enrollpay.admin.schemas import (
    AdminActionOut,
    AdminEnrollmentDetail,
    AdminEnrollmentOut,
    DayOrMoment,
    GrantRequest,
    TimelineEvent,
)
from enrollpay.auth.dependencies import AdminUser
from enrollpay.db.session import SessionDep
from enrollpay.enrollments.models import EnrollmentStatus
from enrollpay.errors import documented
from enrollpay.kit.clock import utcnow
from enrollpay.kit.pagination import DEFAULT_LIMIT, Cursor, Limit, Page

admin_router = APIRouter()


@admin_router.get(
    "/audit-log",
    response_model=Page[AdminActionOut],
    summary="Admin actions, newest first (filter by actor, action, target or enrollment)",
)
async def list_admin_actions(
    _admin: AdminUser,
    session: SessionDep,
    actor_id: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    target_id: Annotated[str | None, Query(max_length=64)] = None,
    enrollment_id: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[AdminActionOut]:
    return await service.list_actions(
        session,
        actor_id=actor_id,
        action=action,
        target_id=target_id,
        enrollment_id=enrollment_id,
        cursor=cursor,
        limit=limit,
    )


@admin_router.get(
    "/enrollments",
    response_model=Page[AdminEnrollmentOut],
    summary="Search enrollments, newest first",
    description=(
        "Every filter given must match. `q` is a learner's email or part of it (any case), or "
        "an exact id: `enr_…`, `usr_…`, `pmt_…`, a Razorpay `order_…` or `pay_…`. "
        "`created_from`/`created_to` are inclusive; a date (YYYY-MM-DD) is a whole day in IST, "
        "a datetime without an offset is read as IST."
    ),
)
async def search_enrollments(
    _admin: AdminUser,
    session: SessionDep,
    status_filter: Annotated[EnrollmentStatus | None, Query(alias="status")] = None,
    course_id: Annotated[str | None, Query(max_length=64)] = None,
    user_id: Annotated[str | None, Query(max_length=64)] = None,
    q: Annotated[str | None, Query(max_length=320)] = None,
    created_from: Annotated[DayOrMoment | None, Query()] = None,
    created_to: Annotated[DayOrMoment | None, Query()] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[AdminEnrollmentOut]:
    return await enrollments.search_enrollments(
        session,
        status=status_filter,
        course_id=course_id,
        user_id=user_id,
        q=q,
        created_from=created_from,
        created_to=created_to,
        cursor=cursor,
        limit=limit,
    )


@admin_router.post(
    "/enrollments",
    status_code=status.HTTP_201_CREATED,
    response_model=AdminEnrollmentOut,
    summary="Grant a learner access to a course without payment",
    description=enrollments.GRANT_RULES,
    responses={
        404: documented("not_found: unknown learner, unknown or draft course"),
        409: documented("already_enrolled, course_full"),
    },
)
async def grant_access(
    body: GrantRequest, admin: AdminUser, session: SessionDep
) -> AdminEnrollmentOut:
    return await enrollments.grant_access(
        session,
        admin,
        user_id=body.user_id,
        course_id=body.course_id,
        reason=body.reason,
        now=utcnow(),
    )


@admin_router.get(
    "/enrollments/{enrollment_id}",
    response_model=AdminEnrollmentDetail,
    summary="One enrollment with its payments (and their attempts), refunds and disputes",
)
async def get_enrollment(
    enrollment_id: str, _admin: AdminUser, session: SessionDep
) -> AdminEnrollmentDetail:
    return await enrollments.enrollment_detail(session, enrollment_id)


@admin_router.get(
    "/enrollments/{enrollment_id}/timeline",
    response_model=Page[TimelineEvent],
    summary="Every event of one enrollment, oldest first",
    description=(
        "From its own timestamps, payments, Razorpay payment attempts, gateway facts, checkout "
        "calls, Razorpay webhooks, jobs, emails, refunds, disputes, webhooks to platforms and "
        "admin actions. All of it in one page (`next_cursor` is always null)."
    ),
)
async def get_enrollment_timeline(
    enrollment_id: str, _admin: AdminUser, session: SessionDep
) -> Page[TimelineEvent]:
    events = await enrollments.enrollment_timeline(session, enrollment_id)
    return Page[TimelineEvent](items=events)
