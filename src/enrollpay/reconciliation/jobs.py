"""The reconciliation sweep, every RECONCILE_INTERVAL_SECONDS."""

from __future__ import annotations

from enrollpay.jobs import JobContext, periodic
from enrollpay.kit.clock import utcnow
from enrollpay.payments.gateway.factory import job_gateway
from enrollpay.reconciliation.service import PASS_BATCH, reconcile_pass

# Bounded work per run; a backlog is worked off over the following runs.
MAX_BATCHES_PER_RUN = 5


@periodic("payments.reconcile", interval_seconds=lambda s: s.RECONCILE_INTERVAL_SECONDS)
async def reconcile(ctx: JobContext) -> None:
    gateway = job_gateway(ctx.settings, ctx.db)
    for _ in range(MAX_BATCHES_PER_RUN):
        report = await reconcile_pass(ctx.db, gateway, ctx.settings, now=utcnow())
        if report.throttled or report.selected < PASS_BATCH:
            return
