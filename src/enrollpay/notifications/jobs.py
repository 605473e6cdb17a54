"""The send job: one per queued message.

Delivery is at least once with a stable Message-ID, and a committed send is never repeated:
the SMTP call happens outside any transaction (on SQLite a write would hold the database's
write lock for the whole call), and `sent` is written in the job's own session, so it commits
with the job's `done` mark. A crash between the server's acceptance and that commit leaves the
row `queued`, and the retry sends the same message again under the same Message-ID.
"""

from __future__ import annotations

import structlog

from enrollpay.jobs import JobContext, PermanentJobError, job_handler
from enrollpay.jobs.worker import describe_error
from enrollpay.kit.clock import utcnow
from enrollpay.notifications import mailer, repository, triggers
from enrollpay.notifications.service import SEND_EMAIL_JOB

log = structlog.get_logger(__name__)

# Ten attempts with a 30 s backoff base (full jitter, 1 h cap) wait up to about three hours in
# all: a mail server's outage is ridden out, and a receipt still arrives while it matters.
SEND_MAX_ATTEMPTS = 10
SEND_BACKOFF_BASE_SECONDS = 30.0

# The trigger jobs: which email an enrollment's state change sends, decided when they run.
job_handler(triggers.ENROLLMENT_CONFIRMED_JOB)(triggers.send_enrollment_confirmed)
job_handler(triggers.PAYMENT_FAILED_JOB)(triggers.send_payment_failed)
job_handler(triggers.ABANDONED_CHECKOUT_JOB)(triggers.send_abandoned_checkout)


@job_handler(
    SEND_EMAIL_JOB, max_attempts=SEND_MAX_ATTEMPTS, backoff_base_seconds=SEND_BACKOFF_BASE_SECONDS
)
async def send_email(ctx: JobContext) -> None:
    email_id = ctx.payload.get("email_id")
    if not isinstance(email_id, str):
        raise PermanentJobError("the job payload has no email_id")
    if ctx.settings.SMTP_URL is None:
        # No mail server configured: the dev mailbox shows the message instead.
        await repository.mark_stored(ctx.session, email_id, now=utcnow())
        return

    async with ctx.db.transaction() as session:
        email = await repository.begin_attempt(session, email_id)
    if email is None:
        return  # already sent, dropped or failed (or gone): nothing to do
    message = mailer.build_message(email, sender=ctx.settings.EMAIL_FROM, date=utcnow())
    try:
        await mailer.deliver(mailer.SmtpConfig.from_url(ctx.settings.SMTP_URL), message)
    except Exception as exc:
        permanent = mailer.is_permanent(exc)
        async with ctx.db.transaction() as session:
            await repository.record_failure(
                session,
                email_id,
                error=describe_error(exc),
                give_up=permanent or ctx.is_last_attempt,
                now=utcnow(),
            )
        if permanent:
            raise PermanentJobError(f"the SMTP server refused the message: {exc}") from exc
        raise
    await repository.mark_sent(ctx.session, email_id, now=utcnow())
    log.info("notifications.sent", email_id=email_id, kind=email.kind, attempt=ctx.attempt)
