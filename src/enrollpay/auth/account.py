"""Password reset and change, and email verification: the emails with their links, and what
the links do.

The request for a reset answers the same whether the account exists (no enumeration); both
kinds of request are rate-limited per address, and resets also per client IP. Services never
commit; the emails are queued in the caller's transaction (the outbox)."""

from __future__ import annotations

from enum import StrEnum
from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.auth.account_tokens import (
    TokenClaims,
    decode_password_reset_token,
    decode_verify_email_token,
    issue_password_reset_token,
    issue_verify_email_token,
    password_reset_token_matches,
)
from enrollpay.auth.passwords import hash_password
from enrollpay.auth.ratelimit import (
    ACCOUNT_EMAILS_PER_ADDRESS,
    ACCOUNT_EMAILS_PER_IP,
    LOGIN_FAILURES_PER_ACCOUNT,
    RateLimiter,
)
from enrollpay.auth.service import authenticate
from enrollpay.config import Settings
from enrollpay.errors import BadRequest, InvalidCredentials
from enrollpay.kit.clock import utcnow
from enrollpay.notifications.service import queue_email
from enrollpay.users import repository
from enrollpay.users.models import User

RESET_PASSWORD_PAGE = "/reset-password"
VERIFY_EMAIL_PAGE = "/verify-email"


class InvalidToken(BadRequest):
    code = "invalid_token"
    message = "This link is invalid, has expired or was already used."
    hint = "Ask for a new link: a password-reset link works once, for 30 minutes."


class WrongCurrentPassword(BadRequest):
    # 400, not login's 401: the caller is signed in, only the password they typed is wrong.
    code = InvalidCredentials.code
    message = "Your current password is incorrect."


class VerificationRequest(StrEnum):
    sent = "sent"
    already_verified = "already_verified"


def _link(settings: Settings, page: str, token: str) -> str:
    return f"{settings.PUBLIC_BASE_URL}{page}?token={quote(token, safe='')}"


# ---- password reset ---------------------------------------------------------------------------


async def request_password_reset(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    *,
    email: str,
    client_ip: str,
) -> None:
    """Email a reset link if the account exists; the caller answers the same either way.

    Every request counts against the limits, existing account or not, so a 429 tells nothing
    either."""
    account = repository.normalize_email(email)
    await limiter.consume(ACCOUNT_EMAILS_PER_IP, "password-reset-ip", client_ip)
    await limiter.consume(ACCOUNT_EMAILS_PER_ADDRESS, "password-reset-account", account)
    user = await repository.get_by_email(session, account)
    if user is None or not user.is_active:
        return
    issued = issue_password_reset_token(settings, user)
    await queue_email(
        session,
        settings=settings,
        kind="password_reset",
        to=user.email,
        context={
            "learner_name": user.full_name,
            "reset_url": _link(settings, RESET_PASSWORD_PAGE, issued.token),
            "expires_at": issued.expires_at,
        },
        # One email per request (a double submit within the same second sends one).
        dedupe_key=f"password_reset:{user.id}:{int(issued.issued_at.timestamp())}",
        user_id=user.id,
    )


async def user_for_reset_token(
    session: AsyncSession, settings: Settings, token: str
) -> tuple[User, TokenClaims]:
    """The account a still-usable reset token is for (locked), and the token's claims;
    InvalidToken otherwise."""
    claims = decode_password_reset_token(settings, token)
    user = await repository.get_for_update(session, claims.user_id) if claims else None
    if (
        claims is None
        or user is None
        or not user.is_active
        or not password_reset_token_matches(settings, claims, user)
    ):
        raise InvalidToken()
    return user, claims


async def reset_password(
    session: AsyncSession,
    settings: Settings,
    limiter: RateLimiter,
    *,
    token: str,
    new_password: str,
) -> User:
    """Set the password; the new hash makes this token and every earlier one unusable."""
    user, _ = await user_for_reset_token(session, settings, token)
    user.password_hash = hash_password(new_password)
    # Whoever locked the account out with wrong guesses should not lock its owner out now.
    await limiter.clear(LOGIN_FAILURES_PER_ACCOUNT, "login-account", user.email)
    return user


# ---- password change --------------------------------------------------------------------------


async def change_password(
    session: AsyncSession,
    limiter: RateLimiter,
    user: User,
    *,
    current_password: str,
    new_password: str,
    client_ip: str,
) -> None:
    """Set a new password once the current one checks out. The check is login's own, throttle
    included, so a borrowed session cannot guess the password faster than the login form."""
    try:
        await authenticate(
            session, limiter, email=user.email, password=current_password, client_ip=client_ip
        )
    except InvalidCredentials:
        raise WrongCurrentPassword() from None
    user.password_hash = hash_password(new_password)


# ---- email verification ---------------------------------------------------------------------


async def queue_verification_email(
    session: AsyncSession, settings: Settings, user: User, *, dedupe_key: str
) -> None:
    issued = issue_verify_email_token(settings, user)
    await queue_email(
        session,
        settings=settings,
        kind="email_verification",
        to=user.email,
        context={
            "learner_name": user.full_name,
            "verify_url": _link(settings, VERIFY_EMAIL_PAGE, issued.token),
        },
        dedupe_key=dedupe_key,
        user_id=user.id,
    )


async def send_signup_verification(session: AsyncSession, settings: Settings, user: User) -> None:
    await queue_verification_email(
        session, settings, user, dedupe_key=f"email_verification:{user.id}"
    )


async def request_email_verification(
    session: AsyncSession, settings: Settings, limiter: RateLimiter, user: User
) -> VerificationRequest:
    await limiter.consume(ACCOUNT_EMAILS_PER_ADDRESS, "verify-email-account", user.id)
    if user.email_verified:
        return VerificationRequest.already_verified
    now = int(utcnow().timestamp())
    await queue_verification_email(
        session, settings, user, dedupe_key=f"email_verification:{user.id}:{now}"
    )
    return VerificationRequest.sent


async def verify_email(session: AsyncSession, settings: Settings, token: str) -> User:
    """Mark the address verified; repeating it with the same link is harmless."""
    claims = decode_verify_email_token(settings, token)
    user = await repository.get_for_update(session, claims.user_id) if claims else None
    if claims is None or user is None or not user.is_active or user.email != claims.bound_to:
        raise InvalidToken()
    if user.email_verified_at is None:
        user.email_verified_at = utcnow()
    return user
