"""The console's operations pages: the webhook inbox (with replay), jobs (with retry), refunds,
reconciliation and automatic refunds, disputes, and the audit trail.

Each page reads through the service the admin API uses; its buttons call that API (admin.js).
Filters come from the address bar, so a value the API would refuse with 422 is dropped here
instead: a page always renders."""

from __future__ import annotations

import json
from enum import StrEnum
from typing import Any, TypeVar

from fastapi import APIRouter, Request
from fastapi.responses import Response

from enrollpay.admin import service as admin_service
from enrollpay.db.session import SessionDep
from enrollpay.errors import NotFound
from enrollpay.jobs import service as jobs_service
from enrollpay.jobs.models import JobStatus
from enrollpay.jobs.registry import discover_handlers, registry
from enrollpay.kit.ids import has_prefix
from enrollpay.kit.money import CURRENCY_EXPONENTS
from enrollpay.kit.pagination import DEFAULT_LIMIT
from enrollpay.notifications.rendering import format_time
from enrollpay.reconciliation import service as reconciliation_service
from enrollpay.refunds import disputes
from enrollpay.refunds import service as refunds_service
from enrollpay.refunds.models import RefundKind, RefundStatus
from enrollpay.users import repository as users_repository
from enrollpay.users.models import User
from enrollpay.web.admin.pages import (
    AdminPageUser,
    admin_not_found,
    next_page_url,
    page_cursor,
    render_admin,
)
from enrollpay.web.templating import format_major_money
from enrollpay.webhooks import service as webhooks_service
from enrollpay.webhooks.models import BodyEncoding, WebhookEventStatus
from enrollpay.webhooks.schemas import WebhookEventDetail

router = APIRouter()

E = TypeVar("E", bound=StrEnum)

FILTER_MAX_CHARS = 64
ERROR_EXCERPT_CHARS = 120
RECENT_AUTOMATIC_REFUNDS = 20
ALL_JOBS = "all"
# Razorpay's dispute statuses (refunds/models.py).
DISPUTE_STATUSES = ("open", "under_review", "action_required", "won", "lost", "closed")

# Ids with a console page of their own, by prefix.
CONSOLE_PAGES = {
    "enr": "/admin/enrollments/{}",
    "crs": "/admin/courses/{}",
    "cpn": "/admin/coupons/{}",
    "job": "/admin/jobs/{}",
    "whk": "/admin/webhook-events/{}",
    "plt": "/admin/platforms/{}",
    "whe": "/admin/webhook-endpoints/{}",
    "usr": "/admin/enrollments?user_id={}",
}
GOOD_STATES = {"processed", "done", "won", "enrolled", "captured"}
BAD_STATES = {"failed", "dead", "lost", "action_required"}


def console_url(value: Any) -> str | None:
    """The console page of an id (an enrollment, a job…), or None when it has none."""
    if not isinstance(value, str):
        return None
    for prefix, url in CONSOLE_PAGES.items():
        if has_prefix(value, prefix):
            return url.format(value)
    return None


def tag_class(status: str) -> str:
    """The CSS class of a status tag: green when settled well, red when it needs a look."""
    if status in GOOD_STATES:
        return "tag ok"
    if status in BAD_STATES:
        return "tag bad"
    return "tag"


def amount_text(amount: float, currency: str) -> str:
    """An API amount (major units) as "₹1,234.50"; disputes of other products' payments may be
    in a currency we do not sell in, shown plainly."""
    if currency in CURRENCY_EXPONENTS:
        return format_major_money(amount, currency)
    return f"{amount:,.2f} {currency}"


def compact_json(value: Any) -> str:
    """One line (spaces after separators let a narrow table cell wrap it)."""
    return json.dumps(value, separators=(", ", ": "), ensure_ascii=False, sort_keys=True)


def excerpt(text: str | None, limit: int = ERROR_EXCERPT_CHARS) -> str:
    if not text:
        return ""
    return text if len(text) <= limit else text[: limit - 1] + "…"


def text_filter(request: Request, name: str) -> str | None:
    value = request.query_params.get(name, "").strip()
    return value[:FILTER_MAX_CHARS] or None


def choice_filter(request: Request, name: str, choices: type[E]) -> E | None:
    value = request.query_params.get(name, "")
    return choices(value) if value in {choice.value for choice in choices} else None


def _render(request: Request, admin: User, name: str, title: str, **context: Any) -> Response:
    helpers = {
        "format_time": format_time,
        "console_url": console_url,
        "tag_class": tag_class,
        "compact_json": compact_json,
        "amount_text": amount_text,
        "excerpt": excerpt,
    }
    return render_admin(request, name, {"title": title, **helpers, **context}, user=admin)


# ---- webhook inbox ------------------------------------------------------------------------------


@router.get("/admin/webhook-events")
async def webhook_events_page(
    request: Request, admin: AdminPageUser, session: SessionDep
) -> Response:
    status = choice_filter(request, "status", WebhookEventStatus)
    event = text_filter(request, "event")
    payment_id = text_filter(request, "razorpay_payment_id")
    order_id = text_filter(request, "razorpay_order_id")
    page = await webhooks_service.list_events(
        session,
        status=status,
        event=event,
        razorpay_payment_id=payment_id,
        razorpay_order_id=order_id,
        cursor=page_cursor(request.query_params.get("cursor"), "whk"),
        limit=DEFAULT_LIMIT,
    )
    return _render(
        request,
        admin,
        "admin/webhook_events.html",
        "Webhook inbox",
        events=page.items,
        filters={
            "status": status,
            "event": event,
            "razorpay_payment_id": payment_id,
            "razorpay_order_id": order_id,
        },
        statuses=list(WebhookEventStatus),
        next_url=next_page_url(request, page.next_cursor),
    )


def pretty_body(event: WebhookEventDetail) -> str:
    """The raw body indented when it is JSON; otherwise exactly as stored."""
    if event.body_encoding != BodyEncoding.utf8:
        return event.raw_body
    try:
        document = json.loads(event.raw_body)
    except ValueError:
        return event.raw_body
    return json.dumps(document, indent=2, ensure_ascii=False)


@router.get("/admin/webhook-events/{inbox_id}")
async def webhook_event_page(
    inbox_id: str, request: Request, admin: AdminPageUser, session: SessionDep
) -> Response:
    try:
        event = await webhooks_service.get_event(session, inbox_id)
    except NotFound:
        return admin_not_found(
            request,
            admin,
            "No such webhook event",
            back_url="/admin/webhook-events",
            back_label="The webhook inbox",
        )
    return _render(
        request,
        admin,
        "admin/webhook_event.html",
        f"Webhook event {event.id}",
        event=event,
        body=pretty_body(event),
        replayable=event.status != WebhookEventStatus.pending,
    )


# ---- jobs ---------------------------------------------------------------------------------------


def job_status_filter(request: Request) -> JobStatus | None:
    """Dead jobs unless asked otherwise: they are the ones waiting for an operator."""
    if request.query_params.get("status") == ALL_JOBS:
        return None
    return choice_filter(request, "status", JobStatus) or JobStatus.dead


@router.get("/admin/jobs")
async def jobs_page(request: Request, admin: AdminPageUser, session: SessionDep) -> Response:
    status = job_status_filter(request)
    kind = text_filter(request, "kind")
    page = await jobs_service.job_page(
        session,
        status=status,
        kind=kind,
        cursor=page_cursor(request.query_params.get("cursor"), "job"),
        limit=DEFAULT_LIMIT,
    )
    discover_handlers()  # every kind, for the filter
    return _render(
        request,
        admin,
        "admin/jobs.html",
        "Jobs",
        jobs=page.items,
        status=status or ALL_JOBS,
        kind=kind,
        statuses=[*JobStatus, ALL_JOBS],
        kinds=registry.kinds(),
        next_url=next_page_url(request, page.next_cursor),
    )


@router.get("/admin/jobs/{job_id}")
async def job_page(
    job_id: str, request: Request, admin: AdminPageUser, session: SessionDep
) -> Response:
    try:
        job = await jobs_service.get_job(session, job_id)
    except NotFound:
        return admin_not_found(
            request, admin, "No such job", back_url="/admin/jobs?status=all", back_label="All jobs"
        )
    related = {
        name: url for name, value in job.payload.items() if (url := console_url(value)) is not None
    }
    return _render(
        request,
        admin,
        "admin/job.html",
        f"Job {job.id}",
        job=job,
        payload=json.dumps(job.payload, indent=2, ensure_ascii=False, sort_keys=True),
        related=related,
    )


# ---- money: refunds, reconciliation, disputes ---------------------------------------------------


@router.get("/admin/refunds")
async def refunds_page(request: Request, admin: AdminPageUser, session: SessionDep) -> Response:
    status = choice_filter(request, "status", RefundStatus)
    kind = choice_filter(request, "kind", RefundKind)
    page = await refunds_service.refund_page(
        session,
        status=status,
        kind=kind,
        cursor=page_cursor(request.query_params.get("cursor"), "rfd"),
        limit=DEFAULT_LIMIT,
    )
    return _render(
        request,
        admin,
        "admin/refunds.html",
        "Refunds",
        refunds=page.items,
        status=status,
        kind=kind,
        statuses=list(RefundStatus),
        kinds=list(RefundKind),
        next_url=next_page_url(request, page.next_cursor),
    )


@router.get("/admin/reconciliation")
async def reconciliation_page(
    request: Request, admin: AdminPageUser, session: SessionDep
) -> Response:
    repairs = await reconciliation_service.repair_page(
        session, cursor=page_cursor(request.query_params.get("cursor"), "evt"), limit=DEFAULT_LIMIT
    )
    automatic = await refunds_service.refund_page(
        session,
        status=None,
        kind=RefundKind.automatic,
        cursor=None,
        limit=RECENT_AUTOMATIC_REFUNDS,
    )
    return _render(
        request,
        admin,
        "admin/reconciliation.html",
        "Reconciliation",
        repairs=repairs.items,
        next_url=next_page_url(request, repairs.next_cursor),
        automatic_refunds=automatic.items,
        more_automatic_refunds=automatic.next_cursor is not None,
    )


@router.get("/admin/disputes")
async def disputes_page(request: Request, admin: AdminPageUser, session: SessionDep) -> Response:
    status = request.query_params.get("status")
    status = status if status in DISPUTE_STATUSES else None
    page = await disputes.dispute_page(
        session,
        status=status,
        cursor=page_cursor(request.query_params.get("cursor"), "dsp"),
        limit=DEFAULT_LIMIT,
    )
    return _render(
        request,
        admin,
        "admin/disputes.html",
        "Disputes",
        disputes=page.items,
        status=status,
        statuses=DISPUTE_STATUSES,
        next_url=next_page_url(request, page.next_cursor),
    )


# ---- audit trail --------------------------------------------------------------------------------


@router.get("/admin/audit-log")
async def audit_log_page(request: Request, admin: AdminPageUser, session: SessionDep) -> Response:
    filters = {
        name: text_filter(request, name)
        for name in ("actor_id", "action", "target_id", "enrollment_id")
    }
    page = await admin_service.list_actions(
        session,
        **filters,
        cursor=page_cursor(request.query_params.get("cursor"), "adm"),
        limit=DEFAULT_LIMIT,
    )
    # Few admins act on one page of the trail: one lookup per distinct actor is cheap.
    actor_ids = {action.actor_id for action in page.items if action.actor_id is not None}
    actors: dict[str, str] = {}
    for actor_id in actor_ids:
        user = await users_repository.get_by_id(session, actor_id)
        if user is not None:
            actors[actor_id] = user.email
    return _render(
        request,
        admin,
        "admin/audit_log.html",
        "Audit trail",
        actions=page.items,
        actors=actors,
        filters=filters,
        next_url=next_page_url(request, page.next_cursor),
    )
