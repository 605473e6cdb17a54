"""`enrollpay reconcile`: a full pass over every open payment, batch after batch."""

from __future__ import annotations

from enrollpay.config import Settings
from enrollpay.db.engine import Database
from enrollpay.kit.clock import utcnow
from enrollpay.payments.gateway.factory import job_gateway
from enrollpay.reconciliation.service import PASS_BATCH, PassReport, reconcile_pass


async def run_full_pass(settings: Settings) -> PassReport:
    db = Database(settings)
    total = PassReport()
    try:
        gateway = job_gateway(settings, db)
        while True:
            report = await reconcile_pass(
                db, gateway, settings, now=utcnow(), full=True, after_id=total.last_id
            )
            total.checked += report.checked
            total.repaired += report.repaired
            total.orders_found += report.orders_found
            total.errors += report.errors
            total.throttled = report.throttled
            total.last_id = report.last_id or total.last_id
            if report.throttled or report.selected < PASS_BATCH:
                return total
    finally:
        await db.dispose()
