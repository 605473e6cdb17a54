"""Every query of the admin package: the audit trail, the overview and the console's
enrollment search and timeline (which read across domains)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Text, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.abuse.models import PaymentAttemptLog, RiskFlag
from enrollpay.admin.models import AdminAction
from enrollpay.courses.models import Course
from enrollpay.enrollments.models import Enrollment
from enrollpay.jobs.models import Job, JobStatus
from enrollpay.notifications.models import EmailMessage
from enrollpay.payments.models import Payment, PaymentAttempt, PaymentEvent
from enrollpay.platform.outbound_models import WebhookDelivery, WebhookMessage
from enrollpay.pricing.models import Coupon
from enrollpay.refunds.models import Dispute, Refund, RefundStatus
from enrollpay.users.models import User
from enrollpay.webhooks.models import WebhookEvent, WebhookEventStatus


async def list_actions(
    session: AsyncSession,
    *,
    actor_id: str | None,
    action: str | None,
    target_id: str | None,
    enrollment_id: str | None,
    before_id: str | None,
    limit: int,
) -> list[AdminAction]:
    stmt = select(AdminAction).order_by(AdminAction.id.desc()).limit(limit)
    if actor_id is not None:
        stmt = stmt.where(AdminAction.actor_id == actor_id)
    if action is not None:
        stmt = stmt.where(AdminAction.action == action)
    if target_id is not None:
        stmt = stmt.where(AdminAction.target_id == target_id)
    if enrollment_id is not None:
        stmt = stmt.where(AdminAction.enrollment_id == enrollment_id)
    if before_id is not None:
        stmt = stmt.where(AdminAction.id < before_id)
    return list((await session.scalars(stmt)).all())


async def actions_of_enrollment(session: AsyncSession, enrollment_id: str) -> list[AdminAction]:
    """Oldest first: for the enrollment's timeline."""
    stmt = (
        select(AdminAction)
        .where(AdminAction.enrollment_id == enrollment_id)
        .order_by(AdminAction.id)
    )
    return list((await session.scalars(stmt)).all())


@dataclass(frozen=True)
class Overview:
    """What needs an operator's eye, for the console's first page."""

    enrollments_by_status: dict[str, int]
    captured_last_7_days: int  # paise
    refunded_last_7_days: int  # paise, refunds processed
    dead_jobs: int
    overdue_jobs: int  # pending and due more than a minute ago
    webhooks_failed: int
    webhooks_pending: int
    refunds_in_flight: int  # requested or pending at Razorpay
    refunds_failed: int
    open_disputes: int
    unreviewed_risk_flags: int


async def _count(session: AsyncSession, model: Any, *where: Any) -> int:
    return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def overview(session: AsyncSession, *, now: datetime) -> Overview:
    by_status = await session.execute(
        select(Enrollment.status, func.count()).group_by(Enrollment.status)
    )
    week_ago = now - timedelta(days=7)
    captured = await session.scalar(
        select(func.coalesce(func.sum(Payment.amount_captured), 0)).where(
            Payment.captured_at >= week_ago
        )
    )
    refunded = await session.scalar(
        select(func.coalesce(func.sum(Refund.amount), 0)).where(
            Refund.status == RefundStatus.processed, Refund.processed_at >= week_ago
        )
    )
    return Overview(
        enrollments_by_status={status: count for status, count in by_status.all()},
        captured_last_7_days=int(captured or 0),
        refunded_last_7_days=int(refunded or 0),
        dead_jobs=await _count(session, Job, Job.status == JobStatus.dead),
        overdue_jobs=await _count(
            session,
            Job,
            Job.status == JobStatus.pending,
            Job.run_at < now - timedelta(minutes=1),
        ),
        webhooks_failed=await _count(
            session, WebhookEvent, WebhookEvent.status == WebhookEventStatus.failed
        ),
        webhooks_pending=await _count(
            session, WebhookEvent, WebhookEvent.status == WebhookEventStatus.pending
        ),
        refunds_in_flight=await _count(
            session, Refund, Refund.status.in_([RefundStatus.requested, RefundStatus.pending])
        ),
        refunds_failed=await _count(session, Refund, Refund.status == RefundStatus.failed),
        open_disputes=await _count(
            session, Dispute, Dispute.status.in_(["open", "under_review", "action_required"])
        ),
        unreviewed_risk_flags=await _count(session, RiskFlag, RiskFlag.reviewed_at.is_(None)),
    )


# ---- enrollments: search, detail and timeline -------------------------------------------------


@dataclass(frozen=True)
class EnrollmentFilters:
    """The console's enrollment search; every filter given must match. `q` is a learner email
    (or part of one) or an exact enr_/usr_/pmt_/order_/pay_ id."""

    status: str | None = None
    course_id: str | None = None
    user_id: str | None = None
    q: str | None = None
    created_from: datetime | None = None  # inclusive
    created_before: datetime | None = None  # exclusive


@dataclass(frozen=True)
class EnrollmentRow:
    enrollment: Enrollment
    user: User
    course: Course
    coupon_code: str | None
    current_payment: Payment | None


def _matching(q: str) -> ColumnElement[bool]:
    """What `q` names: an id by its prefix (payments found through their orders and Razorpay
    payment ids), otherwise a piece of the learner's email (emails are stored lower-cased)."""
    if q.startswith("enr_"):
        return Enrollment.id == q
    if q.startswith("usr_"):
        return Enrollment.user_id == q
    if q.startswith("pmt_"):
        return Enrollment.id.in_(select(Payment.enrollment_id).where(Payment.id == q))
    if q.startswith("order_"):
        return Enrollment.id.in_(
            select(Payment.enrollment_id).where(Payment.razorpay_order_id == q)
        )
    if q.startswith("pay_"):
        return Enrollment.id.in_(
            select(Payment.enrollment_id)
            .join(PaymentAttempt, PaymentAttempt.payment_id == Payment.id)
            .where(PaymentAttempt.razorpay_payment_id == q)
        )
    return Enrollment.user_id.in_(
        select(User.id).where(User.email.contains(q.lower(), autoescape=True))
    )


async def search_enrollments(
    session: AsyncSession, filters: EnrollmentFilters, *, before_id: str | None, limit: int
) -> list[EnrollmentRow]:
    """Newest first (ids sort by creation time), before the cursor id, with the learner, the
    course, the coupon code and the current payment, in one query."""
    stmt = (
        select(Enrollment, User, Course, Coupon.code, Payment)
        .join(User, User.id == Enrollment.user_id)
        .join(Course, Course.id == Enrollment.course_id)
        .outerjoin(Coupon, Coupon.id == Enrollment.coupon_id)
        .outerjoin(Payment, Payment.id == Enrollment.current_payment_id)
        .order_by(Enrollment.id.desc())
        .limit(limit)
    )
    if filters.status is not None:
        stmt = stmt.where(Enrollment.status == filters.status)
    if filters.course_id is not None:
        stmt = stmt.where(Enrollment.course_id == filters.course_id)
    if filters.user_id is not None:
        stmt = stmt.where(Enrollment.user_id == filters.user_id)
    if filters.q:
        stmt = stmt.where(_matching(filters.q))
    if filters.created_from is not None:
        stmt = stmt.where(Enrollment.created_at >= filters.created_from)
    if filters.created_before is not None:
        stmt = stmt.where(Enrollment.created_at < filters.created_before)
    if before_id is not None:
        stmt = stmt.where(Enrollment.id < before_id)
    result = await session.execute(stmt)
    return [EnrollmentRow(*row) for row in result.all()]


async def payment_events_of(session: AsyncSession, payment_ids: list[str]) -> list[PaymentEvent]:
    if not payment_ids:
        return []
    stmt = (
        select(PaymentEvent)
        .where(PaymentEvent.payment_id.in_(payment_ids))
        .order_by(PaymentEvent.created_at, PaymentEvent.id)
    )
    return list((await session.scalars(stmt)).all())


async def checkout_calls_of(session: AsyncSession, enrollment_id: str) -> list[PaymentAttemptLog]:
    stmt = (
        select(PaymentAttemptLog)
        .where(PaymentAttemptLog.enrollment_id == enrollment_id)
        .order_by(PaymentAttemptLog.id)
    )
    return list((await session.scalars(stmt)).all())


async def inbox_events_of(
    session: AsyncSession, razorpay_order_ids: list[str], razorpay_payment_ids: list[str]
) -> list[WebhookEvent]:
    """Razorpay's webhooks about these orders or payments (both columns are indexed)."""
    conditions = []
    if razorpay_order_ids:
        conditions.append(WebhookEvent.razorpay_order_id.in_(razorpay_order_ids))
    if razorpay_payment_ids:
        conditions.append(WebhookEvent.razorpay_payment_id.in_(razorpay_payment_ids))
    if not conditions:
        return []
    stmt = select(WebhookEvent).where(or_(*conditions)).order_by(WebhookEvent.id)
    return list((await session.scalars(stmt)).all())


async def jobs_naming(session: AsyncSession, ids: list[str]) -> list[Job]:
    """Jobs whose JSON payload contains any of `ids` (the payload as text, so the same query
    works on both databases; the jobs table stays small because finished jobs are purged)."""
    if not ids:
        return []
    payload = cast(Job.payload, Text)
    stmt = (
        select(Job)
        .where(or_(*(payload.contains(value, autoescape=True) for value in ids)))
        .order_by(Job.created_at, Job.id)
    )
    return list((await session.scalars(stmt)).all())


async def emails_of(session: AsyncSession, enrollment_id: str) -> list[EmailMessage]:
    stmt = (
        select(EmailMessage)
        .where(EmailMessage.enrollment_id == enrollment_id)
        .order_by(EmailMessage.created_at, EmailMessage.id)
    )
    return list((await session.scalars(stmt)).all())


async def outbound_messages_of(
    session: AsyncSession, enrollment_id: str
) -> list[tuple[WebhookMessage, list[WebhookDelivery]]]:
    """Our webhooks to platforms about the enrollment, each with its deliveries (one per
    endpoint), in two queries."""
    messages = list(
        (
            await session.scalars(
                select(WebhookMessage)
                .where(WebhookMessage.enrollment_id == enrollment_id)
                .order_by(WebhookMessage.created_at, WebhookMessage.id)
            )
        ).all()
    )
    if not messages:
        return []
    deliveries = (
        await session.scalars(
            select(WebhookDelivery)
            .where(WebhookDelivery.message_id.in_([m.id for m in messages]))
            .order_by(WebhookDelivery.id)
        )
    ).all()
    by_message: dict[str, list[WebhookDelivery]] = {m.id: [] for m in messages}
    for delivery in deliveries:
        by_message[delivery.message_id].append(delivery)
    return [(message, by_message[message.id]) for message in messages]


async def disputes_of(session: AsyncSession, enrollment_id: str) -> list[Dispute]:
    stmt = select(Dispute).where(Dispute.enrollment_id == enrollment_id).order_by(Dispute.id)
    return list((await session.scalars(stmt)).all())
