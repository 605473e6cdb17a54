"""The control API (SPEC §6): not part of Razorpay; JSON; no auth; at `{sandbox base}/_sandbox/…`.
Errors use Razorpay's shape too. Unknown body fields are refused (a typo must not pass silently).

- POST /_sandbox/orders/{order_id}/pay: a Checkout payment attempt. `outcome` (required),
  `method` (default card), `amount`, `webhooks`, `error_reason`, and optionally `email`,
  `contact`, `card_last4`, `card_network`, `vpa`, `bank`, `wallet`.
- POST /_sandbox/payments/{payment_id}/capture-late: late authorization of a failed payment.
- POST /_sandbox/refunds/{refund_id}/settle: `outcome` processed | failed.
- POST /_sandbox/payments/{payment_id}/dispute: `outcome` won | lost; sends
  `payment.dispute.created` then `.won` / `.lost` (see disputes.py).
- POST, GET /_sandbox/webhooks: how the next deliveries behave (`duplicate`, `shuffle`, `drop`,
  `count`); see webhooks.py.
- POST, GET, DELETE /_sandbox/faults: REST faults; see faults.py.
- GET /_sandbox/deliveries: every delivery with its event id, event, attempts and the statuses
  the receiver answered (filters: event, event_id, status, payment_id, order_id).
- GET /_sandbox/events: every event with its exact body and signature.
- POST /_sandbox/reset: clears faults and webhook behaviour; `{"data": true}` also deletes every
  order, payment, refund, event and delivery of this sandbox.
- GET /_sandbox/config: key id, account id, URLs and secret hints (never the secrets).
"""

from __future__ import annotations

import json
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from enrollpay.kit.clock import utcnow
from enrollpay.sandbox import disputes, repository, service
from enrollpay.sandbox.deps import SandboxConfigDep, SandboxDatabaseDep
from enrollpay.sandbox.entities import collection, unix
from enrollpay.sandbox.errors import SandboxError, validation_error
from enrollpay.sandbox.faults import fault_entity
from enrollpay.sandbox.ids import new_id
from enrollpay.sandbox.models import SandboxFault, SandboxWebhookBehaviour
from enrollpay.sandbox.validation import Payload, query, read_body

router = APIRouter(prefix="/_sandbox")

MAX_DUPLICATES = 10
MAX_FAULT_DELAY_MS = 120_000
FAULT_BODIES = ("razorpay", "html", "empty")
HTTP_METHODS = ("GET", "POST", "PATCH", "PUT", "DELETE")


async def _json(request: Request) -> Payload:
    body = await read_body(request)
    if body.strings:
        raise SandboxError("The control API takes JSON bodies.")
    return body


def _webhooks_flag(body: Payload) -> bool:
    flag = body.boolean("webhooks")
    return True if flag is None else flag


# ---- payments and refunds -----------------------------------------------------------------------

PAY_FIELDS = (
    "outcome",
    "method",
    "amount",
    "webhooks",
    "error_reason",
    "email",
    "contact",
    "card_last4",
    "card_network",
    "vpa",
    "bank",
    "wallet",
)


@router.post("/orders/{order_id}/pay")
async def pay(
    order_id: str, request: Request, config: SandboxConfigDep, db: SandboxDatabaseDep
) -> JSONResponse:
    body = await _json(request)
    body.reject_unknown(PAY_FIELDS)
    outcome = body.choice("outcome", ("success", "failure"), required=True)
    method = body.choice("method", service.METHODS) or "card"
    async with db.transaction() as session:
        result = await service.attempt_payment(
            session,
            config,
            order_id=order_id,
            method=method,  # type: ignore[arg-type]
            outcome=outcome,  # type: ignore[arg-type]
            error_reason=body.string("error_reason"),
            amount=body.integer("amount"),
            email=body.string("email"),
            contact=body.string("contact"),
            card_last4=body.string("card_last4"),
            card_network=body.string("card_network"),
            vpa=body.string("vpa"),
            bank=body.string("bank"),
            wallet=body.string("wallet"),
            send_webhooks=_webhooks_flag(body),
        )
    answer: dict[str, Any] = {
        "razorpay_payment_id": result.payment["id"],
        "razorpay_order_id": result.payment["order_id"],
        "razorpay_signature": (
            result.handler_response["razorpay_signature"] if result.handler_response else None
        ),
        "payment": result.payment,
    }
    if result.error is not None:
        answer["error"] = result.error
    return JSONResponse(answer)


@router.post("/payments/{payment_id}/capture-late")
async def capture_late(
    payment_id: str, request: Request, config: SandboxConfigDep, db: SandboxDatabaseDep
) -> JSONResponse:
    body = await _json(request)
    body.reject_unknown(("webhooks",))
    async with db.transaction() as session:
        result = await service.capture_late(
            session, config, payment_id, send_webhooks=_webhooks_flag(body)
        )
    return JSONResponse(result)


@router.post("/refunds/{refund_id}/settle")
async def settle_refund(
    refund_id: str, request: Request, config: SandboxConfigDep, db: SandboxDatabaseDep
) -> JSONResponse:
    body = await _json(request)
    body.reject_unknown(("outcome", "webhooks"))
    outcome = body.choice("outcome", ("processed", "failed"), required=True)
    async with db.transaction() as session:
        result = await service.settle_refund(
            session,
            config,
            refund_id,
            outcome=outcome,  # type: ignore[arg-type]
            send_webhooks=_webhooks_flag(body),
        )
    return JSONResponse(result)


@router.post("/payments/{payment_id}/dispute")
async def dispute_payment(
    payment_id: str, request: Request, config: SandboxConfigDep, db: SandboxDatabaseDep
) -> JSONResponse:
    body = await _json(request)
    body.reject_unknown(("outcome", "webhooks"))
    outcome = body.choice("outcome", ("won", "lost"), required=True)
    async with db.transaction() as session:
        result = await disputes.raise_dispute(
            session,
            config,
            payment_id,
            outcome=outcome,  # type: ignore[arg-type]
            send_webhooks=_webhooks_flag(body),
        )
    return JSONResponse(result)


# ---- webhook behaviour --------------------------------------------------------------------------


def _behaviour_entity(row: SandboxWebhookBehaviour | None) -> dict[str, Any]:
    if row is None:
        return {"duplicate": 0, "shuffle": False, "drop": False, "count": None}
    return {
        "duplicate": row.duplicate,
        "shuffle": row.shuffle,
        "drop": row.drop,
        "count": row.remaining,
    }


@router.post("/webhooks")
async def set_webhook_behaviour(
    request: Request, config: SandboxConfigDep, db: SandboxDatabaseDep
) -> JSONResponse:
    """Replaces the whole setting: fields left out go back to normal, so `{}` resets it."""
    body = await _json(request)
    body.reject_unknown(("duplicate", "shuffle", "drop", "count"))
    duplicate = body.integer("duplicate") or 0
    if not 0 <= duplicate <= MAX_DUPLICATES:
        raise validation_error(
            f"The duplicate must be between 0 and {MAX_DUPLICATES}.", "duplicate"
        )
    shuffle = body.boolean("shuffle") or False
    drop = body.boolean("drop") or False
    count = body.integer("count")
    if count is not None and count < 1:
        raise validation_error("The count must be at least 1.", "count")
    async with db.transaction() as session:
        row = await repository.get_behaviour(session, config.key_id, lock=True)
        if not (duplicate or shuffle or drop):
            if row is not None:
                await repository.delete_behaviour(session, config.key_id)
            row = None
        else:
            if row is None:
                row = SandboxWebhookBehaviour(key_id=config.key_id)
                session.add(row)
            row.duplicate, row.shuffle, row.drop = duplicate, shuffle, drop
            row.remaining = count
            row.updated = utcnow()
        entity = _behaviour_entity(row)
    return JSONResponse(entity)


@router.get("/webhooks")
async def get_webhook_behaviour(config: SandboxConfigDep, db: SandboxDatabaseDep) -> JSONResponse:
    async with db.transaction() as session:
        row = await repository.get_behaviour(session, config.key_id)
        entity = _behaviour_entity(row)
    return JSONResponse(entity)


# ---- faults -------------------------------------------------------------------------------------


@router.post("/faults")
async def add_fault(
    request: Request, config: SandboxConfigDep, db: SandboxDatabaseDep
) -> JSONResponse:
    body = await _json(request)
    body.reject_unknown(
        (
            "path_prefix",
            "method",
            "status",
            "count",
            "delay_ms",
            "after",
            "reset",
            "retry_after",
            "body",
        )
    )
    path_prefix = body.string("path_prefix", required=True, max_length=255)
    if not path_prefix.startswith("/v1"):
        raise validation_error(
            "The path_prefix must start with /v1 (faults apply to REST calls).", "path_prefix"
        )
    method = body.string("method")
    if method is not None:
        method = method.upper()
        if method not in HTTP_METHODS:
            raise validation_error("The selected method is invalid.", "method")
    status = body.integer("status")
    if status is not None and not 400 <= status <= 599:
        raise validation_error("The status must be between 400 and 599.", "status")
    count = body.integer("count")
    count = 1 if count is None else count
    if count < 1:
        raise validation_error("The count must be at least 1.", "count")
    delay_ms = body.integer("delay_ms") or 0
    if not 0 <= delay_ms <= MAX_FAULT_DELAY_MS:
        raise validation_error(
            f"The delay_ms must be between 0 and {MAX_FAULT_DELAY_MS}.", "delay_ms"
        )
    after = body.boolean("after") or False
    reset = body.boolean("reset") or False
    retry_after = body.integer("retry_after")
    if retry_after is not None and retry_after < 0:
        raise validation_error("The retry_after must be at least 0.", "retry_after")
    fault_body = body.choice("body", FAULT_BODIES) or "razorpay"
    if status is not None and reset:
        raise validation_error("Give status or reset, not both.", "reset")
    if status is None and not reset and not delay_ms:
        raise validation_error("Give a status, reset or delay_ms.", "status")
    async with db.transaction() as session:
        row = SandboxFault(
            id=new_id("flt"),
            key_id=config.key_id,
            path_prefix=path_prefix,
            method=method,
            status=status,
            count=count,
            remaining=count,
            delay_ms=delay_ms,
            after=after,
            reset=reset,
            retry_after=retry_after,
            body=fault_body,
            created=utcnow(),
        )
        session.add(row)
        entity = fault_entity(row)
    return JSONResponse(entity)


@router.get("/faults")
async def list_faults(config: SandboxConfigDep, db: SandboxDatabaseDep) -> JSONResponse:
    async with db.transaction() as session:
        rows = await repository.list_faults(session, config.key_id)
        items = [fault_entity(row) for row in rows]
    return JSONResponse(collection(items))


@router.delete("/faults")
async def clear_faults(config: SandboxConfigDep, db: SandboxDatabaseDep) -> JSONResponse:
    async with db.transaction() as session:
        await repository.delete_faults(session, config.key_id)
    return JSONResponse(collection([]))


# ---- events and deliveries ----------------------------------------------------------------------


def _maybe_unix(value: Any) -> int | None:
    return unix(value) if value is not None else None


@router.get("/deliveries")
async def list_deliveries(
    request: Request, config: SandboxConfigDep, db: SandboxDatabaseDep
) -> JSONResponse:
    filters = query(request)
    filters.reject_unknown(("event", "event_id", "status", "payment_id", "order_id"))
    async with db.transaction() as session:
        rows = await repository.list_deliveries(
            session,
            config.key_id,
            event=filters.string("event"),
            event_id=filters.string("event_id"),
            status=filters.string("status"),
            payment_id=filters.string("payment_id"),
            order_id=filters.string("order_id"),
        )
        attempts = await repository.attempts_for(session, [d.id for d, _ in rows])
    items = []
    for delivery, event in rows:
        items.append(
            {
                "id": delivery.id,
                "event_id": event.id,
                "event": event.event,
                "copy": delivery.copy,
                "url": delivery.url,
                "status": delivery.status,
                "attempts": delivery.attempts,
                "last_status_code": delivery.last_status_code,
                "last_error": delivery.last_error,
                "last_attempt_at": _maybe_unix(delivery.last_attempt_at),
                "delivered_at": _maybe_unix(delivery.delivered_at),
                "scheduled_at": delivery.scheduled_at.timestamp(),
                "created_at": unix(delivery.created),
                "order_id": event.order_id,
                "payment_id": event.payment_id,
                "refund_id": event.refund_id,
                "attempt_log": [
                    {
                        "attempt": attempt.attempt,
                        "status_code": attempt.status_code,
                        "error": attempt.error,
                        "at": attempt.started_at.timestamp(),
                        "duration_ms": attempt.duration_ms,
                    }
                    for attempt in attempts.get(delivery.id, [])
                ],
            }
        )
    return JSONResponse(collection(items))


@router.get("/events")
async def list_events(config: SandboxConfigDep, db: SandboxDatabaseDep) -> JSONResponse:
    async with db.transaction() as session:
        rows = await repository.list_events(session, config.key_id)
    items = [
        {
            "id": row.id,
            "event": row.event,
            "created_at": unix(row.created),
            "signature": row.signature,
            "body": row.body.decode("utf-8"),
            "payload": json.loads(row.body),
        }
        for row in rows
    ]
    return JSONResponse(collection(items))


# ---- reset and config ---------------------------------------------------------------------------


@router.post("/reset")
async def reset(request: Request, config: SandboxConfigDep, db: SandboxDatabaseDep) -> JSONResponse:
    body = await _json(request)
    body.reject_unknown(("data",))
    wipe = body.boolean("data") or False
    async with db.transaction() as session:
        await repository.delete_faults(session, config.key_id)
        await repository.delete_behaviour(session, config.key_id)
        if wipe:
            await repository.delete_all_data(session, config.key_id)
    return JSONResponse({"reset": True, "data": wipe})


@router.get("/config")
async def show_config(config: SandboxConfigDep) -> JSONResponse:
    return JSONResponse(
        {
            "key_id": config.key_id,
            "key_secret_hint": config.key_secret_hint,
            "account_id": config.account_id,
            "base_url": config.base_url,
            "checkout_js_url": config.checkout_js_url,
            "webhook_url": config.webhook_url,
            "webhook_secret_hint": config.webhook_secret_hint,
        }
    )
