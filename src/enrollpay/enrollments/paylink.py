"""The hosted payment page's link: `{PUBLIC_BASE_URL}/pay/{enrollment_id}?t=<token>`.

The token is an HS256 JWT (SECRET_KEY, its own audience, so it is never a learner token) naming
the enrollment, valid until the attempt's hold expires. Whoever holds the link may pay for that
enrollment — exactly what a link sent by email or handed to a platform's front end is for."""

from __future__ import annotations

from datetime import datetime, timedelta
from urllib.parse import quote

import jwt

from enrollpay.auth.tokens import ALGORITHM, ISSUER
from enrollpay.config import Settings

AUDIENCE = "enrollpay:pay"
# Accepted this long after the hold ends: a bank page finished at the last minute still gets its
# callback confirmed, and a late visit learns the hold ran out instead of "invalid link".
GRACE = timedelta(hours=24)


def payment_token(settings: Settings, enrollment_id: str, expires_at: datetime) -> str:
    claims = {
        "sub": enrollment_id,
        "iss": ISSUER,
        "aud": AUDIENCE,
        "exp": int(expires_at.timestamp()),
    }
    return jwt.encode(claims, settings.secret_key, algorithm=ALGORITHM)


def payment_url(settings: Settings, enrollment_id: str, expires_at: datetime) -> str:
    token = payment_token(settings, enrollment_id, expires_at)
    return f"{settings.PUBLIC_BASE_URL}/pay/{enrollment_id}?t={quote(token)}"


def token_allows(settings: Settings, token: str | None, enrollment_id: str) -> bool:
    """True for an untampered, unexpired token issued for this enrollment."""
    if not token:
        return False
    try:
        claims = jwt.decode(
            token,
            settings.secret_key,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            leeway=GRACE,
            options={"require": ["sub", "exp", "iss", "aud"]},
        )
    except jwt.PyJWTError:
        return False
    return claims.get("sub") == enrollment_id
