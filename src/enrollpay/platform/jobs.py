"""The platform package's jobs: one attempt of an outbound webhook delivery per job.

HTTP failures are not job failures: the attempt is recorded and the next one is a new job
scheduled by `outbound.RETRY_DELAYS_SECONDS`. The job itself is retried (with the jobs
table's backoff) only when the database fails around the attempt."""

from __future__ import annotations

from enrollpay.jobs import JobContext, PermanentJobError, job_handler
from enrollpay.platform import outbound


@job_handler(outbound.DELIVER_JOB, max_attempts=5)
async def deliver_webhook(ctx: JobContext) -> None:
    delivery_id = ctx.payload.get("delivery_id")
    if not isinstance(delivery_id, str):
        raise PermanentJobError("the job payload has no delivery_id")
    await outbound.deliver(ctx.db, delivery_id, ctx.job_id)
