"""The console's risk page: the velocity rules' flags (open ones first, reviewed ones on
request) and the payment-attempt log, on the queries behind `/api/v1/admin/risk-flags` and
`/api/v1/admin/payment-attempts`."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.abuse import repository
from enrollpay.abuse.schemas import PaymentAttemptOut, RiskFlagOut
from enrollpay.db.session import SessionDep
from enrollpay.kit.pagination import DEFAULT_LIMIT, MAX_LIMIT
from enrollpay.notifications.rendering import format_time
from enrollpay.web.admin.pages import AdminPageUser, next_page_url, page_cursor, render_admin

router = APIRouter()


def _url_with(request: Request, **changes: str | None) -> str:
    """This page's URL with some parameters replaced (None: removed)."""
    query = {k: v for k, v in request.query_params.items() if k not in changes and v}
    query |= {k: v for k, v in changes.items() if v is not None}
    return f"{request.url.path}?{urlencode(query)}" if query else request.url.path


def _more_url(request: Request, param: str, next_cursor: str | None) -> str | None:
    """Like `next_page_url`, for a list on the page paged by its own cursor parameter."""
    return _url_with(request, **{param: next_cursor}) if next_cursor is not None else None


async def _flags(
    session: AsyncSession, *, reviewed: bool, cursor: str | None, limit: int
) -> tuple[list[RiskFlagOut], str | None]:
    rows = await repository.list_flags(
        session,
        reviewed=reviewed,
        kind=None,
        before_id=page_cursor(cursor, "rsk"),
        limit=limit + 1,
    )
    page = rows[:limit]
    next_cursor = page[-1].id if len(rows) > limit else None
    return [RiskFlagOut.model_validate(flag) for flag in page], next_cursor


@router.get("/admin/risk")
async def risk_page(
    request: Request,
    admin: AdminPageUser,
    session: SessionDep,
    show_reviewed: str | None = None,
    open_cursor: str | None = None,
    reviewed_cursor: str | None = None,
    user_id: str | None = None,
    enrollment_id: str | None = None,
    cursor: str | None = None,
) -> Response:
    showing_reviewed = show_reviewed in ("1", "on", "true")  # a checkbox; never a 422 page
    # Open flags are few (one per rule and subject per day) and each needs a look: a long page.
    open_flags, open_next = await _flags(
        session, reviewed=False, cursor=open_cursor, limit=MAX_LIMIT
    )
    reviewed_flags, reviewed_next = (
        await _flags(session, reviewed=True, cursor=reviewed_cursor, limit=DEFAULT_LIMIT)
        if showing_reviewed
        else ([], None)
    )
    user_id = (user_id or "").strip() or None
    enrollment_id = (enrollment_id or "").strip() or None
    rows = await repository.list_attempts(
        session,
        user_id=user_id,
        enrollment_id=enrollment_id,
        before_id=page_cursor(cursor, "pal"),
        limit=DEFAULT_LIMIT + 1,
    )
    attempts = rows[:DEFAULT_LIMIT]
    context = {
        "title": "Risk",
        "open_flags": open_flags,
        "open_next_url": _more_url(request, "open_cursor", open_next),
        "show_reviewed": showing_reviewed,
        "toggle_reviewed_url": _url_with(
            request, show_reviewed=None if showing_reviewed else "1", reviewed_cursor=None
        ),
        "reviewed_flags": reviewed_flags,
        "reviewed_next_url": _more_url(request, "reviewed_cursor", reviewed_next),
        "user_id": user_id or "",
        "enrollment_id": enrollment_id or "",
        "attempts": [PaymentAttemptOut.model_validate(row) for row in attempts],
        "attempts_next_url": next_page_url(
            request, attempts[-1].id if len(rows) > DEFAULT_LIMIT else None
        ),
        "format_time": format_time,
    }
    return render_admin(request, "admin/risk.html", context, user=admin)
