"""Queueing and cancelling emails inside the caller's transaction (the outbox, SPEC §1.4).

`queue_email` writes the rendered message and its send job together: both exist exactly when
the caller's transaction commits. Nothing here commits.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

from email_validator import validate_email
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.config import Settings
from enrollpay.jobs import enqueue
from enrollpay.kit.clock import utcnow
from enrollpay.kit.ids import new_id
from enrollpay.notifications import repository
from enrollpay.notifications.models import EmailStatus
from enrollpay.notifications.rendering import render_email

SEND_EMAIL_JOB = "notifications.send_email"


def message_id_for(email_id: str, settings: Settings) -> str:
    """`<msg_…@pay.example.com>`: our id on the host we send as."""
    host = urlsplit(settings.PUBLIC_BASE_URL).hostname or "localhost"
    if ":" in host:  # an IPv6 address is only valid in brackets (a domain literal)
        host = f"[{host}]"
    return f"<{email_id}@{host}>"


async def queue_email(
    session: AsyncSession,
    *,
    settings: Settings,
    kind: str,
    to: str,
    context: Mapping[str, Any],
    dedupe_key: str,
    user_id: str | None = None,
    enrollment_id: str | None = None,
    delay_seconds: float = 0,
) -> str | None:
    """Render `kind` with `context` now and queue it for `to`; returns the `msg_` id, or None
    when a message with `dedupe_key` was already queued (whatever became of it since).

    Rendering happens here so what is sent is what this transaction decided, even if the
    course or the prices change before the worker runs. `delay_seconds` postpones the send
    (a "payment failed" mail that a capture may still make moot: see `drop_email`).
    Raises ValueError for an unknown kind, bad context or an invalid address.
    """
    if delay_seconds < 0:
        raise ValueError("delay_seconds must not be negative")
    # The address goes into a header: reject anything that is not one address.
    validate_email(to, check_deliverability=False)
    rendered = render_email(kind, context)
    email_id = new_id("msg")
    now = utcnow()
    inserted = await repository.insert_unless_duplicate(
        session,
        {
            "id": email_id,
            "kind": kind,
            "to_address": to,
            "subject": rendered.subject,
            "text_body": rendered.text_body,
            "html_body": rendered.html_body,
            "message_id": message_id_for(email_id, settings),
            "dedupe_key": dedupe_key,
            "status": EmailStatus.queued,
            "attempts": 0,
            "user_id": user_id,
            "enrollment_id": enrollment_id,
            "created_at": now,
            "updated_at": now,
        },
    )
    if inserted is None:
        return None
    await enqueue(session, SEND_EMAIL_JOB, {"email_id": email_id}, delay=delay_seconds)
    return email_id


async def drop_email(session: AsyncSession, dedupe_key: str, reason: str) -> bool:
    """Cancel a message that is still queued (its job then does nothing); False when there is
    none or it already left (sent, stored) or ended otherwise."""
    return await repository.drop(session, dedupe_key, reason=reason, now=utcnow())
