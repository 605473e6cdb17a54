"""Disputes (SPEC §3): `payment.dispute.*` webhooks upsert one row per Razorpay dispute, shown
to admins; a lost dispute revokes the access the disputed payment bought. Nothing here commits.

- Status: the event says what happened (`payment.dispute.lost` → `lost`); for `.created` it is
  the entity's own status (`open`). Razorpay's `action_required` sample still shows
  `"status": "open"` in the entity, so the event name is the better witness.
- Order: events may arrive late or twice. One older than the latest applied (by the envelope's
  `created_at`) changes nothing; at the same second, an earlier stage (open before a decision)
  does not undo a later one.
- A lost dispute means the money went back by chargeback: the enrollment that payment enrolled
  becomes `refunded` (final — a later win does not give access back; an admin can grant it),
  with the reason in its `failure_reason` and in the dispute's `note`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.enrollments.models import Enrollment, EnrollmentStatus
from enrollpay.kit.clock import utcnow
from enrollpay.kit.ids import new_id
from enrollpay.kit.pagination import Page, checked_cursor
from enrollpay.payments import repository as payments_repository
from enrollpay.payments.models import Payment
from enrollpay.platform.outbound import record_enrollment_event
from enrollpay.platform.outbound_models import EventType
from enrollpay.refunds import repository
from enrollpay.refunds.models import Dispute
from enrollpay.refunds.schemas import DisputeOut
from enrollpay.webhooks.parsing import DisputeEvent

log = structlog.get_logger(__name__)

LOST = "lost"
# Stages of a dispute; decisions (won, lost, closed) come last.
_RANK = {"open": 0, "under_review": 1, "action_required": 1, "won": 2, "lost": 2, "closed": 2}


def _status_of(event: DisputeEvent) -> str:
    name = event.event.removeprefix("payment.dispute.")
    return event.dispute.status if name == "created" else name


async def apply_dispute_event(session: AsyncSession, event: DisputeEvent) -> str:
    """Upsert the dispute, in the webhook processing job's transaction; returns the outcome
    for the inbox row. Disputes of payments that are not ours are stored all the same."""
    entity = event.dispute
    occurred_at = event.occurred_at or utcnow()
    status = _status_of(event)
    enrollment: Enrollment | None = None
    payment: Payment | None = None
    attempt = await payments_repository.attempt_by_razorpay_id(session, entity.payment_id)
    if attempt is not None:
        found = await session.get(Payment, attempt.payment_id)
        assert found is not None
        enrollment = await payments_repository.enrollment_for_update(session, found.enrollment_id)
        payment = await payments_repository.payment_for_update(session, found.id)

    dispute = await repository.dispute_by_razorpay_id(session, entity.id, for_update=True)
    if dispute is None:
        dispute = Dispute(
            id=new_id("dsp"),
            razorpay_dispute_id=entity.id,
            razorpay_payment_id=entity.payment_id,
            payment_id=payment.id if payment else None,
            enrollment_id=enrollment.id if enrollment else None,
        )
        session.add(dispute)
        _describe(dispute, event, status, occurred_at)
        outcome = f"{dispute.id}: {status}"
    elif _is_older(dispute, status, occurred_at):
        return f"{dispute.id}: stale {event.event} (already {dispute.status})"
    elif _describe(dispute, event, status, occurred_at):
        outcome = f"{dispute.id}: {status}"
    else:
        outcome = f"{dispute.id}: unchanged ({dispute.status})"

    if dispute.status == LOST and enrollment is not None and _revoke(dispute, enrollment):
        await record_enrollment_event(session, enrollment, EventType.enrollment_refunded)
    return outcome if enrollment is not None else f"{outcome} (not_ours)"


def _is_older(dispute: Dispute, status: str, occurred_at: datetime) -> bool:
    if occurred_at != dispute.last_event_at:
        return occurred_at < dispute.last_event_at
    return _RANK.get(status, 1) < _RANK.get(dispute.status, 1)


def _describe(dispute: Dispute, event: DisputeEvent, status: str, occurred_at: datetime) -> bool:
    """Copy what the event says; True when anything differs."""
    entity = event.dispute
    values: dict[str, Any] = {
        "amount": entity.amount,
        "amount_deducted": entity.amount_deducted,
        "currency": entity.currency,
        "reason_code": entity.reason_code,
        "status": status,
        "phase": entity.phase,
        "respond_by": (
            datetime.fromtimestamp(entity.respond_by, UTC) if entity.respond_by else None
        ),
        "last_event": event.event,
        "last_event_at": occurred_at,
        "raw": entity.model_dump(mode="json"),
    }
    changed = False
    for name, value in values.items():
        if getattr(dispute, name, None) != value:
            setattr(dispute, name, value)
            changed = True
    return changed


def _revoke(dispute: Dispute, enrollment: Enrollment) -> bool:
    """Ends the access the lost payment bought; True if it did."""
    if enrollment.enrolled_by != dispute.razorpay_payment_id:
        note = "The disputed payment did not enroll anyone: no access to revoke."
    elif enrollment.status == EnrollmentStatus.enrolled:
        enrollment.status = EnrollmentStatus.refunded
        enrollment.failure_reason = (
            f"Access revoked: the payment was disputed and the dispute "
            f"{dispute.razorpay_dispute_id} was lost (the money went back by chargeback)."
        )
        dispute.note = f"Access revoked: enrollment {enrollment.id} is now refunded."
        log.warning("disputes.access_revoked", dispute_id=dispute.id, enrollment_id=enrollment.id)
        return True
    else:
        note = f"Enrollment {enrollment.id} was already {enrollment.status}: no access to revoke."
    dispute.note = dispute.note or note
    return False


async def dispute_page(
    session: AsyncSession, *, status: str | None, cursor: str | None, limit: int
) -> Page[DisputeOut]:
    rows = await repository.list_disputes(
        session, status=status, before_id=checked_cursor(cursor, "dsp"), limit=limit + 1
    )
    page = rows[:limit]
    return Page[DisputeOut](
        items=[DisputeOut.of(dispute) for dispute in page],
        next_cursor=page[-1].id if len(rows) > limit else None,
    )
