"""Run a write at most once per (learner, `Idempotency-Key`) and replay its response.

- Same key, same request → the stored response (4xx included; 5xx are not stored, so a retry
  after a server or gateway failure runs again — the write itself must resume safely).
- Same key, another request → 422 `idempotency_key_reused`.
- Same key while the first request still runs → 409 `request_in_progress` with `Retry-After`.

The key is claimed in its own short transaction before the work starts and the response is
stored in another after it ends: the work may span several transactions and a gateway call."""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from enrollpay.db.engine import Database
from enrollpay.errors import AppError, Conflict, ValidationFailed, error_body, field_problem
from enrollpay.idempotency import repository
from enrollpay.kit.clock import utcnow

HEADER = "Idempotency-Key"
MAX_KEY_LENGTH = 255
# Longer than any request may run (the gateway call has its own, shorter deadline).
CLAIM_SECONDS = 60
# SPEC: keys are kept at least 24 hours; the purge job removes them after this.
RETENTION = timedelta(hours=48)


class IdempotencyKeyReused(AppError):
    status_code = 422
    code = "idempotency_key_reused"
    message = "This Idempotency-Key was already used with a different request."
    hint = "Use a new key for a new request; repeat a request only with the same body."


class RequestInProgress(Conflict):
    code = "request_in_progress"
    message = "The same request is still being processed."
    hint = "Wait for Retry-After seconds, then repeat the request."

    def __init__(self, retry_after: float, message: str | None = None) -> None:
        seconds = max(1, math.ceil(retry_after))
        super().__init__(
            message,
            details={"retry_after_seconds": seconds},
            headers={"Retry-After": str(seconds)},
        )


# Transient answers that must not be replayed for the rest of the key's life.
_NOT_STORED = {RequestInProgress.code, "too_many_requests"}


@dataclass(frozen=True)
class StoredResponse:
    status_code: int
    body: dict[str, Any]
    headers: dict[str, str] = field(default_factory=dict)
    replayed: bool = False


def request_fingerprint(method: str, path: str, body: Any) -> str:
    canonical = json.dumps([method, path, body], sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def check_key(key: str) -> None:
    if not 1 <= len(key) <= MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationFailed(
            details={
                "fields": [
                    field_problem(
                        HEADER,
                        f"must be 1 to {MAX_KEY_LENGTH} printable characters",
                        location="header",
                    )
                ]
            }
        )


async def run_once(
    db: Database,
    *,
    user_id: str,
    key: str | None,
    fingerprint: str,
    work: Callable[[], Awaitable[StoredResponse]],
) -> StoredResponse:
    """`work()` under the key's protection (or plainly when no key was sent)."""
    if key is None:
        return await work()
    check_key(key)
    stored = await _claim(db, user_id, key, fingerprint, utcnow())
    if stored is not None:
        return stored
    try:
        response = await work()
    except AppError as exc:
        if exc.status_code >= 500 or exc.code in _NOT_STORED:
            await _release(db, user_id, key)
        else:
            body = error_body(exc.code, exc.message, exc.hint, exc.details)
            await _store(db, user_id, key, StoredResponse(exc.status_code, body, exc.headers))
        raise
    except BaseException:
        await _release(db, user_id, key)
        raise
    await _store(db, user_id, key, response)
    return response


async def _claim(
    db: Database, user_id: str, key: str, fingerprint: str, now: datetime
) -> StoredResponse | None:
    """None when this request now owns the key; the stored response to replay otherwise."""
    async with db.transaction() as session:
        claimed = await repository.insert_unless_taken(
            session,
            {
                "user_id": user_id,
                "key": key,
                "request_hash": fingerprint,
                "locked_until": now + timedelta(seconds=CLAIM_SECONDS),
                "created_at": now,
            },
        )
        if claimed:
            return None
        row = await repository.get(session, user_id, key, lock=True)
        if row.request_hash != fingerprint:
            raise IdempotencyKeyReused()
        if row.response_status is not None:
            assert row.response_body is not None
            return StoredResponse(
                row.response_status, row.response_body, row.response_headers or {}, replayed=True
            )
        if row.locked_until > now:
            raise RequestInProgress((row.locked_until - now).total_seconds())
        # The first request died without an answer: this one takes over.
        row.locked_until = now + timedelta(seconds=CLAIM_SECONDS)
        return None


async def _store(db: Database, user_id: str, key: str, response: StoredResponse) -> None:
    async with db.transaction() as session:
        row = await repository.get(session, user_id, key)
        row.response_status = response.status_code
        row.response_body = response.body
        row.response_headers = response.headers


async def _release(db: Database, user_id: str, key: str) -> None:
    async with db.transaction() as session:
        await repository.remove(session, user_id, key)


async def purge_expired(db: Database, *, now: datetime, batch: int = 1000) -> int:
    """Delete keys past their retention, a bounded batch per call."""
    async with db.transaction() as session:
        return await repository.remove_created_before(session, now - RETENTION, limit=batch)
