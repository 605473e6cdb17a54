"""Admin routes for outbound webhooks: `/admin/webhook-endpoints` (create, list, read, update,
rotate the secret, send a test event) and `/admin/webhook-deliveries` (each delivery with its
attempts; redeliver).

The signing secret is shown only when it is made: in the answers to create and rotate. A lost
secret is replaced by rotating (the old one keeps signing for 24 hours)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, status

from enrollpay.admin.service import record_admin_action
from enrollpay.auth.dependencies import AdminUser
from enrollpay.db.session import SessionDep
from enrollpay.errors import documented
from enrollpay.kit.clock import utcnow
from enrollpay.kit.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, checked_cursor
from enrollpay.platform import outbound
from enrollpay.platform.outbound_models import DeliveryStatus, EventType
from enrollpay.platform.outbound_schemas import (
    DeliveryDetail,
    DeliveryOut,
    EndpointCreate,
    EndpointOut,
    EndpointPatch,
    EndpointWithSecret,
    SentTestEvent,
)

admin_router = APIRouter(tags=["outbound webhooks"])

DISABLED: dict[int | str, dict[str, Any]] = {
    409: documented("invalid_state: the endpoint is disabled")
}
# An update's audit entry names the fields that changed, never their values: a URL may carry
# the receiver's token in its query string.
_AUDITED_FIELDS = ("url", "description", "event_types", "is_enabled")


@admin_router.post(
    "/webhook-endpoints",
    status_code=status.HTTP_201_CREATED,
    response_model=EndpointWithSecret,
    summary="Add an endpoint; the answer carries its signing secret (shown only here)",
    description=(
        "`url` must be https (plain http only to localhost / 127.0.0.1). `event_types` empty: "
        "every event. With `platform_id`, only that platform's learners' events; without, "
        "every learner's."
    ),
)
async def create_endpoint(
    body: EndpointCreate, admin: AdminUser, session: SessionDep
) -> EndpointWithSecret:
    created = await outbound.create_endpoint(session, body)
    await record_admin_action(
        session,
        admin,
        "webhook_endpoint.create",
        target_type="webhook_endpoint",
        target_id=created.id,
        details={"platform_id": created.platform_id, "event_types": created.event_types},
    )
    return created


@admin_router.get(
    "/webhook-endpoints", response_model=Page[EndpointOut], summary="Endpoints, newest first"
)
async def list_endpoints(
    _admin: AdminUser,
    session: SessionDep,
    platform_id: Annotated[str | None, Query(max_length=32)] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[EndpointOut]:
    return await outbound.endpoint_page(
        session, platform_id=platform_id, cursor=checked_cursor(cursor, "whe"), limit=limit
    )


@admin_router.get(
    "/webhook-endpoints/{endpoint_id}", response_model=EndpointOut, summary="One endpoint"
)
async def get_endpoint(endpoint_id: str, _admin: AdminUser, session: SessionDep) -> EndpointOut:
    endpoint = await outbound.get_endpoint_or_404(session, endpoint_id)
    return EndpointOut.of(endpoint, utcnow())


@admin_router.patch(
    "/webhook-endpoints/{endpoint_id}",
    response_model=EndpointOut,
    summary="Change the URL, description or event types; enable or disable",
)
async def update_endpoint(
    endpoint_id: str, body: EndpointPatch, admin: AdminUser, session: SessionDep
) -> EndpointOut:
    endpoint = await outbound.get_endpoint_or_404(session, endpoint_id)
    before = {name: getattr(endpoint, name) for name in _AUDITED_FIELDS}
    updated = await outbound.update_endpoint(session, endpoint, body)
    changed = sorted(name for name, value in before.items() if getattr(endpoint, name) != value)
    if changed:
        details: dict[str, Any] = {"fields": changed}
        if "is_enabled" in changed:
            details["is_enabled"] = endpoint.is_enabled
        await record_admin_action(
            session,
            admin,
            "webhook_endpoint.update",
            target_type="webhook_endpoint",
            target_id=endpoint.id,
            details=details,
        )
    return updated


@admin_router.post(
    "/webhook-endpoints/{endpoint_id}/rotate-secret",
    response_model=EndpointWithSecret,
    summary="Replace the signing secret; the old one also signs for 24 hours",
)
async def rotate_secret(
    endpoint_id: str, admin: AdminUser, session: SessionDep
) -> EndpointWithSecret:
    endpoint = await outbound.get_endpoint_or_404(session, endpoint_id)
    rotated = await outbound.rotate_secret(session, endpoint)
    await record_admin_action(
        session,
        admin,
        "webhook_endpoint.rotate_secret",
        target_type="webhook_endpoint",
        target_id=endpoint.id,
    )
    return rotated


@admin_router.post(
    "/webhook-endpoints/{endpoint_id}/test",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=SentTestEvent,
    summary="Send an endpoint.test event to this endpoint (delivered and retried as usual)",
    responses=DISABLED,
)
async def send_test(endpoint_id: str, admin: AdminUser, session: SessionDep) -> SentTestEvent:
    endpoint = await outbound.get_endpoint_or_404(session, endpoint_id)
    sent = await outbound.send_test(session, endpoint)
    await record_admin_action(
        session,
        admin,
        "webhook_endpoint.test",
        target_type="webhook_endpoint",
        target_id=endpoint.id,
        details={"delivery_id": sent.delivery_id, "message_id": sent.message_id},
    )
    return sent


@admin_router.get(
    "/webhook-deliveries",
    response_model=Page[DeliveryOut],
    summary="Deliveries with their attempts, newest first",
)
async def list_deliveries(
    _admin: AdminUser,
    session: SessionDep,
    endpoint_id: Annotated[str | None, Query(max_length=32)] = None,
    status_filter: Annotated[DeliveryStatus | None, Query(alias="status")] = None,
    event_type: Annotated[EventType | None, Query()] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[DeliveryOut]:
    return await outbound.delivery_page(
        session,
        endpoint_id=endpoint_id,
        status=status_filter,
        event_type=event_type,
        cursor=checked_cursor(cursor, "wdl"),
        limit=limit,
    )


@admin_router.get(
    "/webhook-deliveries/{delivery_id}",
    response_model=DeliveryDetail,
    summary="One delivery: the body as sent and every attempt",
)
async def get_delivery(delivery_id: str, _admin: AdminUser, session: SessionDep) -> DeliveryDetail:
    return await outbound.delivery_detail(session, delivery_id)


@admin_router.post(
    "/webhook-deliveries/{delivery_id}/redeliver",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=DeliveryDetail,
    summary="Send the same message (same webhook-id) again now, with a fresh retry schedule",
    responses=DISABLED,
)
async def redeliver(delivery_id: str, admin: AdminUser, session: SessionDep) -> DeliveryDetail:
    delivery = await outbound.redeliver(session, delivery_id)
    await record_admin_action(
        session,
        admin,
        "webhook_delivery.redeliver",
        target_type="webhook_delivery",
        target_id=delivery.id,
        details={"endpoint_id": delivery.endpoint_id, "message_id": delivery.message_id},
    )
    return delivery
