"""Login with throttling: the same answer for an unknown email and a wrong password."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.auth.passwords import verify_password
from enrollpay.auth.ratelimit import (
    LOGIN_FAILURES_PER_ACCOUNT,
    LOGIN_FAILURES_PER_IP,
    RateLimiter,
)
from enrollpay.errors import InvalidCredentials
from enrollpay.users import repository
from enrollpay.users.models import User


async def authenticate(
    session: AsyncSession, limiter: RateLimiter, *, email: str, password: str, client_ip: str
) -> User:
    account = repository.normalize_email(email)
    # Refuse before checking the password, so a throttled guesser learns nothing.
    await limiter.ensure_allowed(LOGIN_FAILURES_PER_IP, "login-ip", client_ip)
    await limiter.ensure_allowed(LOGIN_FAILURES_PER_ACCOUNT, "login-account", account)

    user = await repository.get_by_email(session, account)
    ok = verify_password(password, user.password_hash if user else None)
    if user is None or not ok or not user.is_active:
        await limiter.hit(LOGIN_FAILURES_PER_IP, "login-ip", client_ip)
        await limiter.hit(LOGIN_FAILURES_PER_ACCOUNT, "login-account", account)
        raise InvalidCredentials()
    await limiter.clear(LOGIN_FAILURES_PER_ACCOUNT, "login-account", account)
    return user
