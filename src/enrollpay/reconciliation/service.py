"""One reconciliation pass: for every open payment that is due (or a paid one whose order still
has an open attempt, which the bank may capture late), fetch its order's payments from
Razorpay and feed each one through `apply_gateway_fact` — the same transition webhooks and
verify use — so a lost webhook or a closed browser is repaired within one interval.

Refunds Razorpay answered `pending` are checked the same way, so a lost `refund.processed`
or `refund.failed` webhook cannot leave one pending for ever.

Orders are watched for WATCH_DAYS (late authorization can take days), checked less often as
they age: the next check is `age / 10` away, at least one interval and at most six hours, about
seventy checks over a week. A pass is bounded, holds no transaction across a gateway call, stops
early on 429 (the next pass continues) and never fails on a gateway error: that order is simply
tried again later."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.config import Settings
from enrollpay.db.engine import Database
from enrollpay.kit.money import to_major
from enrollpay.kit.pagination import Page, checked_cursor
from enrollpay.metrics import record_reconciliation_repairs
from enrollpay.payments import repository as payments_repository
from enrollpay.payments.facts import FactSource, GatewayFact
from enrollpay.payments.gateway.errors import GatewayError, GatewayUnavailable
from enrollpay.payments.gateway.protocol import PaymentGateway
from enrollpay.payments.models import Payment
from enrollpay.payments.service import apply_gateway_fact
from enrollpay.payments.state import Outcome
from enrollpay.reconciliation import repository
from enrollpay.reconciliation.repository import RECONCILE_REFERENCE
from enrollpay.reconciliation.schemas import RepairOut
from enrollpay.refunds.models import Refund
from enrollpay.refunds.service import apply_refund_event
from enrollpay.webhooks.parsing import RefundEvent

log = structlog.get_logger(__name__)

WATCH_DAYS = 7
# Normal-speed refunds take 5-7 working days.
REFUND_WATCH_DAYS = 14
MAX_CHECK_GAP = timedelta(hours=6)
PASS_BATCH = 100
ERROR_RETRY = timedelta(minutes=5)


@dataclass
class PassReport:
    selected: int = 0  # payments this pass looked at (fewer than the batch: nothing more due)
    last_id: str | None = None  # where a full pass continues
    checked: int = 0
    refunds_checked: int = 0
    repaired: int = 0  # facts applied that nobody else had reported
    orders_found: int = 0  # orders whose creation answer was lost, found by receipt
    errors: int = 0
    throttled: bool = False


def next_check(payment: Payment, settings: Settings, now: datetime) -> datetime:
    return now + _gap(payment.created_at, settings, now)


async def reconcile_pass(
    db: Database,
    gateway: PaymentGateway,
    settings: Settings,
    *,
    now: datetime,
    full: bool = False,
    after_id: str | None = None,
    batch: int = PASS_BATCH,
) -> PassReport:
    """Check one batch of due payments; `full`: every open one, due or not, after `after_id`
    (`enrollpay reconcile`)."""
    watched_since = now - timedelta(days=WATCH_DAYS)
    async with db.transaction() as session:
        if full:
            due = await repository.open_payments(
                session, watched_since=watched_since, after_id=after_id, limit=batch
            )
        else:
            due = await repository.due_payments(
                session, now=now, watched_since=watched_since, limit=batch
            )
    report = PassReport(selected=len(due), last_id=due[-1].id if due else None)
    for payment in due:
        if _creating(payment, now):
            continue  # an initialize owns this order's creation right now
        try:
            await _reconcile_one(db, gateway, settings, payment, now, report)
        except GatewayUnavailable as exc:
            report.errors += 1
            await _check_later(db, payment.id, now + ERROR_RETRY)
            if exc.status == 429:
                report.throttled = True
                log.warning("reconcile.throttled", checked=report.checked)
                break
            log.warning("reconcile.gateway_unavailable", payment_id=payment.id, error=repr(exc))
        except GatewayError as exc:
            report.errors += 1
            await _check_later(db, payment.id, next_check(payment, settings, now))
            log.warning("reconcile.gateway_refused", payment_id=payment.id, error=repr(exc))
    if not report.throttled:
        await _reconcile_refunds(db, gateway, settings, now, report, batch)
    record_reconciliation_repairs(report.repaired)
    if report.repaired or report.orders_found or report.errors:
        log.info(
            "reconcile.pass",
            checked=report.checked,
            repaired=report.repaired,
            orders_found=report.orders_found,
            errors=report.errors,
            throttled=report.throttled,
        )
    return report


async def _reconcile_refunds(
    db: Database,
    gateway: PaymentGateway,
    settings: Settings,
    now: datetime,
    report: PassReport,
    batch: int,
) -> None:
    async with db.transaction() as session:
        pending = await repository.pending_refunds(
            session, watched_since=now - timedelta(days=REFUND_WATCH_DAYS), limit=batch
        )
    for refund in pending:
        if now - refund.updated_at < _gap(refund.created_at, settings, now):
            continue
        assert refund.razorpay_refund_id is not None
        try:
            fetched = await gateway.fetch_refund(refund.razorpay_refund_id)
        except GatewayError as exc:
            report.errors += 1
            if isinstance(exc, GatewayUnavailable) and exc.status == 429:
                report.throttled = True
                return
            continue
        report.refunds_checked += 1
        async with db.transaction() as session:
            # refund.created carries the refund's own status, which is what a fetch gives.
            await apply_refund_event(session, RefundEvent("refund.created", fetched))
            row = await session.get(Refund, refund.id, populate_existing=True)
            assert row is not None
            if row.status != refund.status:
                report.repaired += 1
            row.updated_at = now  # doubles as "last checked" for the spacing above


def _gap(created_at: datetime, settings: Settings, now: datetime) -> timedelta:
    interval = timedelta(seconds=settings.RECONCILE_INTERVAL_SECONDS)
    return min(max((now - created_at) / 10, interval), MAX_CHECK_GAP)


def _creating(payment: Payment, now: datetime) -> bool:
    lease = payment.order_lease_expires_at
    return payment.razorpay_order_id is None and lease is not None and lease > now


async def _reconcile_one(
    db: Database,
    gateway: PaymentGateway,
    settings: Settings,
    payment: Payment,
    now: datetime,
    report: PassReport,
) -> None:
    order_id = payment.razorpay_order_id
    if order_id is None:
        # The order's creation failed or its answer was lost: the receipt finds it, if it exists.
        orders = await gateway.find_orders_by_receipt(payment.receipt)
        order_id = orders[0].id if orders else None
        if order_id is not None:
            report.orders_found += 1
    gateway_payments = await gateway.order_payments(order_id) if order_id else []
    report.checked += 1

    async with db.transaction() as session:
        # The project's lock order: enrollment, then payment.
        await payments_repository.enrollment_for_update(session, payment.enrollment_id)
        row = await payments_repository.payment_for_update(session, payment.id)
        if order_id is not None and row.razorpay_order_id is None:
            row.razorpay_order_id = order_id
            row.order_lease_expires_at = None
        for gateway_payment in gateway_payments:
            fact = GatewayFact.from_payment(
                gateway_payment, FactSource.reconcile, reference=RECONCILE_REFERENCE
            )
            if (await apply_gateway_fact(session, fact)).outcome == Outcome.applied:
                report.repaired += 1
        row.reconcile_checks += 1
        row.reconcile_after = next_check(row, settings, now)


async def _check_later(db: Database, payment_id: str, when: datetime) -> None:
    async with db.transaction() as session:
        row = await session.get(Payment, payment_id)
        if row is not None:
            row.reconcile_after = when


async def repair_page(session: AsyncSession, *, cursor: str | None, limit: int) -> Page[RepairOut]:
    """What reconciliation repaired, newest first (the admin API and the console)."""
    rows = await repository.repairs(
        session, before_id=checked_cursor(cursor, "evt"), limit=limit + 1
    )
    page = rows[:limit]
    items = [
        RepairOut(
            id=event.id,
            enrollment_id=enrollment_id,
            payment_id=event.payment_id,
            razorpay_payment_id=event.razorpay_payment_id,
            status=event.status,
            amount=to_major(event.amount, event.currency),
            currency=event.currency,
            note=event.note,
            actions=event.actions,
            created_at=event.created_at,
        )
        for event, enrollment_id in page
    ]
    return Page[RepairOut](items=items, next_cursor=page[-1][0].id if len(rows) > limit else None)
