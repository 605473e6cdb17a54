"""Webhook ingest and processing rules. Nothing here commits: the request (ingest, replay) or
the job (processing) owns the transaction.

Decisions (SPEC §1.3, §3, §4.1; razorpay-facts.md §6):

- The signature is checked over the raw body bytes with every configured secret (rotation)
  before anything else is looked at. Missing or wrong → `InvalidWebhookSignature` (400), nothing
  stored, `record_rejected_signature` counts it.
- A correctly signed body that is not JSON or not an event envelope is stored as `failed`
  (outcome `unusable body`) without a job and answered 2xx: a parsing problem of ours must not
  make Razorpay retry for 24 hours and then disable the webhook. An admin can replay it.
- The event id is `X-Razorpay-Event-Id` when it is present and looks like an id (1 to 64 of
  `A-Z a-z 0-9 _ . : -`, and not itself in the derived form); otherwise `sha256:<hex of the
  body>`, so a redelivery of the same bytes still deduplicates. Headers are not signed: if a
  known event id arrives with other bytes, those bytes are stored under their derived id
  rather than dropped (a forged header cannot suppress a genuine event; processing is
  idempotent, so an extra row is harmless).
- A redelivery of a stored event (same id, same bytes) writes no row and no job; it only
  counts `deliveries`.
"""

from __future__ import annotations

import base64
import hashlib
import re
from collections import Counter
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import structlog
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.errors import AppError, NotFound
from enrollpay.jobs import enqueue
from enrollpay.jobs.models import JobStatus
from enrollpay.kit.ids import has_prefix, new_id
from enrollpay.kit.pagination import Page, checked_cursor
from enrollpay.payments.gateway.signatures import verify_webhook_signature
from enrollpay.refunds import disputes
from enrollpay.refunds import service as refunds_service
from enrollpay.webhooks import parsing, repository
from enrollpay.webhooks.models import BodyEncoding, WebhookEvent, WebhookEventStatus
from enrollpay.webhooks.schemas import WebhookEventDetail, WebhookEventSummary

log = structlog.get_logger(__name__)

PROCESS_EVENT_JOB = "webhooks.process_razorpay_event"
SIGNATURE_HEADER = "x-razorpay-signature"
EVENT_ID_HEADER = "x-razorpay-event-id"
EVENT_ID = re.compile(r"^[A-Za-z0-9_.:\-]{1,64}$")
DERIVED_ID_PREFIX = "sha256:"
# Kept for the admin console and forensics; nothing secret is among them.
STORED_HEADERS = (
    "content-type",
    "content-length",
    "user-agent",
    SIGNATURE_HEADER,
    EVENT_ID_HEADER,
    "x-request-id",
    "x-forwarded-for",
    "x-real-ip",
)
HEADER_VALUE_MAX_CHARS = 256
ERROR_MAX_CHARS = 2000
UNUSABLE_BODY = "unusable body"
INVALID_PAYLOAD = "invalid payload"


class InvalidWebhookSignature(AppError):
    status_code = 400
    code = "invalid_signature"
    message = "The X-Razorpay-Signature header is missing or does not match the request body."
    hint = (
        "Razorpay signs the raw body with HMAC-SHA256 and the webhook secret; check that "
        "RAZORPAY_WEBHOOK_SECRET holds the secret set for this webhook in the Dashboard."
    )


# ---- metrics hook -------------------------------------------------------------------------------

rejected_signatures: Counter[str] = Counter()


def record_rejected_signature(reason: str) -> None:
    """Called once per rejected delivery (`missing`, `invalid`, `no_secret_configured`). The
    Prometheus counter (`razorpay_webhook_events_total{outcome="rejected_signature"}`) is
    counted by the endpoint, which has the app's metrics; this in-process tally keeps the
    reason."""
    rejected_signatures[reason] += 1


# ---- ingest -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    inbox_id: str
    event_id: str
    duplicate: bool
    event: str | None = None  # the event type the body names, if it could be read


def check_signature(raw_body: bytes, signature: str | None, secrets: Sequence[str]) -> None:
    if not signature:
        reason = "missing"
    elif not secrets:
        log.error("webhooks.no_secret_configured", detail="set RAZORPAY_WEBHOOK_SECRET")
        reason = "no_secret_configured"
    elif not verify_webhook_signature(raw_body, signature, secrets):
        reason = "invalid"
    else:
        return
    record_rejected_signature(reason)
    log.warning("webhooks.signature_rejected", reason=reason)
    raise InvalidWebhookSignature(details={"reason": reason})


def derived_event_id(body_sha256: str) -> str:
    return DERIVED_ID_PREFIX + body_sha256


def stored_headers(headers: Mapping[str, str]) -> dict[str, str]:
    return {
        name: headers[name][:HEADER_VALUE_MAX_CHARS] for name in STORED_HEADERS if name in headers
    }


def encode_body(raw_body: bytes) -> tuple[str, BodyEncoding]:
    """Text a database column holds exactly: UTF-8 as is; other bytes (or NUL, which
    PostgreSQL text refuses) as base64."""
    try:
        text = raw_body.decode("utf-8")
    except UnicodeDecodeError:
        return base64.b64encode(raw_body).decode("ascii"), BodyEncoding.base64
    if "\x00" in text:
        return base64.b64encode(raw_body).decode("ascii"), BodyEncoding.base64
    return text, BodyEncoding.utf8


async def receive_razorpay_webhook(
    session: AsyncSession,
    *,
    raw_body: bytes,
    headers: Mapping[str, str],
    secrets: Sequence[str],
    now: datetime,
) -> Receipt:
    """Verify, store once, enqueue processing — all in the caller's transaction.

    `headers` must look names up case-insensitively or hold them in lower case."""
    check_signature(raw_body, headers.get(SIGNATURE_HEADER), secrets)

    body_sha256 = hashlib.sha256(raw_body).hexdigest()
    claimed_id = headers.get(EVENT_ID_HEADER)
    # A claimed id in the derived form is not taken either: a derived id always names its bytes.
    derived = (
        claimed_id is None
        or not EVENT_ID.fullmatch(claimed_id)
        or claimed_id.startswith(DERIVED_ID_PREFIX)
    )
    event_id = derived_event_id(body_sha256) if derived else str(claimed_id)
    summary = parsing.summarize(raw_body)
    text, encoding = encode_body(raw_body)
    values: dict[str, Any] = {
        "event_id": event_id,
        "event_id_derived": derived,
        "event": summary.event,
        "account_id": summary.account_id,
        "event_created_at": summary.created_at,
        "raw_body": text,
        "body_encoding": encoding,
        "body_sha256": body_sha256,
        "headers": stored_headers(headers),
        "received_at": now,
        "deliveries": 1,
        "attempts": 0,
        "replays": 0,
        "razorpay_payment_id": summary.razorpay_payment_id,
        "razorpay_order_id": summary.razorpay_order_id,
    }
    if summary.problem is None:
        values.update(status=WebhookEventStatus.pending)
    else:
        values.update(
            status=WebhookEventStatus.failed,
            outcome=UNUSABLE_BODY,
            last_error=summary.problem,
            processed_at=now,
        )

    inbox_id = await _insert(session, values)
    if inbox_id is None:
        known_id = await repository.count_redelivery(session, event_id, body_sha256)
        if known_id is not None:
            return Receipt(known_id, event_id, duplicate=True, event=summary.event)
        # Same id, other bytes: keep them too, under the id of their own content.
        log.warning("webhooks.event_id_reused", event_id=event_id, body_sha256=body_sha256)
        event_id = derived_event_id(body_sha256)
        values.update(event_id=event_id, event_id_derived=True)
        inbox_id = await _insert(session, values)
        if inbox_id is None:  # these bytes, too, were stored before under their derived id
            known_id = await repository.count_redelivery(session, event_id, body_sha256)
            assert known_id is not None
            return Receipt(known_id, event_id, duplicate=True, event=summary.event)

    if summary.problem is None:
        await enqueue(
            session,
            PROCESS_EVENT_JOB,
            {"inbox_id": inbox_id},
            dedupe_key=repository.processing_job_key(inbox_id, 0),
        )
    else:
        log.warning("webhooks.unusable_body", inbox_id=inbox_id, problem=summary.problem)
    return Receipt(inbox_id, event_id, duplicate=False, event=summary.event)


async def _insert(session: AsyncSession, values: dict[str, Any]) -> str | None:
    return await repository.insert_unless_duplicate(session, {**values, "id": new_id("whk")})


# ---- processing ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class ProcessResult:
    status: str | None  # the row's status after this run; None: the row is gone
    ran: bool  # False: nothing to do (already processed, ignored or failed by another run)
    error: str | None = None


async def process_event(session: AsyncSession, inbox_id: str, *, now: datetime) -> ProcessResult:
    """Turn a pending inbox row into facts and hand them to `record_gateway_fact` (refund and
    dispute events go to the refunds package instead).

    Idempotent: only a `pending` row is processed, so a re-run (a retried job, a lost lease)
    changes nothing once it is done. Exceptions from `record_gateway_fact` propagate (the
    caller's transaction rolls back; the job retries); an unusable body or an invalid payload
    is recorded as `failed` and returned, not raised."""
    row = await repository.get_event(session, inbox_id, for_update=True)
    if row is None:
        return ProcessResult(None, ran=False)
    if row.status != WebhookEventStatus.pending:
        return ProcessResult(row.status, ran=False)
    row.attempts += 1
    try:
        envelope = parsing.parse_envelope(row.body_bytes())
        interpretation = parsing.interpret(envelope, row.event_id)
    except parsing.UnusableBody as exc:
        return _finish(row, WebhookEventStatus.failed, UNUSABLE_BODY, now, error=str(exc))
    except parsing.InvalidPayload as exc:
        return _finish(row, WebhookEventStatus.failed, INVALID_PAYLOAD, now, error=str(exc))
    if interpretation.ignored_reason is not None:
        return _finish(row, WebhookEventStatus.ignored, interpretation.ignored_reason, now)
    if interpretation.refund is not None:
        outcome = await refunds_service.apply_refund_event(session, interpretation.refund)
        return _finish(row, WebhookEventStatus.processed, outcome, now)
    if interpretation.dispute is not None:
        outcome = await disputes.apply_dispute_event(session, interpretation.dispute)
        return _finish(row, WebhookEventStatus.processed, outcome, now)

    # Looked up now, not imported above, so tests can replace it.
    from enrollpay.payments import service as payments_service

    outcomes = [
        str(await payments_service.record_gateway_fact(session, fact))
        for fact in interpretation.facts
    ]
    return _finish(row, WebhookEventStatus.processed, ", ".join(outcomes) or "no facts", now)


def _finish(
    row: WebhookEvent,
    status: WebhookEventStatus,
    outcome: str,
    now: datetime,
    *,
    error: str | None = None,
) -> ProcessResult:
    row.status = status
    row.outcome = outcome
    if error is not None:
        row.last_error = error[:ERROR_MAX_CHARS]
    row.processed_at = now
    return ProcessResult(status, ran=True, error=error)


async def record_failed_attempt(
    session: AsyncSession, inbox_id: str, *, error: str, give_up: bool, now: datetime
) -> None:
    """After a processing run raised (its own transaction rolled back): count the attempt and
    keep the error; on the last attempt the row becomes `failed` (a replay can revive it)."""
    row = await repository.get_event(session, inbox_id, for_update=True)
    if row is None or row.status != WebhookEventStatus.pending:
        return
    row.attempts += 1
    row.last_error = error[:ERROR_MAX_CHARS]
    if give_up:
        row.status = WebhookEventStatus.failed
        row.outcome = "gave up after repeated errors"
        row.processed_at = now


STUCK_AFTER = timedelta(minutes=30)
STUCK_BATCH = 200


async def fail_orphaned(session: AsyncSession, *, now: datetime) -> int:
    """Pending rows whose processing job is gone or dead (a worker died on the last attempt)
    become `failed`, so they show up for an admin to replay instead of waiting for ever."""
    failed = 0
    for row, job_status in await repository.stale_pending(
        session, received_before=now - STUCK_AFTER, limit=STUCK_BATCH
    ):
        if job_status not in (None, JobStatus.dead):
            continue  # still queued or retrying
        locked = await repository.get_event(session, row.id, for_update=True)
        if locked is None or locked.status != WebhookEventStatus.pending:
            continue
        locked.status = WebhookEventStatus.failed
        locked.outcome = "processing stopped: its job died; replay the event to process it"
        locked.processed_at = now
        failed += 1
    return failed


# ---- admin --------------------------------------------------------------------------------------


async def replay(session: AsyncSession, inbox_id: str) -> WebhookEvent:
    """Process the stored event again (SPEC §4.5): the row goes back to `pending` and a new
    job is enqueued under a dedupe key of its own. Safe on any row: facts are idempotent
    downstream (`record_gateway_fact` records a repeated fact as a duplicate)."""
    row = await repository.get_event(session, inbox_id, for_update=True)
    if row is None:
        raise NotFound("No such webhook event.")
    row.replays += 1
    row.status = WebhookEventStatus.pending
    row.outcome = None
    row.processed_at = None
    await enqueue(
        session,
        PROCESS_EVENT_JOB,
        {"inbox_id": row.id, "replay": row.replays},
        dedupe_key=repository.processing_job_key(row.id, row.replays),
    )
    log.info("webhooks.replayed", inbox_id=row.id, replay=row.replays)
    return row


async def list_events(
    session: AsyncSession,
    *,
    event: str | None = None,
    status: WebhookEventStatus | None = None,
    razorpay_payment_id: str | None = None,
    razorpay_order_id: str | None = None,
    cursor: str | None = None,
    limit: int,
) -> Page[WebhookEventSummary]:
    """The inbox, newest first; `next_cursor` continues with older events."""
    rows = await repository.list_events(
        session,
        event=event,
        status=status,
        razorpay_payment_id=razorpay_payment_id,
        razorpay_order_id=razorpay_order_id,
        before_id=checked_cursor(cursor, "whk"),
        limit=limit + 1,
    )
    page = rows[:limit]
    return Page[WebhookEventSummary](
        items=[WebhookEventSummary.model_validate(row) for row in page],
        next_cursor=page[-1].id if len(rows) > limit else None,
    )


async def get_event(session: AsyncSession, inbox_id: str) -> WebhookEventDetail:
    row = await repository.get_event(session, inbox_id) if has_prefix(inbox_id, "whk") else None
    if row is None:
        raise NotFound("No such webhook event.")
    return WebhookEventDetail.model_validate(row)
