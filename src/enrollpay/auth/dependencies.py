"""Who is calling: `OptionalUser`, `CurrentUser` (learner or admin) and `AdminUser`.

A Bearer token or, from the web UI, the session cookie (auth/session.py); a write with the
cookie also needs a valid X-CSRF-Token. A bad or expired token or cookie is always 401, also
where a token is optional (SPEC §4)."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from enrollpay.auth.session import SAFE_METHODS, SESSION_COOKIE, request_csrf_ok, session_user_id
from enrollpay.auth.tokens import decode_access_token
from enrollpay.config import Settings
from enrollpay.db.session import SessionDep
from enrollpay.errors import Forbidden, Unauthenticated
from enrollpay.users import repository
from enrollpay.users.models import User

_bearer = HTTPBearer(auto_error=False, description="Access token from /api/v1/auth/login")


async def optional_user(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> User | None:
    settings: Settings = request.app.state.settings
    if request.headers.get("authorization") is not None:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise Unauthenticated()
        user_id = decode_access_token(settings, credentials.credentials)
    elif request.cookies.get(SESSION_COOKIE) is not None:
        user_id = session_user_id(settings, request)
        if user_id is None:
            raise Unauthenticated("Your session is invalid or has expired: sign in again.")
        if request.method not in SAFE_METHODS and not request_csrf_ok(settings, request):
            raise Forbidden(
                "This request is missing a valid X-CSRF-Token header.",
                hint="Send the value of the csrf cookie as X-CSRF-Token, or sign in again.",
            )
    else:
        return None
    user = await repository.get_by_id(session, user_id) if user_id else None
    if user is None or not user.is_active:
        raise Unauthenticated()
    return user


async def current_user(user: Annotated[User | None, Depends(optional_user)]) -> User:
    if user is None:
        raise Unauthenticated()
    return user


async def admin_user(user: Annotated[User, Depends(current_user)]) -> User:
    if not user.is_admin:
        raise Forbidden("This needs an admin account.")
    return user


async def user_outside_transaction(
    user: Annotated[User, Depends(current_user)], session: SessionDep
) -> User:
    """The caller, with the request's transaction ended: for handlers that run their own
    transactions around gateway calls (no connection or SQLite write lock held meanwhile)."""
    await session.commit()
    return user


async def admin_outside_transaction(
    user: Annotated[User, Depends(admin_user)], session: SessionDep
) -> User:
    """`user_outside_transaction` for admin routes."""
    await session.commit()
    return user


OptionalUser = Annotated[User | None, Depends(optional_user)]
CurrentUser = Annotated[User, Depends(current_user)]
AdminUser = Annotated[User, Depends(admin_user)]
UserOutsideTransaction = Annotated[User, Depends(user_outside_transaction)]
AdminOutsideTransaction = Annotated[User, Depends(admin_outside_transaction)]
