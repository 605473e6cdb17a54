"""What every web UI page shares: who is signed in (from the session cookie), the response
headers, and rendering with the site layout (header with nav)."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.auth.session import CSRF_COOKIE, SESSION_COOKIE, end_session, session_user_id
from enrollpay.users import repository
from enrollpay.users.models import User
from enrollpay.web.templating import templates

PAGE_HEADERS = {
    "Cache-Control": "no-store",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": "frame-ancestors 'none'",
}
# Pages whose URL holds a token (payment link, reset or verification link): also never sent on
# as a Referer.
TOKEN_PAGE_HEADERS = {**PAGE_HEADERS, "Referrer-Policy": "no-referrer"}


async def page_user(session: AsyncSession, request: Request) -> User | None:
    """The signed-in user; a page treats a bad or expired cookie as signed out (the API is
    the one that answers 401)."""
    user_id = session_user_id(request.app.state.settings, request)
    user = await repository.get_by_id(session, user_id) if user_id else None
    return user if user is not None and user.is_active else None


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    user: User | None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    full = {"user": user, "csrf_token": request.cookies.get(CSRF_COOKIE, ""), **context}
    response = templates.TemplateResponse(
        request, name, full, status_code=status_code, headers={**PAGE_HEADERS, **(headers or {})}
    )
    settings = request.app.state.settings
    if SESSION_COOKIE in request.cookies and session_user_id(settings, request) is None:
        # An expired or tampered cookie would make the page's API calls 401: drop it.
        end_session(settings, response)
    return response


def safe_next(value: str | None) -> str:
    """Only a path on this site (never `//evil.example` or `/\\evil.example`, nor `/<TAB>/evil`,
    which a browser reads as `//evil`: it drops tabs and newlines from URLs)."""
    if not value or not value.startswith("/") or value.startswith("//") or "\\" in value:
        return "/"
    if any(c.isspace() or ord(c) < 0x20 or ord(c) == 0x7F for c in value):
        return "/"
    return value
