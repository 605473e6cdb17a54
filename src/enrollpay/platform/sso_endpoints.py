"""`POST /auth/exchange`: a platform's single sign-on JWT for an enrollpay learner token."""

from __future__ import annotations

from typing import Annotated

import structlog
from fastapi import APIRouter, Depends, Request
from pydantic import Field

from enrollpay.auth.ratelimit import RateLimiter
from enrollpay.auth.schemas import StrictBody, TokenResponse
from enrollpay.auth.tokens import issue_access_token
from enrollpay.db.session import SessionDep
from enrollpay.errors import documented
from enrollpay.kit.client import client_ip as request_client_ip
from enrollpay.platform import sso
from enrollpay.platform.models import Platform
from enrollpay.users.schemas import UserOut

log = structlog.get_logger(__name__)

router = APIRouter(tags=["auth"])


class SsoExchangeRequest(StrictBody):
    token: str = Field(
        min_length=1,
        max_length=sso.TOKEN_MAX_LENGTH,
        description="A JWT the platform signed for the learner (HS256 or RS256, per platform)",
    )


@router.post(
    "/auth/exchange",
    response_model=TokenResponse,
    summary="Exchange a platform's single sign-on token for a learner access token",
    responses={
        401: documented("invalid_sso_token: unknown issuer, bad signature, expired, wrong aud…"),
        403: documented("forbidden: the learner's enrollpay account is deactivated"),
        409: documented("email_taken: the email belongs to an account the platform did not make"),
        429: documented("too_many_requests: too many exchanges or refused tokens; see Retry-After"),
        503: documented("sso_unavailable: the platform's JWKS could not be fetched"),
    },
)
async def exchange_sso_token(
    body: SsoExchangeRequest,
    request: Request,
    session: SessionDep,
    jwks: Annotated[sso.JwksCache, Depends(sso.get_jwks_cache)],
) -> TokenResponse:
    limiter: RateLimiter = request.app.state.rate_limiter
    client_ip = request_client_ip(request)
    await limiter.consume(sso.SSO_EXCHANGES_PER_IP, "sso-exchange-ip", client_ip)
    # Refuse before verifying, so a throttled guesser learns nothing.
    await limiter.ensure_allowed(sso.SSO_FAILURES_PER_IP, "sso-failure-ip", client_ip)
    platform: Platform | None = None
    try:
        platform = await sso.platform_for_token(session, body.token)
        # End the read transaction before a JWKS fetch: on SQLite every transaction holds the
        # write lock (BEGIN IMMEDIATE), and the platform's key server may take seconds.
        await session.commit()
        claims = await sso.verify_token(platform, body.token, jwks)
    except sso.InvalidSsoToken as refusal:
        await limiter.hit(sso.SSO_FAILURES_PER_IP, "sso-failure-ip", client_ip)
        log.info(
            "sso_exchange_refused",
            platform_id=platform.id if platform else None,
            reason=refusal.message,
        )
        raise
    learner = await sso.sign_in_learner(session, platform, claims)
    access = issue_access_token(request.app.state.settings, learner.id)
    return TokenResponse(
        user=UserOut.model_validate(learner),
        access_token=access.token,
        expires_in=access.expires_in,
    )
