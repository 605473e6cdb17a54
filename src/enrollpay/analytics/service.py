"""The funnel report's rules. Steps (SPEC §3), each counted as distinct (actor, course) pairs
whose event falls in the date range:

- course_views: a course page viewed (`course_views.viewed_at`); the actor is a visitor (the
  anonymous `ep_vid` id, or the user id when signed in). Anonymous views are not linked to the
  account a visitor later makes, so this step counts visitors and the next ones learners.
- enrollment_initiations: an enrollment created (`enrollments.created_at`), any outcome.
- payment_initiations: a gateway order created (a payment with a `razorpay_order_id`, by the
  payment's `created_at`).
- payment_completions: a payment captured (`payments.captured_at`).
- enrollment_completions: an enrollment became `enrolled` (`enrollments.enrolled_at`), whatever
  happened after (a later refund or cancellation does not undo the conversion; refunds show in
  `revenue`). Free courses and admin grants count here without a payment.

Revenue per day in `tz`: payments' captured amounts by capture time, processed refunds by
processing time, net = captured - refunded."""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.analytics import repository
from enrollpay.analytics.repository import MoneyMovement, StepCounts
from enrollpay.analytics.schemas import ConversionRates, FunnelReport, FunnelSteps, RevenueDay
from enrollpay.errors import ValidationFailed, field_problem, raise_field_problems
from enrollpay.kit.money import to_major

DEFAULT_TZ = "Asia/Kolkata"
DEFAULT_DAYS = 30
MAX_DAYS = 366
DEFAULT_CURRENCY = "INR"


@dataclass(frozen=True)
class DateRange:
    first: date  # inclusive, in tz
    last: date  # inclusive, in tz
    tz: ZoneInfo
    start: datetime  # UTC instant of `first`'s midnight in tz
    end: datetime  # UTC instant of the midnight after `last` in tz (exclusive)

    def days(self) -> list[date]:
        return [self.first + timedelta(days=i) for i in range((self.last - self.first).days + 1)]


def _midnight(day: date, tz: ZoneInfo) -> datetime:
    return datetime.combine(day, time(0), tzinfo=tz).astimezone(UTC)


# Days a report may name: keeps the date arithmetic below clear of date.min and date.max
# (`to=0001-01-02` overflowed into a 500).
EARLIEST_DAY, LATEST_DAY = date(1970, 1, 1), date(9998, 12, 31)


def resolve_range(
    first: date | None, last: date | None, tz_name: str, *, now: datetime
) -> DateRange:
    """The days asked for (default: the 30 days ending today in `tz`) as UTC instants; 422 for
    an unknown time zone, `from` after `to`, or more than 366 days."""
    try:
        tz = ZoneInfo(tz_name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValidationFailed(
            hint="See details.fields for what to fix.",
            details={"fields": [field_problem("tz", "unknown IANA time zone", "query")]},
        ) from None
    problems = [
        field_problem(name, f"must be between {EARLIEST_DAY} and {LATEST_DAY}", "query")
        for name, day in (("from", first), ("to", last))
        if day is not None and not EARLIEST_DAY <= day <= LATEST_DAY
    ]
    raise_field_problems(problems)
    last = last or now.astimezone(tz).date()
    first = first or last - timedelta(days=DEFAULT_DAYS - 1)
    if first > last:
        problems.append(field_problem("from", "must not be after `to`", "query"))
    elif (last - first).days + 1 > MAX_DAYS:
        problems.append(field_problem("to", f"at most {MAX_DAYS} days per report", "query"))
    raise_field_problems(problems)
    return DateRange(first, last, tz, _midnight(first, tz), _midnight(last + timedelta(1), tz))


def rate(numerator: int, denominator: int) -> float | None:
    return None if denominator == 0 else round(numerator / denominator, 4)


def conversion_rates(steps: FunnelSteps) -> ConversionRates:
    return ConversionRates(
        view_to_enrollment=rate(steps.enrollment_initiations, steps.course_views),
        enrollment_to_payment=rate(steps.payment_initiations, steps.enrollment_initiations),
        payment_to_completion=rate(steps.payment_completions, steps.payment_initiations),
        completion_to_enrollment=rate(steps.enrollment_completions, steps.payment_completions),
        overall_conversion=rate(steps.enrollment_completions, steps.course_views),
    )


def daily_revenue(
    days: DateRange, captured: Iterable[MoneyMovement], refunded: Iterable[MoneyMovement]
) -> list[RevenueDay]:
    """Every day of the range (zeros included, for charts), per currency seen (INR if none)."""
    totals: dict[tuple[date, str], list[int]] = defaultdict(lambda: [0, 0])
    currencies = {DEFAULT_CURRENCY}
    for index, movements in enumerate((captured, refunded)):
        for movement in movements:
            currencies.add(movement.currency)
            totals[(movement.at.astimezone(days.tz).date(), movement.currency)][index] += (
                movement.amount
            )
    rows = []
    for day in days.days():
        for currency in sorted(currencies):
            captured_minor, refunded_minor = totals.get((day, currency), (0, 0))
            rows.append(
                RevenueDay(
                    date=day,
                    captured=to_major(captured_minor, currency),
                    refunded=to_major(refunded_minor, currency),
                    net=to_major(captured_minor - refunded_minor, currency),
                    currency=currency,
                )
            )
    return rows


def steps_of(counts: StepCounts) -> FunnelSteps:
    return FunnelSteps(
        course_views=counts.course_views,
        enrollment_initiations=counts.enrollment_initiations,
        payment_initiations=counts.payment_initiations,
        payment_completions=counts.payment_completions,
        enrollment_completions=counts.enrollment_completions,
    )


async def funnel_report(
    session: AsyncSession, *, course_id: str | None, days: DateRange, tz_name: str
) -> FunnelReport:
    start, end = days.start, days.end
    counts = await repository.step_counts(session, course_id=course_id, start=start, end=end)
    steps = steps_of(counts)
    captured = await repository.captures(session, course_id=course_id, start=start, end=end)
    refunded = await repository.processed_refunds(
        session, course_id=course_id, start=start, end=end
    )
    return FunnelReport.model_validate(
        {
            "course_id": course_id,
            "from": days.first,
            "to": days.last,
            "tz": tz_name,
            "steps": steps,
            "conversion_rates": conversion_rates(steps),
            "revenue": daily_revenue(days, captured, refunded),
        }
    )


# ---- course views -------------------------------------------------------------------------------

VISITOR_COOKIE = "ep_vid"
VISITOR_COOKIE_MAX_AGE = 365 * 24 * 3600
_VISITOR_ID = re.compile(r"[A-Za-z0-9_-]{22}")  # secrets.token_urlsafe(16): 128 random bits


@dataclass(frozen=True)
class Visitor:
    key: str  # what course_views stores
    new_cookie: str | None  # an anonymous id to set as the ep_vid cookie, when there was none


def visitor(user_id: str | None, cookie: str | None) -> Visitor:
    """Signed in: the user id. Otherwise the random id of the ep_vid cookie, or a new one (a
    cookie in any other shape is replaced). Never the IP address or the user agent."""
    if user_id is not None:
        return Visitor(user_id, None)
    if cookie is not None and _VISITOR_ID.fullmatch(cookie):
        return Visitor(f"vis_{cookie}", None)
    fresh = secrets.token_urlsafe(16)
    return Visitor(f"vis_{fresh}", fresh)


def external_visitor(secret_key: str, visitor_id: str) -> Visitor:
    """A front end's own visitor id, keyed-hashed: no raw external id is stored."""
    digest = hmac.new(
        secret_key.encode(), f"course-view:{visitor_id}".encode(), hashlib.sha256
    ).hexdigest()
    return Visitor(f"ext_{digest[:40]}", None)


async def record_course_view(
    session: AsyncSession, *, course_id: str, visitor: Visitor, now: datetime
) -> bool:
    return await repository.record_view(
        session, course_id=course_id, visitor_key=visitor.key, at=now
    )
