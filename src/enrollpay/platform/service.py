"""Managing platforms (admin API and CLI). Services never commit."""

from __future__ import annotations

from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.errors import Conflict, NotFound, field_problem, raise_field_problems
from enrollpay.kit.ids import has_prefix, new_id
from enrollpay.platform import repository
from enrollpay.platform.models import Platform
from enrollpay.platform.schemas import PlatformCreate, PlatformPatch


class PlatformNameTaken(Conflict):
    code = "platform_name_taken"
    message = "Another platform already has this name."


class SsoIssuerTaken(Conflict):
    code = "sso_issuer_taken"
    message = "Another platform already uses this sso_issuer."
    hint = "An issuer names exactly one platform, so its tokens cannot sign in elsewhere."


_SSO_FIELDS = ("sso_issuer", "sso_audience", "sso_hs256_secret", "sso_jwks_url")


def _check_sso(settings: dict[str, Any]) -> None:
    """The rules on the resulting SSO settings (a PATCH may change only some of them)."""
    problems = []
    if settings["sso_issuer"] is None:
        problems += [
            field_problem(name, "needs sso_issuer: single sign-on is off without an issuer")
            for name in _SSO_FIELDS[1:]
            if settings[name] is not None
        ]
    else:
        if settings["sso_audience"] is None:
            problems.append(field_problem("sso_audience", "required with sso_issuer"))
        if (settings["sso_hs256_secret"] is None) == (settings["sso_jwks_url"] is None):
            problems.append(
                field_problem(
                    "sso_hs256_secret",
                    "give exactly one of sso_hs256_secret (HS256) and sso_jwks_url (RS256)",
                )
            )
    raise_field_problems(problems)


async def _flush_unique(session: AsyncSession) -> None:
    try:
        # The unique indexes decide under concurrency, not a check-then-insert.
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        if "sso_issuer" in str(exc.orig):
            raise SsoIssuerTaken() from None
        if "name" in str(exc.orig):
            raise PlatformNameTaken() from None
        raise


async def get_platform_or_404(session: AsyncSession, platform_id: str) -> Platform:
    platform = (
        await repository.get_platform(session, platform_id)
        if has_prefix(platform_id, "plt")
        else None
    )
    if platform is None:
        raise NotFound("No platform with this id.")
    return platform


async def create_platform(session: AsyncSession, body: PlatformCreate) -> Platform:
    _check_sso(body.model_dump(include=set(_SSO_FIELDS)))
    platform = Platform(id=new_id("plt"), is_active=True, **body.model_dump())
    session.add(platform)
    await _flush_unique(session)
    return platform


async def update_platform(
    session: AsyncSession, platform: Platform, patch: PlatformPatch
) -> Platform:
    changes = patch.model_dump(include=patch.model_fields_set)
    _check_sso({name: changes.get(name, getattr(platform, name)) for name in _SSO_FIELDS})
    for name, value in changes.items():
        setattr(platform, name, value)
    await _flush_unique(session)
    return platform


async def platform_named(session: AsyncSession, name: str) -> tuple[Platform, bool]:
    """The platform with this name, created (without single sign-on) if missing; True if
    created. For the CLI, where naming the platform is simpler than knowing its id."""
    platform = await repository.platform_by_name(session, name)
    if platform is not None:
        return platform, False
    return await create_platform(session, PlatformCreate(name=name)), True
