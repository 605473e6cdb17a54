"""The jobs table's own upkeep: finished jobs are kept a week (for the admin timeline and for
debugging), then deleted, so the periodic sweeps (thousands of rows a day) do not pile up.
Deduplication does not depend on them: every effect keeps its own unique key (email dedupe
keys, refund idempotency keys, webhook event ids)."""

from __future__ import annotations

from datetime import timedelta

from enrollpay.jobs import repository
from enrollpay.jobs.registry import JobContext, periodic
from enrollpay.kit.clock import utcnow

RETENTION = timedelta(days=7)
PURGE_BATCH = 1000
PURGE_INTERVAL_SECONDS = 3600


@periodic("jobs.purge", interval_seconds=PURGE_INTERVAL_SECONDS)
async def purge(ctx: JobContext) -> None:
    cutoff = utcnow() - RETENTION
    while True:
        async with ctx.db.transaction() as session:
            if (
                await repository.delete_done_before(session, cutoff, limit=PURGE_BATCH)
                < PURGE_BATCH
            ):
                return
