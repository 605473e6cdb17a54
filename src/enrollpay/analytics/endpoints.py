"""Course views from front ends that render their own pages (`POST /courses/{id}/views`) and
the admin funnel report: `GET /admin/analytics/funnel` (JSON) and `/admin/analytics/funnel.csv`."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response
from limits import parse

from enrollpay.analytics import service
from enrollpay.analytics.schemas import CourseViewIn, CourseViewOut, FunnelReport
from enrollpay.auth.dependencies import AdminUser, OptionalUser
from enrollpay.auth.ratelimit import RateLimiter
from enrollpay.courses import service as courses
from enrollpay.db.session import SessionDep
from enrollpay.errors import ValidationFailed, documented, field_problem
from enrollpay.kit.client import client_ip as request_client_ip
from enrollpay.kit.clock import utcnow

router = APIRouter(tags=["analytics"])
admin_router = APIRouter()

# Anonymous view reports per client address (counted in memory/Redis, never stored).
VIEW_REPORTS_PER_IP = parse("120/minute")


@router.post(
    "/courses/{course_id}/views",
    response_model=CourseViewOut,
    summary="Report a course page view (for front ends that render their own course pages)",
    description=(
        "The funnel's first step. Signed in (or an API key with X-On-Behalf-Of): the learner "
        "viewed it. Otherwise send your own random `visitor_id` (no personal data): it is "
        "stored only as a keyed hash. Repeat views within 15 minutes count once "
        "(`recorded: false`)."
    ),
    responses={404: documented("not_found: unknown or draft course")},
)
async def report_view(
    course_id: str,
    body: CourseViewIn,
    request: Request,
    session: SessionDep,
    user: OptionalUser,
) -> CourseViewOut:
    if user is not None:
        visitor = service.visitor(user.id, None)
    elif body.visitor_id is None:
        raise ValidationFailed(
            hint="Send visitor_id, or call with the learner's token.",
            details={"fields": [field_problem("visitor_id", "required when not signed in")]},
        )
    else:
        limiter: RateLimiter = request.app.state.rate_limiter
        client_ip = request_client_ip(request)
        await limiter.consume(VIEW_REPORTS_PER_IP, "course-view-ip", client_ip)
        visitor = service.external_visitor(request.app.state.settings.secret_key, body.visitor_id)
    course = await courses.get_visible_course(session, course_id)
    recorded = await service.record_course_view(
        session, course_id=course.id, visitor=visitor, now=utcnow()
    )
    return CourseViewOut(recorded=recorded)


CourseFilter = Annotated[
    str | None, Query(description="one course (any status); all courses when left out")
]
FromDate = Annotated[
    date | None, Query(alias="from", description="first day (YYYY-MM-DD, in `tz`), inclusive")
]
ToDate = Annotated[
    date | None,
    Query(alias="to", description="last day (YYYY-MM-DD, in `tz`), inclusive; default today"),
]
TimeZone = Annotated[str, Query(max_length=64, description="IANA time zone of the days")]

FUNNEL_DESCRIPTION = (
    "Distinct (visitor or learner, course) pairs per step: course views → enrollment "
    "initiations → payment initiations (order created) → payment completions (captured) → "
    "enrollment completions, over the days `from`..`to` in `tz` (default: the last 30 days). "
    "Without `course_id`, pairs of every course are counted (the sum over courses). Each rate "
    "is a step ÷ the step before it (overall: last ÷ first), null when the denominator is 0. "
    "`revenue` is money captured and refunds processed per day, in rupees."
)


async def _report(
    session: SessionDep,
    course_id: str | None,
    first: date | None,
    last: date | None,
    tz: str,
) -> FunnelReport:
    days = service.resolve_range(first, last, tz, now=utcnow())
    if course_id is not None:
        await courses.get_course_or_404(session, course_id)
    return await service.funnel_report(session, course_id=course_id, days=days, tz_name=tz)


@admin_router.get(
    "/analytics/funnel",
    response_model=FunnelReport,
    summary="Enrollment funnel: step counts, conversion rates and revenue per day",
    description=FUNNEL_DESCRIPTION,
    responses={404: documented("not_found: unknown course_id")},
)
async def funnel(
    _admin: AdminUser,
    session: SessionDep,
    course_id: CourseFilter = None,
    first: FromDate = None,
    last: ToDate = None,
    tz: TimeZone = service.DEFAULT_TZ,
) -> FunnelReport:
    return await _report(session, course_id, first, last, tz)


@admin_router.get(
    "/analytics/funnel.csv",
    summary="The funnel report as CSV: the steps and rates, a blank line, then revenue per day",
    description=FUNNEL_DESCRIPTION,
    response_class=Response,
    responses={
        200: {"content": {"text/csv": {}}, "description": "The report"},
        404: documented("not_found: unknown course_id"),
    },
)
async def funnel_csv(
    _admin: AdminUser,
    session: SessionDep,
    course_id: CourseFilter = None,
    first: FromDate = None,
    last: ToDate = None,
    tz: TimeZone = service.DEFAULT_TZ,
) -> Response:
    report = await _report(session, course_id, first, last, tz)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["metric", "value"])
    writer.writerow(["course_id", report.course_id or "all"])
    writer.writerow(["from", report.from_date.isoformat()])
    writer.writerow(["to", report.to_date.isoformat()])
    writer.writerow(["tz", report.tz])
    for name, count in report.steps.model_dump().items():
        writer.writerow([name, count])
    for name, value in report.conversion_rates.model_dump().items():
        writer.writerow([name, "" if value is None else value])
    writer.writerow([])
    writer.writerow(["date", "currency", "captured", "refunded", "net"])
    for day in report.revenue:
        amounts = [f"{amount:.2f}" for amount in (day.captured, day.refunded, day.net)]
        writer.writerow([day.date.isoformat(), day.currency, *amounts])
    filename = f"funnel-{report.from_date.isoformat()}-{report.to_date.isoformat()}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
