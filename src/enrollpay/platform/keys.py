"""API keys (SPEC §4.4): issuing, revoking, authenticating, and the learner a key acts for.

A key is `ep_live_` + 32 random bytes (urlsafe base64). Only its SHA-256 digest is stored: 256
random bits need no slow hash, and looking the key up by its digest compares values the caller
cannot steer, so response times reveal nothing about how close a guess was."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.errors import BadRequest, Forbidden, NotFound, Unauthenticated
from enrollpay.kit.ids import has_prefix, new_id
from enrollpay.platform import repository
from enrollpay.platform.models import ApiKey, Platform
from enrollpay.users import repository as users_repository
from enrollpay.users.models import User

KEY_PREFIX = "ep_live_"
SHOWN_PREFIX_LENGTH = 12  # `ep_live_` + 4 characters: enough to tell a platform's keys apart
# last_used_at is kept to the minute: one write per key per minute, not one per request.
LAST_USED_PRECISION = timedelta(minutes=1)


class InvalidApiKey(Unauthenticated):
    code = "invalid_api_key"
    message = "This API key is not valid."
    hint = "Send 'Authorization: Bearer ep_live_…' with a key from an admin."


class OnBehalfOfRequired(BadRequest):
    code = "on_behalf_of_required"
    message = "With an API key, this endpoint needs the learner to act for: send X-On-Behalf-Of."
    hint = (
        "X-On-Behalf-Of takes the learner's enrollpay id (usr_…) or your platform's id for them "
        "(the external_id of PUT /api/v1/platform/learners/{external_id})."
    )


class LearnerNotFound(NotFound):
    code = "learner_not_found"
    message = "Your platform has no learner with the id in X-On-Behalf-Of."
    hint = "Create the learner first with PUT /api/v1/platform/learners/{external_id}."


@dataclass(frozen=True)
class PlatformCaller:
    """A request made with an API key."""

    api_key: ApiKey
    platform: Platform


@dataclass(frozen=True)
class IssuedKey:
    api_key: ApiKey
    key: str  # the full key: never stored, shown once


def is_api_key(token: str) -> bool:
    return token.startswith(KEY_PREFIX)


def key_digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


async def issue_key(
    session: AsyncSession, platform: Platform, *, name: str, created_by: str | None = None
) -> IssuedKey:
    key = KEY_PREFIX + secrets.token_urlsafe(32)
    api_key = ApiKey(
        id=new_id("key"),
        platform_id=platform.id,
        name=name,
        prefix=key[:SHOWN_PREFIX_LENGTH],
        secret_hash=key_digest(key),
        created_by=created_by,
    )
    session.add(api_key)
    await session.flush()
    return IssuedKey(api_key, key)


async def get_key_or_404(session: AsyncSession, key_id: str) -> ApiKey:
    api_key = await repository.get_api_key(session, key_id) if has_prefix(key_id, "key") else None
    if api_key is None:
        raise NotFound("No API key with this id.")
    return api_key


async def revoke_key(session: AsyncSession, key_id: str, *, now: datetime) -> ApiKey:
    """Calls with the key are refused from now on; revoking it again changes nothing."""
    api_key = await get_key_or_404(session, key_id)
    if api_key.revoked_at is None:
        api_key.revoked_at = now
    return api_key


async def authenticate(session: AsyncSession, key: str, *, now: datetime) -> PlatformCaller:
    found = await repository.api_key_by_digest(session, key_digest(key))
    if found is None:
        raise InvalidApiKey()
    api_key, platform = found
    if api_key.is_revoked:
        raise InvalidApiKey("This API key has been revoked.", hint="Ask an admin for a new key.")
    if not platform.is_active:
        raise InvalidApiKey(
            "This API key's platform is deactivated.",
            hint="An admin can reactivate the platform (PATCH /api/v1/admin/platforms/{id}).",
        )
    stale_before = now - LAST_USED_PRECISION
    if api_key.last_used_at is None or api_key.last_used_at < stale_before:
        await repository.mark_api_key_used(session, api_key.id, now=now, unless_since=stale_before)
    return PlatformCaller(api_key, platform)


async def learner_on_behalf(session: AsyncSession, platform: Platform, on_behalf_of: str) -> User:
    """The learner X-On-Behalf-Of names (our id or the platform's external id): one of this
    platform's own learners, active and not an admin."""
    if has_prefix(on_behalf_of, "usr"):
        learner = await users_repository.get_by_id(session, on_behalf_of)
    else:
        learner = await repository.learner_by_external_id(session, platform.id, on_behalf_of)
    # Someone else's account answers like an unknown one (SPEC §1.3): a platform cannot learn
    # which user ids exist by trying them.
    if learner is None or learner.platform_id != platform.id:
        raise LearnerNotFound()
    if learner.is_admin:
        raise Forbidden("A platform cannot act for an admin account.")
    if not learner.is_active:
        raise Forbidden("This learner's account is deactivated.")
    return learner
