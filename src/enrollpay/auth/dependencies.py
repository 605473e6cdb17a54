"""Who is calling: `OptionalUser`, `CurrentUser` (learner or admin), `AdminUser` and
`CurrentPlatform`.

Credentials are a Bearer access token; a Bearer API key (`ep_live_…`, platform/keys.py), which
acts for one of its platform's learners named by X-On-Behalf-Of; or, from the web UI, the session
cookie (auth/session.py), where a write also needs a valid X-CSRF-Token. A bad or expired
credential is always 401, also where one is optional (SPEC §4)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from enrollpay.auth.session import SAFE_METHODS, SESSION_COOKIE, request_csrf_ok, session_user_id
from enrollpay.auth.tokens import decode_access_token
from enrollpay.config import Settings
from enrollpay.db.session import SessionDep
from enrollpay.errors import Forbidden, Unauthenticated
from enrollpay.kit.clock import utcnow
from enrollpay.platform import keys
from enrollpay.platform.keys import PlatformCaller
from enrollpay.users import repository
from enrollpay.users.models import User

_bearer = HTTPBearer(
    auto_error=False,
    description="Access token from /api/v1/auth/login, or a platform's API key (ep_live_…)",
)


@dataclass(frozen=True)
class Caller:
    """Who presented credentials: a user (token or cookie), a platform (API key) or nobody."""

    user: User | None = None
    platform: PlatformCaller | None = None


async def caller(
    request: Request,
    session: SessionDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Caller:
    settings: Settings = request.app.state.settings
    if request.headers.get("authorization") is not None:
        if credentials is None or credentials.scheme.lower() != "bearer":
            raise Unauthenticated()
        if keys.is_api_key(credentials.credentials):
            return Caller(
                platform=await keys.authenticate(session, credentials.credentials, now=utcnow())
            )
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
        return Caller()
    user = await repository.get_by_id(session, user_id) if user_id else None
    if user is None or not user.is_active:
        raise Unauthenticated()
    return Caller(user=user)


CallerDep = Annotated[Caller, Depends(caller)]


async def optional_user(
    who: CallerDep,
    session: SessionDep,
    on_behalf_of: Annotated[
        str | None,
        Header(
            alias="X-On-Behalf-Of",
            description="With an API key: the learner to act for (usr_… or the platform's id)",
        ),
    ] = None,
) -> User | None:
    if who.platform is None:
        return who.user
    # Without X-On-Behalf-Of a key reads public endpoints as a visitor would.
    if not on_behalf_of:
        return None
    return await keys.learner_on_behalf(session, who.platform.platform, on_behalf_of)


async def current_user(
    who: CallerDep, user: Annotated[User | None, Depends(optional_user)]
) -> User:
    if user is None:
        raise keys.OnBehalfOfRequired() if who.platform is not None else Unauthenticated()
    return user


async def admin_user(who: CallerDep) -> User:
    if who.platform is not None:
        raise Forbidden(
            "API keys cannot use admin endpoints.", hint="Sign in with an admin account."
        )
    if who.user is None:
        raise Unauthenticated()
    if not who.user.is_admin:
        raise Forbidden("This needs an admin account.")
    return who.user


async def current_platform(who: CallerDep) -> PlatformCaller:
    if who.platform is not None:
        return who.platform
    if who.user is not None:
        raise Forbidden(
            "Only a platform's API key can use /platform endpoints, not a user's token.",
            hint="Send 'Authorization: Bearer ep_live_…'.",
        )
    raise Unauthenticated(
        "This endpoint needs a platform's API key.", hint="Send 'Authorization: Bearer ep_live_…'."
    )


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
CurrentPlatform = Annotated[PlatformCaller, Depends(current_platform)]
