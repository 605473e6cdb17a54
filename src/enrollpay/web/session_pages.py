"""Sign-in, sign-up, forgotten-password and sign-out pages of the web UI (SPEC §5).

The forms post here as plain HTML forms (no JS needed); success sets the session cookies
(auth/session.py) and redirects to `next`. Sign-in calls the same `authenticate` as
`POST /api/v1/auth/login`, so its rate limits apply. Errors show inline with the API's messages.
Login and sign-up forms from another origin are refused (login CSRF); sign-out needs the CSRF
token like every cookie-authenticated write.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, quote, urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from enrollpay.abuse import service as abuse
from enrollpay.auth import account, service
from enrollpay.auth.schemas import (
    PASSWORD_MAX_LENGTH,
    PASSWORD_MIN_LENGTH,
    PasswordResetRequest,
    SignupRequest,
)
from enrollpay.auth.session import SESSION_COOKIE, csrf_ok, end_session, start_session
from enrollpay.db.session import SessionDep
from enrollpay.errors import AppError, Forbidden
from enrollpay.kit.client import client_ip
from enrollpay.kit.clock import utcnow
from enrollpay.users.service import create_user
from enrollpay.web.site import page_user, render, safe_next

router = APIRouter(include_in_schema=False)

MAX_FORM_BYTES = 16_384


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_FORM_BYTES:
        raise AppError("The form is too large.", code="payload_too_large", status_code=413)
    return dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))


def _check_origin(request: Request) -> None:
    origin = request.headers.get("origin")
    if origin and origin != "null" and urlsplit(origin).netloc != request.headers.get("host"):
        raise Forbidden("This form must be sent from this site.")


def _signed_in(request: Request, user_id: str, next_path: str) -> Response:
    response = RedirectResponse(next_path, status_code=303)
    start_session(request.app.state.settings, response, user_id)
    return response


def _form_page(
    request: Request,
    name: str,
    *,
    next_path: str,
    values: dict[str, str] | None = None,
    error: str | None = None,
    field_errors: dict[str, str] | None = None,
    status_code: int = 200,
    headers: dict[str, str] | None = None,
) -> Response:
    context: dict[str, Any] = {
        "next": next_path,
        "values": values or {},
        "error": error,
        "field_errors": field_errors or {},
        "min_length": PASSWORD_MIN_LENGTH,
        "max_length": PASSWORD_MAX_LENGTH,
        "next_query": quote(next_path, safe="/"),
    }
    return render(request, name, context, user=None, status_code=status_code, headers=headers)


@router.get("/login")
async def login_page(request: Request, next: str | None = None) -> Response:
    return _form_page(request, "site/login.html", next_path=safe_next(next))


@router.post("/login")
async def login_submit(request: Request, session: SessionDep) -> Response:
    _check_origin(request)
    form = await _form(request)
    next_path = safe_next(form.get("next"))
    email = form.get("email", "").strip()
    try:
        user = await service.authenticate(
            session,
            request.app.state.rate_limiter,
            email=email,
            password=form.get("password", ""),
            client_ip=client_ip(request),
        )
    except AppError as error:
        return _form_page(
            request,
            "site/login.html",
            next_path=next_path,
            values={"email": email},
            error=error.message,
            status_code=error.status_code,
            headers=error.headers,
        )
    return _signed_in(request, user.id, next_path)


@router.get("/signup")
async def signup_page(request: Request, next: str | None = None) -> Response:
    return _form_page(request, "site/signup.html", next_path=safe_next(next))


@router.post("/signup")
async def signup_submit(request: Request, session: SessionDep) -> Response:
    _check_origin(request)
    form = await _form(request)
    next_path = safe_next(form.get("next"))
    values = {k: form.get(k, "").strip() for k in ("email", "full_name", "phone")}

    def again(
        error: str,
        field_errors: dict[str, str] | None = None,
        status: int = 422,
        headers: dict[str, str] | None = None,
    ) -> Response:
        return _form_page(
            request,
            "site/signup.html",
            next_path=next_path,
            values=values,
            error=error,
            field_errors=field_errors,
            status_code=status,
            headers=headers,
        )

    try:
        body = SignupRequest(
            email=values["email"],
            password=form.get("password", ""),
            full_name=values["full_name"],
            phone=values["phone"] or None,
        )
    except ValidationError as error:
        problems = {str(e["loc"][0]): e["msg"] for e in error.errors() if e["loc"]}
        return again("Please correct the highlighted fields.", problems)
    limiter = request.app.state.rate_limiter
    ip = client_ip(request)
    try:
        # The same limits as POST /api/v1/auth/signup (one counter for both).
        await abuse.guard_signup(
            request.app.state.db, request.app.state.settings, limiter, ip, now=utcnow()
        )
        user = await create_user(
            session,
            email=str(body.email),
            password=body.password,
            full_name=body.full_name,
            phone=body.phone,
        )
        await account.send_signup_verification(session, request.app.state.settings, user)
    except AppError as error:
        await session.rollback()
        return again(error.message, status=error.status_code, headers=error.headers)
    await abuse.count_new_account(limiter, ip)
    return _signed_in(request, user.id, next_path)


@router.get("/forgot-password")
async def forgot_password_page(request: Request, next: str | None = None) -> Response:
    return _form_page(request, "site/forgot_password.html", next_path=safe_next(next))


@router.post("/forgot-password")
async def forgot_password_submit(request: Request, session: SessionDep) -> Response:
    """Emails a reset link like `POST /api/v1/auth/password-reset`: the same answer whether
    the account exists, and its rate limits."""
    _check_origin(request)
    form = await _form(request)
    next_path = safe_next(form.get("next"))
    email = form.get("email", "").strip()
    try:
        address = PasswordResetRequest(email=email).email
        await account.request_password_reset(
            session,
            request.app.state.settings,
            request.app.state.rate_limiter,
            email=str(address),
            client_ip=client_ip(request),
        )
    except ValidationError:
        return _form_page(
            request,
            "site/forgot_password.html",
            next_path=next_path,
            values={"email": email},
            error="Enter the email address you signed up with.",
            status_code=422,
        )
    except AppError as error:
        return _form_page(
            request,
            "site/forgot_password.html",
            next_path=next_path,
            values={"email": email},
            error=error.message,
            status_code=error.status_code,
            headers=error.headers,
        )
    context = {"next_query": quote(next_path, safe="/"), "email": email}
    return render(request, "site/forgot_password_sent.html", context, user=None)


@router.get("/logout")
async def logout_page(request: Request, session: SessionDep) -> Response:
    user = await page_user(session, request)
    if user is None:
        return RedirectResponse("/", status_code=303)
    return render(request, "site/logout.html", {}, user=user)


@router.post("/logout")
async def logout_submit(request: Request) -> Response:
    settings = request.app.state.settings
    session_token = request.cookies.get(SESSION_COOKIE)
    if session_token is not None:
        form = await _form(request)
        sent = request.headers.get("x-csrf-token") or form.get("csrf_token")
        if not csrf_ok(settings, session_token, sent):
            raise Forbidden("This request is missing a valid CSRF token.")
    response = RedirectResponse("/", status_code=303)
    end_session(settings, response)
    # The service worker's cached pages show this learner's view; the queue holds their clicks.
    response.headers["Clear-Site-Data"] = '"cache", "storage"'
    return response
