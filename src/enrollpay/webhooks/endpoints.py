"""`POST /webhooks/razorpay`: Razorpay's deliveries (SPEC §4.1).

The handler reads the raw bytes (never a parsed body) and does only cheap work — verify, one
insert, one job — so it answers well inside Razorpay's 5 s timeout. The session dependency
commits before the response is sent, so a 2xx means the event is stored."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Request

from enrollpay.config import Settings
from enrollpay.db.session import SessionDep
from enrollpay.errors import documented
from enrollpay.kit.clock import utcnow
from enrollpay.metrics import metrics_of
from enrollpay.payments.gateway.factory import gateway_credentials
from enrollpay.webhooks import service
from enrollpay.webhooks.schemas import WebhookAck

router = APIRouter(tags=["webhooks"])


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
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": {"type": "object"}}},
        }
    },
)
async def receive_razorpay_webhook(
    request: Request,
    session: SessionDep,
    x_razorpay_signature: Annotated[
        str | None, Header(description="Hex HMAC-SHA256 of the raw body")
    ] = None,
    x_razorpay_event_id: Annotated[
        str | None, Header(description="Razorpay's id of this event; repeated on redelivery")
    ] = None,
) -> WebhookAck:
    # The two headers are declared for the OpenAPI document; the service reads request.headers.
    raw_body = await request.body()
    settings: Settings = request.app.state.settings
    metrics = metrics_of(request)
    try:
        receipt = await service.receive_razorpay_webhook(
            session,
            raw_body=raw_body,
            headers=request.headers,
            secrets=gateway_credentials(settings).webhook_secrets,
            now=utcnow(),
        )
    except service.InvalidWebhookSignature:
        metrics.webhook_event(None, "rejected_signature")  # unverified bytes are not read
        raise
    ack = WebhookAck(status="duplicate" if receipt.duplicate else "accepted")
    metrics.webhook_event(receipt.event, ack.status)
    return ack
