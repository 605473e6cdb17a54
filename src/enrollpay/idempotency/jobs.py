"""Hourly purge of idempotency keys past their retention (SPEC: kept at least 24 h)."""

from __future__ import annotations

from enrollpay.idempotency.service import purge_expired
from enrollpay.jobs import JobContext, periodic
from enrollpay.kit.clock import utcnow

PURGE_INTERVAL_SECONDS = 3600


@periodic("idempotency.purge", interval_seconds=PURGE_INTERVAL_SECONDS)
async def purge(ctx: JobContext) -> None:
    while await purge_expired(ctx.db, now=utcnow()) > 0:
        pass
