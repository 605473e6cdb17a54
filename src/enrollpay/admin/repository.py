"""Every query of the audit package."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.abuse.models import RiskFlag
from enrollpay.admin.models import AdminAction
from enrollpay.enrollments.models import Enrollment
from enrollpay.jobs.models import Job, JobStatus
from enrollpay.payments.models import Payment
from enrollpay.refunds.models import Dispute, Refund, RefundStatus
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
