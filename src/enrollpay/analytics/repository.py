"""Every analytics query. Each funnel step counts distinct (actor, course) pairs whose event
time falls in [start, end) (UTC instants); see service.py for what each step means."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.analytics.models import CourseView, view_bucket
from enrollpay.db.dialect import insert_ignore_duplicate
from enrollpay.enrollments.models import Enrollment
from enrollpay.payments.models import Payment
from enrollpay.refunds.models import Refund, RefundStatus


async def record_view(
    session: AsyncSession, *, course_id: str, visitor_key: str, at: datetime
) -> bool:
    """One row per visitor, course and bucket; True when this view added a row."""
    table: Any = CourseView.__table__
    values = {
        "course_id": course_id,
        "visitor_key": visitor_key,
        "viewed_at": at,
        "bucket_start": view_bucket(at),
    }
    return await insert_ignore_duplicate(session, table, values, returning=table.c.id) is not None


@dataclass(frozen=True)
class StepCounts:
    course_views: int
    enrollment_initiations: int
    payment_initiations: int
    payment_completions: int
    enrollment_completions: int


def _in_range(column: Any, start: datetime, end: datetime) -> ColumnElement[bool]:
    result: ColumnElement[bool] = (column >= start) & (column < end)
    return result


async def _count_pairs(session: AsyncSession, pairs: Select[str, str]) -> int:
    count = await session.scalar(select(func.count()).select_from(pairs.distinct().subquery()))
    return int(count or 0)


async def step_counts(
    session: AsyncSession, *, course_id: str | None, start: datetime, end: datetime
) -> StepCounts:
    views = select(CourseView.visitor_key, CourseView.course_id).where(
        _in_range(CourseView.viewed_at, start, end)
    )
    initiations = select(Enrollment.user_id, Enrollment.course_id).where(
        _in_range(Enrollment.created_at, start, end)
    )
    paid_pairs = select(Payment.user_id, Enrollment.course_id).join(
        Enrollment, Enrollment.id == Payment.enrollment_id
    )
    orders = paid_pairs.where(
        Payment.razorpay_order_id.is_not(None), _in_range(Payment.created_at, start, end)
    )
    captures = paid_pairs.where(_in_range(Payment.captured_at, start, end))
    enrolled = select(Enrollment.user_id, Enrollment.course_id).where(
        _in_range(Enrollment.enrolled_at, start, end)
    )
    if course_id is not None:
        views = views.where(CourseView.course_id == course_id)
        initiations = initiations.where(Enrollment.course_id == course_id)
        orders = orders.where(Enrollment.course_id == course_id)
        captures = captures.where(Enrollment.course_id == course_id)
        enrolled = enrolled.where(Enrollment.course_id == course_id)
    return StepCounts(
        course_views=await _count_pairs(session, views),
        enrollment_initiations=await _count_pairs(session, initiations),
        payment_initiations=await _count_pairs(session, orders),
        payment_completions=await _count_pairs(session, captures),
        enrollment_completions=await _count_pairs(session, enrolled),
    )


@dataclass(frozen=True)
class MoneyMovement:
    at: datetime
    amount: int  # minor units
    currency: str


async def captures(
    session: AsyncSession, *, course_id: str | None, start: datetime, end: datetime
) -> list[MoneyMovement]:
    """Money captured in [start, end): each payment's captured amount at its capture time."""
    stmt = select(Payment.captured_at, Payment.amount_captured, Payment.currency).where(
        _in_range(Payment.captured_at, start, end), Payment.amount_captured > 0
    )
    if course_id is not None:
        stmt = stmt.join(Enrollment, Enrollment.id == Payment.enrollment_id).where(
            Enrollment.course_id == course_id
        )
    rows = await session.execute(stmt)
    return [MoneyMovement(at, amount, currency) for at, amount, currency in rows if at]


async def processed_refunds(
    session: AsyncSession, *, course_id: str | None, start: datetime, end: datetime
) -> list[MoneyMovement]:
    """Refunds Razorpay processed in [start, end)."""
    stmt = select(Refund.processed_at, Refund.amount, Refund.currency).where(
        Refund.status == RefundStatus.processed, _in_range(Refund.processed_at, start, end)
    )
    if course_id is not None:
        stmt = stmt.join(Enrollment, Enrollment.id == Refund.enrollment_id).where(
            Enrollment.course_id == course_id
        )
    rows = await session.execute(stmt)
    return [MoneyMovement(at, amount, currency) for at, amount, currency in rows if at]
