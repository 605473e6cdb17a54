"""What every console page shares: the admin check (a dependency), paging links and rendering
with the console layout."""

from __future__ import annotations

from typing import Annotated, Any
from urllib.parse import quote, urlencode

from fastapi import Depends, FastAPI, Request
from fastapi.responses import RedirectResponse, Response

from enrollpay.db.session import SessionDep
from enrollpay.kit.ids import has_prefix
from enrollpay.users.models import User
from enrollpay.web.site import page_user, render


class _NotAnAdmin(Exception):
    """Raised by `admin_page_user`; answered with `response` (see `install`)."""

    def __init__(self, response: Response) -> None:
        self.response = response


async def admin_page_user(request: Request, session: SessionDep) -> User:
    """The signed-in admin. Signed out → the login page, coming back here afterwards; signed in
    without the admin role → a 403 page."""
    user = await page_user(session, request)
    if user is None:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        raise _NotAnAdmin(RedirectResponse(f"/login?next={quote(target, safe='/')}", 303))
    if not user.is_admin:
        context = {"heading": "This page is for admins"}
        raise _NotAnAdmin(
            render(request, "admin/forbidden.html", context, user=user, status_code=403)
        )
    return user


AdminPageUser = Annotated[User, Depends(admin_page_user)]


def install(app: FastAPI) -> None:
    async def answer(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, _NotAnAdmin)
        return exc.response

    app.add_exception_handler(_NotAnAdmin, answer)


def page_cursor(cursor: str | None, prefix: str) -> str | None:
    """A cursor that is not one of ours starts from the newest (a page never answers 422)."""
    return cursor if cursor and has_prefix(cursor, prefix) else None


def next_page_url(request: Request, next_cursor: str | None) -> str | None:
    """This page's URL with its filters and the next cursor; None on the last page."""
    if next_cursor is None:
        return None
    query = {k: v for k, v in request.query_params.items() if k != "cursor" and v}
    return f"{request.url.path}?{urlencode({**query, 'cursor': next_cursor})}"


def render_admin(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    user: User,
    status_code: int = 200,
) -> Response:
    return render(request, name, context, user=user, status_code=status_code)


def admin_not_found(
    request: Request, admin: User, title: str, *, back_url: str, back_label: str
) -> Response:
    """The console's 404 page: an id that names nothing (mistyped, or another kind's)."""
    context = {"title": title, "back_url": back_url, "back_label": back_label}
    return render(request, "admin/not_found.html", context, user=admin, status_code=404)
