"""Applying gateway facts to our payments and enrollments: the one entry point for verify,
webhooks and reconciliation. The rules live in `state.transition`; this module loads the rows
(locked, so concurrent facts about one order apply one after another), records the fact,
writes the transition and enqueues its follow-ups in the same transaction."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.enrollments.models import Enrollment, EnrollmentStatus
from enrollpay.jobs import enqueue
from enrollpay.kit.clock import utcnow
from enrollpay.kit.ids import new_id
from enrollpay.notifications.triggers import notify_enrollment_status
from enrollpay.payments import repository
from enrollpay.payments.facts import FactStatus, GatewayFact
from enrollpay.payments.models import PaymentAttempt, PaymentEvent
from enrollpay.payments.state import (
    Action,
    AutoRefund,
    Capture,
    EnrollmentSnapshot,
    Outcome,
    PaymentSnapshot,
    PaymentStatus,
    Transition,
    transition,
)
from enrollpay.platform.outbound import record_status_change

NOT_OURS = "not_ours"


@dataclass(frozen=True)
class AppliedFact:
    outcome: str  # applied | duplicate | stale | not_ours
    actions: tuple[Action, ...] = ()  # the follow-ups enqueued (capture, automatic refund)


async def record_gateway_fact(session: AsyncSession, fact: GatewayFact) -> str:
    """Record the fact as a payment event and apply it; return the outcome (`applied`,
    `duplicate`, `stale`, or `not_ours` for orders of other products on the same account).
    Idempotent: a repeated fact is recorded as a duplicate and changes nothing."""
    return (await apply_gateway_fact(session, fact)).outcome


async def apply_gateway_fact(session: AsyncSession, fact: GatewayFact) -> AppliedFact:
    """`record_gateway_fact`, also telling which follow-ups it enqueued.

    Lock order, shared with checkout: enrollment, then payment."""
    if fact.razorpay_order_id is None:
        return AppliedFact(NOT_OURS)
    found = await repository.payment_by_order_id(session, fact.razorpay_order_id)
    if found is None:
        return AppliedFact(NOT_OURS)
    enrollment = await repository.enrollment_for_update(session, found.enrollment_id)
    payment = await repository.payment_for_update(session, found.id)
    attempt = await repository.attempt_by_razorpay_id(session, fact.razorpay_payment_id)

    status = EnrollmentStatus(enrollment.status)
    can_revive = status == EnrollmentStatus.expired and await repository.can_revive(
        session, enrollment
    )
    result = transition(
        fact,
        attempt_status=FactStatus(attempt.status) if attempt else None,
        payment=PaymentSnapshot(
            amount=payment.amount,
            currency=payment.currency,
            status=PaymentStatus(payment.status),
            is_current=enrollment.current_payment_id == payment.id,
        ),
        enrollment=EnrollmentSnapshot(
            status, enrollment.enrolled_by, can_revive, enrollment.total_payable
        ),
    )
    now = utcnow()
    session.add(
        PaymentEvent(
            id=new_id("evt"),
            payment_id=payment.id,
            razorpay_payment_id=fact.razorpay_payment_id,
            source=fact.source,
            status=fact.status,
            amount=fact.amount,
            currency=fact.currency,
            outcome=result.outcome,
            note=result.note,
            reference=fact.reference,
            actions=[_describe(action) for action in result.actions],
            created_at=now,
        )
    )
    if result.outcome != Outcome.applied:
        return AppliedFact(result.outcome)

    if attempt is None:
        attempt = PaymentAttempt(
            id=new_id("att"),
            payment_id=payment.id,
            razorpay_payment_id=fact.razorpay_payment_id,
            amount=fact.amount,
            currency=fact.currency,
        )
        session.add(attempt)
    attempt.status = result.attempt_status
    attempt.method = fact.method or attempt.method
    if fact.status == FactStatus.failed:
        attempt.error_code = fact.error_code
        attempt.error_description = fact.error_description
        attempt.error_source = fact.error_source
        attempt.error_step = fact.error_step
        attempt.error_reason = fact.error_reason

    if result.payment_status != payment.status:
        payment.status = result.payment_status
        if result.payment_status == PaymentStatus.captured:
            payment.captured_at = now
            payment.amount_captured = fact.amount

    await _apply_to_enrollment(session, enrollment, result, fact, now)
    for action in result.actions:
        await _enqueue_follow_up(session, payment.id, action)
    return AppliedFact(result.outcome, result.actions)


async def _apply_to_enrollment(
    session: AsyncSession,
    enrollment: Enrollment,
    result: Transition,
    fact: GatewayFact,
    now: datetime,
) -> None:
    new_status = result.enrollment_status
    if new_status == enrollment.status:
        return
    enrollment.status = new_status
    if new_status == EnrollmentStatus.enrolled:
        enrollment.enrolled_at = now
        enrollment.enrolled_by = result.enrolled_by
        enrollment.failure_reason = None
    elif new_status == EnrollmentStatus.failed:
        enrollment.failure_reason = fact.error_description or fact.error_reason or "payment failed"
    elif new_status == EnrollmentStatus.pending:
        enrollment.failure_reason = None
    await notify_enrollment_status(session, enrollment)
    await record_status_change(session, enrollment)


async def _enqueue_follow_up(
    session: AsyncSession, payment_id: str, action: Capture | AutoRefund
) -> None:
    if isinstance(action, Capture):
        await enqueue(
            session,
            "payments.capture",
            {
                "razorpay_payment_id": action.razorpay_payment_id,
                "amount": action.amount,
                "currency": action.currency,
            },
            dedupe_key=f"capture:{action.razorpay_payment_id}",
        )
    else:
        await enqueue(
            session,
            "payments.auto_refund",
            {
                "payment_id": payment_id,
                "razorpay_payment_id": action.razorpay_payment_id,
                "amount": action.amount,
                "reason": action.reason,
            },
            dedupe_key=f"auto-refund:{action.razorpay_payment_id}",
        )


def _describe(action: Capture | AutoRefund) -> dict[str, object]:
    if isinstance(action, Capture):
        return {"action": "capture", "amount": action.amount}
    return {"action": "auto_refund", "amount": action.amount, "reason": str(action.reason)}
