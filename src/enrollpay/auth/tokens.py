"""Learner access tokens: HS256 JWTs signed with SECRET_KEY.

Only HS256 is accepted on decode, so `alg: none` and algorithm-confusion tokens fail."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt

from enrollpay.config import Settings
from enrollpay.kit.clock import utcnow

ALGORITHM = "HS256"
ISSUER = "enrollpay"
AUDIENCE = "enrollpay:learner"
# Web UI session cookies: a token lifted from a cookie is not an API token, and vice versa.
SESSION_AUDIENCE = "enrollpay:web-session"


@dataclass(frozen=True)
class AccessToken:
    token: str
    expires_in: int
    expires_at: datetime


def issue_access_token(
    settings: Settings, user_id: str, *, audience: str = AUDIENCE
) -> AccessToken:
    now = utcnow()
    expires_at = now + timedelta(seconds=settings.ACCESS_TOKEN_TTL_SECONDS)
    claims = {
        "sub": user_id,
        "iss": ISSUER,
        "aud": audience,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
    }
    token = jwt.encode(claims, settings.secret_key, algorithm=ALGORITHM)
    return AccessToken(token, settings.ACCESS_TOKEN_TTL_SECONDS, expires_at)


def decode_access_token(settings: Settings, token: str, *, audience: str = AUDIENCE) -> str | None:
    """The user id of a valid token, or None for anything malformed, tampered or expired."""
    try:
        claims = jwt.decode(
            token,
            settings.secret_key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=ISSUER,
            options={"require": ["sub", "exp", "iat", "iss", "aud"]},
        )
    except jwt.PyJWTError:
        return None
    subject = claims.get("sub")
    return subject if isinstance(subject, str) else None
