"""Expiry: unpaid enrollments whose hold ran out become `expired`, releasing their seat and
coupon hold (both are counted from live enrollments). A capture that arrives later revives
the enrollment if it still can, or is refunded (SPEC §3, `payments.state`)."""

from __future__ import annotations

from datetime import datetime

import structlog

from enrollpay.db.engine import Database
from enrollpay.enrollments import repository
from enrollpay.enrollments.models import UNPAID_STATUSES, EnrollmentStatus
from enrollpay.payments import repository as payments_repository
from enrollpay.payments.state import PaymentStatus
from enrollpay.platform.outbound import record_enrollment_event
from enrollpay.platform.outbound_models import EventType

log = structlog.get_logger(__name__)

EXPIRY_BATCH = 200


async def expire_due(db: Database, *, now: datetime, batch: int = EXPIRY_BATCH) -> int:
    """Expire one bounded batch; returns how many expired. Rows are re-checked under their lock,
    so a payment or a retry that landed meanwhile wins."""
    expired = 0
    async with db.transaction() as session:
        for enrollment_id in await repository.due_for_expiry(session, now=now, limit=batch):
            enrollment = await payments_repository.enrollment_for_update(session, enrollment_id)
            if enrollment.status not in UNPAID_STATUSES or (
                enrollment.expires_at is None or enrollment.expires_at > now
            ):
                continue
            if enrollment.current_payment_id is not None:
                current = await payments_repository.payment_for_update(
                    session, enrollment.current_payment_id
                )
                if current.status == PaymentStatus.authorized:
                    continue  # money is on its way: the capture decides, not the clock
            enrollment.status = EnrollmentStatus.expired
            await record_enrollment_event(session, enrollment, EventType.enrollment_expired)
            expired += 1
    if expired:
        log.info("enrollments.expired", count=expired)
    return expired
