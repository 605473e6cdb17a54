"""The funnel page: the admin API's funnel report (same service) drawn as two inline SVG charts,
built server-side (no chart library, nothing from a CDN), with a table of the same revenue
numbers as the accessible alternative and a link to the API's CSV."""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import date, timedelta
from decimal import Decimal
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from enrollpay.analytics import service
from enrollpay.analytics.schemas import FunnelReport, RevenueDay
from enrollpay.courses import repository as courses_repository
from enrollpay.courses import service as courses
from enrollpay.db.session import SessionDep
from enrollpay.errors import NotFound, ValidationFailed
from enrollpay.kit.clock import utcnow
from enrollpay.web.admin.pages import AdminPageUser, render_admin

router = APIRouter()

# "What converted this week?": the page's default range, shorter than the API's 30 days.
DEFAULT_PAGE_DAYS = 7
# The course picker lists this many courses (oldest first); a course picked by id always shows.
COURSE_CHOICES = 500

# Each step, its label, and the rate that leads to it from the step before.
STEPS = (
    ("course_views", "Course views", None),
    ("enrollment_initiations", "Enrollments started", "view_to_enrollment"),
    ("payment_initiations", "Payments started", "enrollment_to_payment"),
    ("payment_completions", "Payments completed", "payment_to_completion"),
    ("enrollment_completions", "Enrollments completed", "completion_to_enrollment"),
)

# Revenue chart geometry (pixels): columns stand on BASELINE and are at most PLOT_HEIGHT tall.
PLOT_TOP = 8
PLOT_HEIGHT = 180
BASELINE = PLOT_TOP + PLOT_HEIGHT
MAX_DATE_LABELS = 8


def percent(rate: float | None) -> str:
    """0.8333 → "83.33%"; None (a zero denominator) → "—"."""
    if rate is None:
        return "—"
    return f"{rate * 100:.2f}".rstrip("0").rstrip(".") + "%"


@dataclass(frozen=True)
class FunnelBar:
    label: str
    count: int
    rate: str | None  # from the step before; None for the first step
    width: float  # percent of the chart's width; the largest step is 100


def funnel_bars(report: FunnelReport) -> list[FunnelBar]:
    counts = report.steps.model_dump()
    rates = report.conversion_rates.model_dump()
    # Widths follow the largest count, not the first step: a rate can exceed 1 (SPEC §3).
    widest = max(counts.values())
    return [
        FunnelBar(
            label=label,
            count=counts[step],
            rate=percent(rates[rate]) if rate is not None else None,
            width=round(counts[step] / widest * 100, 2) if widest else 0.0,
        )
        for step, label, rate in STEPS
    ]


@dataclass(frozen=True)
class RevenueColumn:
    """One day: a captured and a refunded column side by side in the day's slot. Positions
    are percents of the chart's width (it fills the page at any size), heights pixels."""

    day: date
    captured: float
    refunded: float
    net: float
    captured_x: float
    refunded_x: float
    width: float
    middle: float
    captured_height: float
    refunded_height: float
    label: str | None  # what the x axis says under this day, if anything


@dataclass(frozen=True)
class RevenueChart:
    currency: str
    columns: list[RevenueColumn]
    tallest: float  # the amount a full-height column stands for
    captured: float  # totals over the range
    refunded: float
    net: float


def _total(amounts: list[float]) -> float:
    # Summed as decimals: float sums of rupee amounts drift (0.1 + 0.2).
    return float(sum((Decimal(str(amount)) for amount in amounts), Decimal(0)))


def axis_labels(days: list[date]) -> dict[date, str]:
    """At most MAX_DATE_LABELS evenly spaced days, counted back from the newest (always
    named), so the labels fit under a phone-wide chart: "20 Nov", "24", "28", "2 Dec"."""
    every = math.ceil(len(days) / MAX_DATE_LABELS)
    named = days[::-1][::every][::-1]
    labels = {}
    for previous, day in zip([None, *named], named, strict=False):
        same_month = previous is not None and previous.month == day.month
        labels[day] = str(day.day) if same_month else f"{day.day} {day:%b}"
    return labels


def revenue_charts(revenue: list[RevenueDay]) -> list[RevenueChart]:
    """One column chart per currency (INR in practice), every day of the range included."""
    charts = []
    for currency in sorted({day.currency for day in revenue}):
        days = [day for day in revenue if day.currency == currency]
        tallest = max(max(day.captured, day.refunded) for day in days)
        slot = 100 / len(days)
        labels = axis_labels([day.date for day in days])

        def height(amount: float, tallest: float = tallest) -> float:
            return round(amount / tallest * PLOT_HEIGHT, 1) if tallest else 0.0

        columns = [
            RevenueColumn(
                day=day.date,
                captured=day.captured,
                refunded=day.refunded,
                net=day.net,
                captured_x=round((index + 0.15) * slot, 3),
                refunded_x=round((index + 0.5) * slot, 3),
                width=round(0.35 * slot, 3),
                middle=round((index + 0.5) * slot, 3),
                captured_height=height(day.captured),
                refunded_height=height(day.refunded),
                label=labels.get(day.date),
            )
            for index, day in enumerate(days)
        ]
        charts.append(
            RevenueChart(
                currency=currency,
                columns=columns,
                tallest=tallest,
                captured=_total([day.captured for day in days]),
                refunded=_total([day.refunded for day in days]),
                net=_total([day.net for day in days]),
            )
        )
    return charts


def _date_or_problem(value: str | None, name: str, problems: list[str]) -> date | None:
    if not value:
        return None
    try:
        return date.fromisoformat(value)
    except ValueError:
        problems.append(f"“{name}” must be a date like 2026-03-31.")
        return None


def page_range(first: date | None, last: date | None, tz: str) -> service.DateRange:
    """The API's range rules, but without `from` the page shows the week up to `to`."""
    now = utcnow()
    days = service.resolve_range(first, last, tz, now=now)
    if first is None:
        start = days.last - timedelta(days=DEFAULT_PAGE_DAYS - 1)
        days = service.resolve_range(start, days.last, tz, now=now)
    return days


@router.get("/admin/analytics")
async def analytics_page(
    request: Request,
    admin: AdminPageUser,
    session: SessionDep,
    course_id: str | None = None,
    from_text: Annotated[str | None, Query(alias="from")] = None,
    to_text: Annotated[str | None, Query(alias="to")] = None,
    tz: str | None = None,
) -> Response:
    """Like the API's report, but a bad parameter is shown next to the form, never a 422."""
    course_id = course_id or None
    tz = tz or service.DEFAULT_TZ
    problems: list[str] = []
    first = _date_or_problem(from_text, "From", problems)
    last = _date_or_problem(to_text, "To", problems)
    choices = await courses_repository.list_courses(
        session, statuses=None, after_id=None, limit=COURSE_CHOICES
    )
    if course_id is not None:
        try:
            course = await courses.get_course_or_404(session, course_id)
            if all(choice.id != course.id for choice in choices):
                choices.append(course)
        except NotFound:
            problems.append("No course has this id.")
    report = None
    if not problems:
        try:
            days = page_range(first, last, tz)
        except ValidationFailed as exc:
            problems += [f"“{p['field']}”: {p['message']}." for p in exc.details["fields"]]
        else:
            report = await service.funnel_report(
                session, course_id=course_id, days=days, tz_name=tz
            )

    csv_url = None
    if report is not None:
        query = {"from": report.from_date.isoformat(), "to": report.to_date.isoformat(), "tz": tz}
        if course_id is not None:
            query["course_id"] = course_id
        csv_url = "/api/v1/admin/analytics/funnel.csv?" + urlencode(query)
    context: dict[str, Any] = {
        "title": "Funnel",
        "courses": choices,
        "course_id": course_id or "",
        "from_value": report.from_date.isoformat() if report else from_text or "",
        "to_value": report.to_date.isoformat() if report else to_text or "",
        "tz": tz,
        "problems": problems,
        "report": report,
        "bars": funnel_bars(report) if report else [],
        "overall": percent(report.conversion_rates.overall_conversion) if report else "",
        "charts": revenue_charts(report.revenue) if report else [],
        "csv_url": csv_url,
        "baseline": BASELINE,
    }
    return render_admin(request, "admin/analytics.html", context, user=admin)
