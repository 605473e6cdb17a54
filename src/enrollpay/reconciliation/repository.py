"""Which payments reconciliation looks at, and the repairs it made."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.payments.facts import FactSource, FactStatus
from enrollpay.payments.models import Payment, PaymentAttempt, PaymentEvent
from enrollpay.payments.state import Outcome, PaymentStatus
from enrollpay.refunds.models import Refund, RefundStatus

# The payment event reference of facts reconciliation learned (the capture job uses its job id).
RECONCILE_REFERENCE = "reconciliation"
# Captured and refunded payments are settled; everything else may still change at the gateway
# (a failed payment can be authorized days later).
OPEN_STATUSES = (PaymentStatus.created, PaymentStatus.failed, PaymentStatus.authorized)
# An attempt in these may still be captured, even on a payment already captured or refunded:
# Checkout's retry inside one order leaves a failed attempt that the bank can authorize days
# after another attempt paid. That capture must be found (and refunded) without its webhook.
OPEN_ATTEMPT_STATUSES = (FactStatus.created, FactStatus.failed, FactStatus.authorized)


def _watched() -> ColumnElement[bool]:
    return or_(
        Payment.status.in_(OPEN_STATUSES),
        exists().where(
            PaymentAttempt.payment_id == Payment.id,
            PaymentAttempt.status.in_(OPEN_ATTEMPT_STATUSES),
        ),
    )


async def due_payments(
    session: AsyncSession, *, now: datetime, watched_since: datetime, limit: int
) -> list[Payment]:
    """Watched payments (open, or with an attempt still open) created after `watched_since`
    whose next check is due: never checked first, then the longest overdue."""
    stmt = (
        select(Payment)
        .where(
            _watched(),
            Payment.created_at >= watched_since,
            or_(Payment.reconcile_after.is_(None), Payment.reconcile_after <= now),
        )
        .order_by(Payment.reconcile_after.is_not(None), Payment.reconcile_after, Payment.id)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def pending_refunds(
    session: AsyncSession, *, watched_since: datetime, limit: int
) -> list[Refund]:
    """Refunds Razorpay accepted but has not finished, least recently checked first."""
    stmt = (
        select(Refund)
        .where(
            Refund.status == RefundStatus.pending,
            Refund.razorpay_refund_id.is_not(None),
            Refund.created_at >= watched_since,
        )
        .order_by(Refund.updated_at)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def open_payments(
    session: AsyncSession, *, watched_since: datetime, after_id: str | None, limit: int
) -> list[Payment]:
    """Every watched payment created after `watched_since`, due or not, in id order (a full
    pass)."""
    stmt = (
        select(Payment)
        .where(_watched(), Payment.created_at >= watched_since)
        .order_by(Payment.id)
        .limit(limit)
    )
    if after_id is not None:
        stmt = stmt.where(Payment.id > after_id)
    return list((await session.execute(stmt)).scalars())


async def repairs(
    session: AsyncSession, *, before_id: str | None, limit: int
) -> list[tuple[PaymentEvent, str]]:
    """Facts reconciliation applied — each one something verify and webhooks had missed — with
    their enrollment id, newest first."""
    stmt = (
        select(PaymentEvent, Payment.enrollment_id)
        .join(Payment, Payment.id == PaymentEvent.payment_id)
        .where(
            PaymentEvent.source == FactSource.reconcile,
            PaymentEvent.reference == RECONCILE_REFERENCE,
            PaymentEvent.outcome == Outcome.applied,
        )
        .order_by(PaymentEvent.id.desc())
        .limit(limit)
    )
    if before_id is not None:
        stmt = stmt.where(PaymentEvent.id < before_id)
    return [(event, enrollment_id) for event, enrollment_id in (await session.execute(stmt)).all()]
