"""Tokens in the links we email: password reset and email verification.

HS256 JWTs signed with SECRET_KEY, each kind with its own audience, so neither is ever accepted
as a learner token, a payment link or the other kind. Nothing is stored:
- a password-reset token (30 minutes) carries a fingerprint of the account's password hash at
  issue time; setting a password changes the hash, so every earlier token dies with it — the
  token is single use, and a reset also revokes links that are still in the inbox;
- a verification token (7 days) carries the address it was sent to, so after an email change
  it cannot verify the new address.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt

from enrollpay.auth.tokens import ALGORITHM, ISSUER
from enrollpay.config import Settings
from enrollpay.kit.clock import utcnow
from enrollpay.users.models import User

PASSWORD_RESET_AUDIENCE = "enrollpay:password-reset"
VERIFY_EMAIL_AUDIENCE = "enrollpay:verify-email"
PASSWORD_RESET_TTL = timedelta(minutes=30)
VERIFY_EMAIL_TTL = timedelta(days=7)
# Our tokens are a few hundred characters; anything much longer is not one of them.
TOKEN_MAX_LENGTH = 2048


@dataclass(frozen=True)
class IssuedToken:
    token: str
    issued_at: datetime
    expires_at: datetime


@dataclass(frozen=True)
class TokenClaims:
    user_id: str
    bound_to: str  # the password fingerprint, or the email address
    expires_at: datetime


def password_fingerprint(settings: Settings, password_hash: str | None) -> str:
    """Keyed, because a JWT's payload is readable: it reveals nothing about the hash. An
    account without a password (created by single sign-on) has a fingerprint too."""
    message = b"password-reset\x00" + (password_hash or "").encode()
    return hmac.new(settings.secret_key.encode(), message, hashlib.sha256).hexdigest()[:32]


def _issue(
    settings: Settings, audience: str, ttl: timedelta, user_id: str, bound_to: str
) -> IssuedToken:
    now = utcnow()
    expires_at = now + ttl
    claims = {
        "sub": user_id,
        "iss": ISSUER,
        "aud": audience,
        "iat": int(now.timestamp()),
        "exp": int(expires_at.timestamp()),
        "bnd": bound_to,
    }
    return IssuedToken(
        jwt.encode(claims, settings.secret_key, algorithm=ALGORITHM), now, expires_at
    )


def _decode(settings: Settings, audience: str, token: str) -> TokenClaims | None:
    if len(token) > TOKEN_MAX_LENGTH:
        return None
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            settings.secret_key,
            algorithms=[ALGORITHM],
            audience=audience,
            issuer=ISSUER,
            options={"require": ["sub", "exp", "iat", "iss", "aud", "bnd"]},
        )
    except jwt.PyJWTError:
        return None
    user_id, bound_to = claims.get("sub"), claims.get("bnd")
    if not isinstance(user_id, str) or not isinstance(bound_to, str):
        return None
    return TokenClaims(user_id, bound_to, datetime.fromtimestamp(claims["exp"], UTC))


def issue_password_reset_token(settings: Settings, user: User) -> IssuedToken:
    fingerprint = password_fingerprint(settings, user.password_hash)
    return _issue(settings, PASSWORD_RESET_AUDIENCE, PASSWORD_RESET_TTL, user.id, fingerprint)


def decode_password_reset_token(settings: Settings, token: str) -> TokenClaims | None:
    """The claims of an untampered, unexpired reset token; whether it is still unused is for
    the caller to check against the account (`password_reset_token_matches`)."""
    return _decode(settings, PASSWORD_RESET_AUDIENCE, token)


def password_reset_token_matches(settings: Settings, claims: TokenClaims, user: User) -> bool:
    fingerprint = password_fingerprint(settings, user.password_hash)
    return claims.user_id == user.id and hmac.compare_digest(claims.bound_to, fingerprint)


def issue_verify_email_token(settings: Settings, user: User) -> IssuedToken:
    return _issue(settings, VERIFY_EMAIL_AUDIENCE, VERIFY_EMAIL_TTL, user.id, user.email)


def decode_verify_email_token(settings: Settings, token: str) -> TokenClaims | None:
    return _decode(settings, VERIFY_EMAIL_AUDIENCE, token)
