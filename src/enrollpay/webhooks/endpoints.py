"""`POST /webhooks/razorpay`: Razorpay's deliveries (SPEC §4.1); and the admin inbox
(`/admin/webhook-events`, SPEC §4.5): list, show, replay.

The handler reads the raw bytes (never a parsed body) and does only cheap work — verify, one
insert, one job — so it answers well inside Razorpay's 5 s timeout, and commits before the
response is sent, so a 2xx means the event is stored."""

from __future__ import annotations

import json
from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from enrollpay.admin.service import record_admin_action
from enrollpay.auth.dependencies import AdminUser
from enrollpay.db.session import SessionDep, get_database
from enrollpay.errors import documented
from enrollpay.kit.clock import utcnow
from enrollpay.kit.pagination import DEFAULT_LIMIT, Cursor, Limit, Page
from enrollpay.metrics import metrics_of
from enrollpay.payments.gateway.factory import gateway_credentials
from enrollpay.webhooks import service
from enrollpay.webhooks.models import WebhookEventStatus
from enrollpay.webhooks.schemas import WebhookAck, WebhookEventDetail, WebhookEventSummary

router = APIRouter(tags=["webhooks"])
admin_router = APIRouter()


_ACK_STATUSES = ("accepted", "duplicate")
_HEADER_PARAMETERS = [
    {
        "name": "x-razorpay-signature",
        "in": "header",
        "required": False,
        "description": "Hex HMAC-SHA256 of the raw body",
        "schema": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
    {
        "name": "x-razorpay-event-id",
        "in": "header",
        "required": False,
        "description": "Razorpay's id of this event; repeated on redelivery",
        "schema": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
]
_ACK_BODIES = {status: json.dumps({"status": status}).encode() for status in _ACK_STATUSES}


@router.post(
    "/webhooks/razorpay",
    response_model=WebhookAck,
    summary="Razorpay webhook deliveries: verified, stored once per event id, processed later",
    description=(
        "Verifies `X-Razorpay-Signature` (HMAC-SHA256 of the raw body; any configured secret "
        "matches during a rotation), stores the delivery once per `X-Razorpay-Event-Id` and "
        "queues it for processing. Correctly signed deliveries always get 200 — also events "
        "enrollpay does not use and bodies it cannot parse (stored as `failed` for an admin) — "
        "so Razorpay does not disable the webhook. A redelivery answers `duplicate`."
    ),
    responses={400: documented("Missing or invalid X-Razorpay-Signature (`invalid_signature`)")},
    openapi_extra={
        "parameters": _HEADER_PARAMETERS,
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        },
    },
)
async def receive_razorpay_webhook(request: Request) -> Response:
    # The busiest route, kept lean: no dependencies to solve (headers are documented through
    # openapi_extra, the transaction is opened here) and a prebuilt body, not a model to
    # serialise (a new Response each time: middleware appends to its headers). The commit
    # happens before the answer: a 2xx means the event is stored.
    raw_body = await request.body()
    metrics = metrics_of(request)
    try:
        async with get_database(request).transaction() as session:
            receipt = await service.receive_razorpay_webhook(
                session,
                raw_body=raw_body,
                headers=request.headers,
                secrets=gateway_credentials(request.app.state.settings).webhook_secrets,
                now=utcnow(),
            )
    except service.InvalidWebhookSignature:
        metrics.webhook_event(None, "rejected_signature")  # unverified bytes are not read
        raise
    status = "duplicate" if receipt.duplicate else "accepted"
    metrics.webhook_event(receipt.event, status)
    return Response(_ACK_BODIES[status], media_type="application/json")


# ---- admin inbox --------------------------------------------------------------------------------

RazorpayId = Annotated[str | None, Query(max_length=40)]


@admin_router.get(
    "/webhook-events",
    response_model=Page[WebhookEventSummary],
    summary="The webhook inbox, newest first (filter by status, event, payment or order)",
)
async def list_webhook_events(
    _admin: AdminUser,
    session: SessionDep,
    status: Annotated[WebhookEventStatus | None, Query()] = None,
    event: Annotated[str | None, Query(max_length=100, examples=["payment.captured"])] = None,
    razorpay_payment_id: RazorpayId = None,
    razorpay_order_id: RazorpayId = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[WebhookEventSummary]:
    return await service.list_events(
        session,
        event=event,
        status=status,
        razorpay_payment_id=razorpay_payment_id,
        razorpay_order_id=razorpay_order_id,
        cursor=cursor,
        limit=limit,
    )


@admin_router.get(
    "/webhook-events/{inbox_id}",
    response_model=WebhookEventDetail,
    summary="One stored delivery: the raw body exactly as received, its headers and outcome",
)
async def get_webhook_event(
    inbox_id: str, _admin: AdminUser, session: SessionDep
) -> WebhookEventDetail:
    return await service.get_event(session, inbox_id)


@admin_router.post(
    "/webhook-events/{inbox_id}/replay",
    status_code=202,
    response_model=WebhookEventDetail,
    summary="Process a stored event again",
    description=(
        "The event goes back to `pending` and a new processing job runs it. Safe on any "
        "event: facts already applied are recorded as duplicates and change nothing; a "
        "`failed` event is processed afresh. Recorded in the audit trail as "
        "`webhook_event.replay`."
    ),
)
async def replay_webhook_event(
    inbox_id: str, admin: AdminUser, session: SessionDep
) -> WebhookEventDetail:
    # The row is first loaded by replay's locking read: loaded earlier in this session, it
    # would keep the values read before the lock, and two replays at once could both count 1.
    row = await service.replay(session, inbox_id)
    await record_admin_action(
        session,
        admin,
        "webhook_event.replay",
        target_type="webhook_event",
        target_id=row.id,
        details={"event": row.event, "event_id": row.event_id, "replay": row.replays},
    )
    return WebhookEventDetail.model_validate(row)
