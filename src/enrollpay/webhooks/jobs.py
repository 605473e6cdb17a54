"""The processing job: one run per stored event (and one per replay).

It works in transactions of its own (`ctx.db.transaction()`) rather than in `ctx.session`: when
`record_gateway_fact` raises, the run's transaction rolls back and the attempt and its error are
then written in a second transaction — the job's own session is rolled back with the failure,
and on SQLite a second writer could not proceed while it held the write lock. A processed row
is never processed again, so committing before the worker marks the job done is safe: a re-run
finds the row done and changes nothing."""

from __future__ import annotations

import structlog

from enrollpay.jobs import JobContext, PermanentJobError, job_handler, periodic
from enrollpay.jobs.worker import describe_error
from enrollpay.kit.clock import utcnow
from enrollpay.metrics import record_webhook_processed
from enrollpay.webhooks import service
from enrollpay.webhooks.models import WebhookEventStatus

log = structlog.get_logger(__name__)

# Retries with backoff (5 s base, full jitter, 1 h cap) cover a database hiccup or a bug fixed by
# a deployment within about a day; after that the row is `failed` and an admin can replay it.
PROCESS_MAX_ATTEMPTS = 12


@job_handler(service.PROCESS_EVENT_JOB, max_attempts=PROCESS_MAX_ATTEMPTS)
async def process_razorpay_event(ctx: JobContext) -> None:
    inbox_id = ctx.payload.get("inbox_id")
    if not isinstance(inbox_id, str):
        raise PermanentJobError("the job payload has no inbox_id")
    try:
        async with ctx.db.transaction() as session:
            result = await service.process_event(session, inbox_id, now=utcnow())
    except Exception as exc:
        async with ctx.db.transaction() as session:
            await service.record_failed_attempt(
                session,
                inbox_id,
                error=describe_error(exc),
                give_up=ctx.is_last_attempt,
                now=utcnow(),
            )
        raise
    if result.ran and result.status is not None:
        record_webhook_processed(result.status)
    if result.status is None:
        log.warning("webhooks.inbox_row_missing", inbox_id=inbox_id)
    elif result.ran and result.status == WebhookEventStatus.failed:
        # Retrying cannot change what the stored bytes say.
        raise PermanentJobError(result.error or "the event could not be processed")


@periodic("webhooks.fail_orphaned", interval_seconds=600)
async def fail_orphaned(ctx: JobContext) -> None:
    async with ctx.db.transaction() as session:
        failed = await service.fail_orphaned(session, now=utcnow())
    if failed:
        log.warning("webhooks.orphaned_rows_failed", count=failed)
