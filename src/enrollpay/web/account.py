"""The account pages our emails link to: choose a new password, confirm an email address.

The token in their URL is their only authentication, so they are never cached, never framed
and never send it on as a Referer. The reset page checks the token before showing its form; the
form posts to the JSON API (`POST /api/v1/auth/password-reset/confirm`), which checks it again
under a row lock. The verification page confirms on open: reaching it proves the mailbox.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from enrollpay.auth import account
from enrollpay.auth.schemas import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH
from enrollpay.db.session import SessionDep
from enrollpay.notifications.rendering import format_time
from enrollpay.web.site import TOKEN_PAGE_HEADERS
from enrollpay.web.templating import templates

router = APIRouter(include_in_schema=False)

CONFIRM_RESET_API = "/api/v1/auth/password-reset/confirm"


def _render(
    request: Request, name: str, context: dict[str, Any], status_code: int = 200
) -> Response:
    return templates.TemplateResponse(
        request, name, context, status_code=status_code, headers=TOKEN_PAGE_HEADERS
    )


def _message(request: Request, status_code: int, heading: str, *paragraphs: str) -> Response:
    context = {"heading": heading, "paragraphs": paragraphs}
    return _render(request, "account/message.html", context, status_code)


@router.get(account.RESET_PASSWORD_PAGE)
async def reset_password_page(
    request: Request, session: SessionDep, token: str | None = None
) -> Response:
    settings = request.app.state.settings
    try:
        _, claims = await account.user_for_reset_token(session, settings, token or "")
    except account.InvalidToken:
        return _message(
            request,
            400,
            "This link is invalid or has expired",
            "A password-reset link works once, for 30 minutes.",
            'Ask for a new one: "Forgot your password?" on the log-in page.',
        )
    config = {
        "token": token,
        "confirm_url": CONFIRM_RESET_API,
        "min_length": PASSWORD_MIN_LENGTH,
    }
    return _render(
        request,
        "account/reset_password.html",
        {
            "config": config,
            "min_length": PASSWORD_MIN_LENGTH,
            "max_length": PASSWORD_MAX_LENGTH,
            "expires_at": format_time(claims.expires_at),
        },
    )


@router.get(account.VERIFY_EMAIL_PAGE)
async def verify_email_page(
    request: Request, session: SessionDep, token: str | None = None
) -> Response:
    try:
        user = await account.verify_email(session, request.app.state.settings, token or "")
    except account.InvalidToken:
        return _message(
            request,
            400,
            "This link is invalid or has expired",
            "A verification link works for 7 days, and only for the address it was sent to.",
            "Sign in and ask for a new link.",
        )
    return _message(
        request,
        200,
        "Your email address is verified",
        f"Thank you: {user.email} is confirmed for your enrollpay account.",
    )
