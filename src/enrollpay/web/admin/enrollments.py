"""The console's enrollments: search them, and read one with its money and its whole timeline
— enough to answer "why isn't this learner enrolled?" without a database shell. Grants and
refunds go through the admin API (static/admin.js)."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response
from pydantic import TypeAdapter, ValidationError

from enrollpay.admin import enrollments
from enrollpay.admin.schemas import DayOrMoment
from enrollpay.courses import repository as courses_repository
from enrollpay.db.session import SessionDep
from enrollpay.enrollments.models import EnrollmentStatus
from enrollpay.errors import NotFound
from enrollpay.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from enrollpay.notifications.rendering import IST, format_time
from enrollpay.web.admin.pages import (
    AdminPageUser,
    admin_not_found,
    next_page_url,
    page_cursor,
    render_admin,
)

router = APIRouter()

_DAY_OR_MOMENT: TypeAdapter[date | datetime] = TypeAdapter(DayOrMoment)
STATUSES = [status.value for status in EnrollmentStatus]


def format_instant(value: datetime) -> str:
    """`format_time` with seconds: a timeline's events are often seconds apart."""
    return value.astimezone(IST).strftime("%d %b %Y, %H:%M:%S IST")


def _day_or_moment(text: str | None) -> date | datetime | None:
    """The API's rule for a range bound; a value it would refuse is ignored (pages never 422)."""
    if not text:
        return None
    try:
        return _DAY_OR_MOMENT.validate_python(text)
    except ValidationError:
        return None


@router.get("/admin/enrollments")
async def enrollments_page(
    request: Request,
    admin: AdminPageUser,
    session: SessionDep,
    q: str | None = None,
    status: str | None = None,
    course_id: str | None = None,
    user_id: str | None = None,
    created_from: str | None = None,
    created_to: str | None = None,
    cursor: str | None = None,
) -> Response:
    status_filter = EnrollmentStatus(status) if status in STATUSES else None
    page = await enrollments.search_enrollments(
        session,
        status=status_filter,
        course_id=course_id,
        user_id=user_id,
        q=q,
        created_from=_day_or_moment(created_from),
        created_to=_day_or_moment(created_to),
        cursor=page_cursor(cursor, "enr"),
        limit=DEFAULT_LIMIT,
    )
    courses = await courses_repository.list_courses(
        session, statuses=None, after_id=None, limit=MAX_LIMIT
    )
    context = {
        "title": "Enrollments",
        "page": page,
        "next_url": next_page_url(request, page.next_cursor),
        "filters": {
            "q": q or "",
            "status": status_filter,
            "course_id": course_id or "",
            "user_id": user_id or "",
            "created_from": created_from or "",
            "created_to": created_to or "",
        },
        "statuses": STATUSES,
        "courses": courses,
        "format_time": format_time,
    }
    return render_admin(request, "admin/enrollments.html", context, user=admin)


@router.get("/admin/enrollments/{enrollment_id}")
async def enrollment_page(
    request: Request, enrollment_id: str, admin: AdminPageUser, session: SessionDep
) -> Response:
    try:
        row = await enrollments.enrollment_row(session, enrollment_id)
    except NotFound:
        return admin_not_found(
            request,
            admin,
            "Enrollment not found",
            back_url="/admin/enrollments",
            back_label="Search enrollments",
        )
    context: dict[str, Any] = {
        "title": f"Enrollment {row.enrollment.id}",
        "enrollment": await enrollments.detail_of(session, row),
        "timeline": await enrollments.timeline_of(session, row.enrollment),
        "format_time": format_time,
        "format_instant": format_instant,
    }
    return render_admin(request, "admin/enrollment.html", context, user=admin)
