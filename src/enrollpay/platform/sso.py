"""Single sign-on (SPEC §4.4): a platform-signed JWT exchanged for an enrollpay learner token.

The token's `iss` picks the platform (read unverified, only for that); everything else is checked
against that platform's configuration. The algorithm is the platform's, never the token's choice:
HS256 only with its shared secret, RS256 only with a key of its JWKS, so `alg: none` and an HS256
token "signed" with the RSA public key both fail. The learner is the platform's `sub`, created on
first use (platform/learners.py)."""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
import jwt
import structlog
from limits import parse
from pydantic import EmailStr, Field, TypeAdapter, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.auth.schemas import Phone
from enrollpay.errors import AppError, Forbidden
from enrollpay.platform import repository
from enrollpay.platform.learners import upsert_learner
from enrollpay.platform.models import Platform
from enrollpay.users.models import User

log = structlog.get_logger(__name__)

HS256 = "HS256"
RS256 = "RS256"
# Platform and enrollpay clocks drift a little; exp, nbf and iat get this much slack.
CLOCK_SKEW_LEEWAY_SECONDS = 30
# A sign-on token is minted for one exchange; a long-lived one is a session waiting to be stolen.
MAX_TOKEN_LIFETIME_SECONDS = 3600
TOKEN_MAX_LENGTH = 8192
EXTERNAL_ID_MAX_LENGTH = 200  # users.external_id
FULL_NAME_MAX_LENGTH = 200  # users.full_name

# Every exchange counts, generously: a platform's backend may exchange for all its learners
# from one address. Refused tokens count separately and tightly, so guessing is slow.
SSO_EXCHANGES_PER_IP = parse("600/minute")
SSO_FAILURES_PER_IP = parse("20/minute")

_EMAIL: TypeAdapter[str] = TypeAdapter(Annotated[EmailStr, Field(max_length=320)])
_PHONE: TypeAdapter[str | None] = TypeAdapter(Phone)


class InvalidSsoToken(AppError):
    status_code = 401
    code = "invalid_sso_token"
    message = "The single sign-on token is not valid."
    hint = (
        "Mint a new token signed with the platform's SSO key, with the iss and aud configured "
        "for the platform in enrollpay, sub, email, and an exp within the hour."
    )


class SsoUnavailable(AppError):
    status_code = 503
    code = "sso_unavailable"
    message = (
        "The platform's signing keys (JWKS) could not be fetched, so the token cannot be checked."
    )
    hint = "Try again shortly; if this persists, the platform's JWKS URL is down or misconfigured."


@dataclass(frozen=True)
class LearnerClaims:
    external_id: str
    email: str
    full_name: str
    phone: str | None


@dataclass(frozen=True)
class _KeySet:
    keys: dict[str, Any]  # kid → RSA public key
    fetched_at: float


class JwksCache:
    """RS256 public keys per JWKS URL, kept `max_age` seconds. A token naming a kid we do not
    have (a key rotation) refetches early, but one URL is fetched at most once per
    `min_fetch_interval`, so a flood of made-up kids cannot make us hammer the platform."""

    def __init__(
        self,
        *,
        max_age: float = 600.0,
        min_fetch_interval: float = 30.0,
        timeout: float = 5.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.max_age = max_age
        self.min_fetch_interval = min_fetch_interval
        self.timeout = timeout
        self.clock = clock
        self._key_sets: dict[str, _KeySet] = {}
        self._last_fetch_at: dict[str, float] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def public_key(self, url: str, kid: str) -> Any:
        if not self._has(url, kid):
            # One fetch per URL at a time; requests waiting on it use what it brought.
            async with self._locks.setdefault(url, asyncio.Lock()):
                if not self._has(url, kid):
                    await self._fetch_if_allowed(url)
        key_set = self._fresh_key_set(url)
        if key_set is None:  # the last fetch failed moments ago
            raise SsoUnavailable(headers=self._retry_after(url))
        key = key_set.keys.get(kid)
        if key is None:
            raise InvalidSsoToken(
                "The token's key id (kid) is not in the platform's JWKS. A key published in the "
                f"last {math.ceil(self.min_fetch_interval)} seconds may not be seen yet: publish "
                "a new key before signing with it."
            )
        return key

    def _fresh_key_set(self, url: str) -> _KeySet | None:
        key_set = self._key_sets.get(url)
        if key_set is None or self.clock() - key_set.fetched_at >= self.max_age:
            return None
        return key_set

    def _has(self, url: str, kid: str) -> bool:
        key_set = self._fresh_key_set(url)
        return key_set is not None and kid in key_set.keys

    def _retry_after(self, url: str) -> dict[str, str]:
        """Seconds until the next fetch of `url` is allowed, as a Retry-After header."""
        elapsed = self.clock() - self._last_fetch_at[url]
        return {"Retry-After": str(max(1, math.ceil(self.min_fetch_interval - elapsed)))}

    async def _fetch_if_allowed(self, url: str) -> None:
        now = self.clock()
        last = self._last_fetch_at.get(url)
        if last is not None and now - last < self.min_fetch_interval:
            return
        self._last_fetch_at[url] = now
        keys = await self._download(url)
        self._key_sets[url] = _KeySet(keys, now)

    async def _download(self, url: str) -> dict[str, Any]:
        try:
            async with httpx.AsyncClient(timeout=self.timeout) as client:
                response = await client.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("sso_jwks_fetch_failed", jwks_url=url, error=type(exc).__name__)
            raise SsoUnavailable(headers=self._retry_after(url)) from None
        keys = _rsa_signing_keys(document)
        if not keys:
            log.warning("sso_jwks_without_keys", jwks_url=url)
            raise SsoUnavailable(
                "The platform's JWKS has no usable RS256 signing key (RSA, with a kid).",
                headers=self._retry_after(url),
            )
        return keys


def _rsa_signing_keys(document: Any) -> dict[str, Any]:
    """kid → public key of each RSA signing key; other entries (encryption keys, other key
    types, keys without a kid) are skipped."""
    entries = document.get("keys") if isinstance(document, dict) else None
    keys: dict[str, Any] = {}
    for entry in entries if isinstance(entries, list) else []:
        if not isinstance(entry, dict) or entry.get("kty") != "RSA":
            continue
        kid = entry.get("kid")
        if not isinstance(kid, str) or entry.get("use", "sig") != "sig":
            continue
        if entry.get("alg", RS256) != RS256:
            continue
        try:
            keys[kid] = jwt.PyJWK(entry, algorithm=RS256).key
        except jwt.PyJWTError:
            continue
    return keys


jwks_cache = JwksCache()


def get_jwks_cache() -> JwksCache:
    """The process's JWKS cache (a dependency, so tests can give the endpoint their own)."""
    return jwks_cache


def sso_configured(platform: Platform) -> bool:
    has_key = bool(platform.sso_hs256_secret or platform.sso_jwks_url)
    return bool(platform.sso_issuer and platform.sso_audience and has_key)


async def platform_for_token(session: AsyncSession, token: str) -> Platform:
    """The platform named by the token's `iss`, read without verifying anything yet."""
    try:
        unverified = jwt.decode(token, options={"verify_signature": False})
    except jwt.PyJWTError:
        raise InvalidSsoToken("The token is not a well-formed JWT.") from None
    issuer = unverified.get("iss")
    if not isinstance(issuer, str) or not issuer:
        raise InvalidSsoToken("The token has no iss claim naming the platform that signed it.")
    platform = await repository.platform_by_sso_issuer(session, issuer)
    if platform is None or not platform.is_active or not sso_configured(platform):
        raise InvalidSsoToken(
            "Unknown issuer: no active platform has single sign-on set up with this iss."
        )
    return platform


async def verify_token(platform: Platform, token: str, jwks: JwksCache) -> LearnerClaims:
    """The learner a token of this platform vouches for, once signature and claims check out."""
    try:
        header = jwt.get_unverified_header(token)
        algorithm, key = await _verification_key(platform, header, jwks)
        claims = jwt.decode(
            token,
            key,
            algorithms=[algorithm],
            audience=platform.sso_audience,
            issuer=platform.sso_issuer,
            leeway=CLOCK_SKEW_LEEWAY_SECONDS,
            options={"require": ["exp", "iss", "aud", "sub"]},
        )
    except jwt.PyJWTError as exc:
        raise InvalidSsoToken(_refusal_message(exc)) from None
    issued_at = int(claims.get("iat", time.time()))
    if int(claims["exp"]) - issued_at > MAX_TOKEN_LIFETIME_SECONDS + CLOCK_SKEW_LEEWAY_SECONDS:
        raise InvalidSsoToken(
            "The token is valid for more than an hour (exp - iat); mint sign-on tokens that "
            "expire within minutes."
        )
    return _learner_claims(claims)


async def _verification_key(
    platform: Platform, header: dict[str, Any], jwks: JwksCache
) -> tuple[str, Any]:
    """The algorithm and key to verify with: the token's `alg` only selects among the methods
    the platform has configured, each tied to its own key."""
    algorithm = header.get("alg")
    if algorithm == RS256 and platform.sso_jwks_url:
        kid = header.get("kid")
        if not isinstance(kid, str) or not kid:
            raise InvalidSsoToken(
                "The token header has no kid naming the platform's JWKS key that signed it."
            )
        return RS256, await jwks.public_key(platform.sso_jwks_url, kid)
    if algorithm == HS256 and platform.sso_hs256_secret:
        return HS256, platform.sso_hs256_secret
    configured = ((HS256, platform.sso_hs256_secret), (RS256, platform.sso_jwks_url))
    accepted = " or ".join(name for name, setting in configured if setting)
    raise InvalidSsoToken(f"This platform's tokens must be signed with {accepted} (header alg).")


def _refusal_message(exc: jwt.PyJWTError) -> str:
    if isinstance(exc, jwt.ExpiredSignatureError):
        return "The token has expired (exp); mint a new one just before the exchange."
    if isinstance(exc, jwt.InvalidAudienceError):
        return "The token's audience (aud) is not the one set up for this platform."
    if isinstance(exc, jwt.ImmatureSignatureError):
        return "The token is not valid yet (nbf or iat is in the future); check the clock."
    if isinstance(exc, jwt.MissingRequiredClaimError):
        return f"The token has no {exc.claim} claim."
    if isinstance(exc, jwt.InvalidSignatureError):
        return "The token's signature does not verify with the platform's key."
    return f"The token could not be verified: {exc}"


def _learner_claims(claims: dict[str, Any]) -> LearnerClaims:
    external_id = claims["sub"]  # PyJWT checked it is a string
    if not external_id.strip() or len(external_id) > EXTERNAL_ID_MAX_LENGTH:
        raise InvalidSsoToken(
            f"The sub claim must be the learner's id on the platform, 1 to "
            f"{EXTERNAL_ID_MAX_LENGTH} characters."
        )
    if claims.get("email") is None:
        raise InvalidSsoToken("The token has no email claim; enrollpay needs the learner's email.")
    try:
        email = _EMAIL.validate_python(claims["email"])
    except ValidationError:
        raise InvalidSsoToken("The token's email claim is not a valid email address.") from None
    return LearnerClaims(
        external_id=external_id,
        email=email,
        full_name=_full_name(claims) or email.split("@", 1)[0],
        phone=_phone(claims.get("phone_number")),
    )


def _full_name(claims: dict[str, Any]) -> str:
    name = claims.get("name")
    if not isinstance(name, str) or not name.strip():
        parts = (claims.get("given_name"), claims.get("family_name"))
        name = " ".join(part.strip() for part in parts if isinstance(part, str) and part.strip())
    return name.strip()[:FULL_NAME_MAX_LENGTH]


def _phone(value: Any) -> str | None:
    """An optional claim: a number we cannot use is dropped rather than refusing the sign-in."""
    if value is None:
        return None
    try:
        return _PHONE.validate_python(value)
    except ValidationError:
        return None


async def sign_in_learner(session: AsyncSession, platform: Platform, claims: LearnerClaims) -> User:
    """The platform's learner, created on first sign-in and brought up to date on later ones."""
    learner, created = await upsert_learner(
        session,
        platform,
        external_id=claims.external_id,
        email=claims.email,
        full_name=claims.full_name,
        phone=claims.phone,
    )
    if not learner.is_active:
        raise Forbidden("This learner's enrollpay account is deactivated.")
    log.info(
        "sso_exchange",
        platform_id=platform.id,
        user_id=learner.id,
        outcome="created" if created else "updated",
    )
    return learner
