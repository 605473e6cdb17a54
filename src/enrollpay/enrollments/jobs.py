"""The expiry sweep, once a minute (the hold itself is PENDING_ENROLLMENT_TTL_SECONDS)."""

from __future__ import annotations

from enrollpay.enrollments.expiry import EXPIRY_BATCH, expire_due
from enrollpay.jobs import JobContext, periodic
from enrollpay.kit.clock import utcnow

EXPIRY_INTERVAL_SECONDS = 60
# Bounded work per run: a backlog is worked off over the following runs.
MAX_BATCHES_PER_RUN = 10


@periodic("enrollments.expire", interval_seconds=EXPIRY_INTERVAL_SECONDS)
async def expire(ctx: JobContext) -> None:
    for _ in range(MAX_BATCHES_PER_RUN):
        if await expire_due(ctx.db, now=utcnow()) < EXPIRY_BATCH:
            return
