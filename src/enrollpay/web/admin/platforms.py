"""Console pages for the platform integration (SPEC §4.4): platforms with their single sign-on
settings and API keys, and outbound webhook endpoints with their deliveries.

Pages show the API's own answer shapes (`PlatformOut`, `ApiKeyOut`, `EndpointOut`), which hold
no secret: the SSO shared secret is write-only, a key and an endpoint's signing secret appear
only in the answer to the form that made them (admin.js's `data-then="show"`)."""

from __future__ import annotations

from typing import get_args

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.db.session import SessionDep
from enrollpay.errors import NotFound
from enrollpay.kit.clock import utcnow
from enrollpay.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from enrollpay.notifications.rendering import format_time
from enrollpay.platform import outbound, repository, service
from enrollpay.platform.outbound_models import DeliveryStatus
from enrollpay.platform.outbound_schemas import EndpointOut, SubscribableEventType
from enrollpay.platform.schemas import ApiKeyOut, PlatformOut
from enrollpay.web.admin.pages import (
    AdminPageUser,
    admin_not_found,
    next_page_url,
    page_cursor,
    render_admin,
)

router = APIRouter()

EVENT_TYPES: tuple[str, ...] = get_args(SubscribableEventType)


async def _platform_names(session: AsyncSession, ids: set[str | None]) -> dict[str, str]:
    """Names of the platforms these rows belong to (a handful per page, mostly in the session
    already)."""
    names = {}
    for platform_id in filter(None, ids):
        platform = await repository.get_platform(session, platform_id)
        if platform is not None:
            names[platform_id] = platform.name
    return names


@router.get("/admin/platforms")
async def platforms_page(
    request: Request, admin: AdminPageUser, session: SessionDep, cursor: str | None = None
) -> Response:
    rows = await repository.list_platforms(
        session, after_id=page_cursor(cursor, "plt"), limit=DEFAULT_LIMIT + 1
    )
    page = rows[:DEFAULT_LIMIT]
    context = {
        "title": "Platforms & keys",
        "platforms": [PlatformOut.of(platform) for platform in page],
        "next_url": next_page_url(request, page[-1].id if len(rows) > DEFAULT_LIMIT else None),
        "format_time": format_time,
    }
    return render_admin(request, "admin/platforms.html", context, user=admin)


@router.get("/admin/platforms/{platform_id}")
async def platform_page(
    platform_id: str,
    request: Request,
    admin: AdminPageUser,
    session: SessionDep,
    cursor: str | None = None,
) -> Response:
    try:
        platform = await service.get_platform_or_404(session, platform_id)
    except NotFound:
        return admin_not_found(
            request,
            admin,
            "Platform not found",
            back_url="/admin/platforms",
            back_label="All platforms",
        )
    rows = await repository.list_api_keys(
        session, platform.id, after_id=page_cursor(cursor, "key"), limit=MAX_LIMIT + 1
    )
    page = rows[:MAX_LIMIT]
    context = {
        "title": platform.name,
        "platform": PlatformOut.of(platform),
        "keys": [ApiKeyOut.model_validate(key) for key in page],
        "next_url": next_page_url(request, page[-1].id if len(rows) > MAX_LIMIT else None),
        "format_time": format_time,
    }
    return render_admin(request, "admin/platform.html", context, user=admin)


@router.get("/admin/webhook-endpoints")
async def webhook_endpoints_page(
    request: Request,
    admin: AdminPageUser,
    session: SessionDep,
    platform_id: str | None = None,
    cursor: str | None = None,
) -> Response:
    platform_id = (platform_id or "").strip() or None
    endpoints = await outbound.endpoint_page(
        session,
        platform_id=platform_id,
        cursor=page_cursor(cursor, "whe"),
        limit=DEFAULT_LIMIT,
    )
    # For the create form's choice of platform; past MAX_LIMIT platforms, filter by id instead.
    platforms = await repository.list_platforms(session, after_id=None, limit=MAX_LIMIT)
    context = {
        "title": "Outbound webhooks",
        "endpoints": endpoints.items,
        "platform_id": platform_id,
        "platforms": platforms,
        "platform_names": await _platform_names(session, {e.platform_id for e in endpoints.items}),
        "event_types": EVENT_TYPES,
        "next_url": next_page_url(request, endpoints.next_cursor),
        "format_time": format_time,
    }
    return render_admin(request, "admin/webhook_endpoints.html", context, user=admin)


@router.get("/admin/webhook-endpoints/{endpoint_id}")
async def webhook_endpoint_page(
    endpoint_id: str,
    request: Request,
    admin: AdminPageUser,
    session: SessionDep,
    status: str | None = None,
    cursor: str | None = None,
) -> Response:
    try:
        endpoint = await outbound.get_endpoint_or_404(session, endpoint_id)
    except NotFound:
        return admin_not_found(
            request,
            admin,
            "Webhook endpoint not found",
            back_url="/admin/webhook-endpoints",
            back_label="All webhook endpoints",
        )
    statuses = [s.value for s in DeliveryStatus]
    # An unknown status shows every delivery rather than an error page.
    status_filter = DeliveryStatus(status) if status in statuses else None
    deliveries = await outbound.delivery_page(
        session,
        endpoint_id=endpoint.id,
        status=status_filter,
        event_type=None,
        cursor=page_cursor(cursor, "wdl"),
        limit=DEFAULT_LIMIT,
    )
    view = EndpointOut.of(endpoint, utcnow())
    context = {
        "title": "Webhook endpoint",
        "endpoint": view,
        "platform_names": await _platform_names(session, {view.platform_id}),
        "event_types": EVENT_TYPES,
        "deliveries": deliveries.items,
        "statuses": statuses,
        "status": status_filter.value if status_filter else "",
        "next_url": next_page_url(request, deliveries.next_cursor),
        "format_time": format_time,
    }
    return render_admin(request, "admin/webhook_endpoint.html", context, user=admin)
