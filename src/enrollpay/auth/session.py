"""Web UI sessions (SPEC §4): an HttpOnly cookie holding a learner token, plus a CSRF token for
writes.

CSRF is a signed double submit: the `csrf` cookie (readable by our JS) is an HMAC of the session
token under SECRET_KEY, and writes send it back as `X-CSRF-Token`. Another site can make the
browser send our cookies but can neither read the `csrf` cookie nor forge the HMAC, and a value
from one session is useless with another."""

from __future__ import annotations

import hashlib
import hmac
from urllib.parse import urlsplit

from fastapi import Request, Response

from enrollpay.auth.tokens import SESSION_AUDIENCE, decode_access_token, issue_access_token
from enrollpay.config import Settings

SESSION_COOKIE = "enrollpay_session"
CSRF_COOKIE = "csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def csrf_token_for(settings: Settings, session_token: str) -> str:
    digest = hmac.new(
        settings.secret_key.encode(), b"csrf:" + session_token.encode(), hashlib.sha256
    )
    return digest.hexdigest()


def csrf_ok(settings: Settings, session_token: str, sent: str | None) -> bool:
    return sent is not None and hmac.compare_digest(
        csrf_token_for(settings, session_token).encode(), sent.encode()
    )


def request_csrf_ok(settings: Settings, request: Request) -> bool:
    session_token = request.cookies.get(SESSION_COOKIE)
    return session_token is not None and csrf_ok(
        settings, session_token, request.headers.get(CSRF_HEADER)
    )


def session_user_id(settings: Settings, request: Request) -> str | None:
    """The user id of a valid session cookie (None when absent or invalid)."""
    token = request.cookies.get(SESSION_COOKIE)
    return decode_access_token(settings, token, audience=SESSION_AUDIENCE) if token else None


def _secure(settings: Settings) -> bool:
    return urlsplit(settings.PUBLIC_BASE_URL).scheme == "https"


def start_session(settings: Settings, response: Response, user_id: str) -> None:
    token = issue_access_token(settings, user_id, audience=SESSION_AUDIENCE)
    secure = _secure(settings)
    response.set_cookie(
        SESSION_COOKIE,
        token.token,
        max_age=token.expires_in,
        httponly=True,
        secure=secure,
        samesite="lax",
    )
    response.set_cookie(
        CSRF_COOKIE,
        csrf_token_for(settings, token.token),
        max_age=token.expires_in,
        httponly=False,  # the page's JS copies it into X-CSRF-Token
        secure=secure,
        samesite="lax",
    )


def end_session(settings: Settings, response: Response) -> None:
    secure = _secure(settings)
    for name, httponly in ((SESSION_COOKIE, True), (CSRF_COOKIE, False)):
        response.delete_cookie(name, httponly=httponly, secure=secure, samesite="lax")
