"""A platform's learners, found or created by the platform's own id for them (`external_id`):
the API keys' learner upsert and single sign-on both end here, so both treat an email the same.

An email already used by an account that is not this platform's learner with this external id
is refused (409 `email_taken`), never linked: a platform vouching for an address must not be
able to take over an account someone made here themselves."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.platform import repository
from enrollpay.platform.models import Platform
from enrollpay.users import repository as users_repository
from enrollpay.users.models import User
from enrollpay.users.service import EmailTaken, create_user


class PlatformEmailTaken(EmailTaken):
    message = "Another enrollpay account already uses this email."
    hint = (
        "That account was not created by this platform, so it cannot be linked to this "
        "external_id; use another email for this learner or ask the learner to sign in directly."
    )


async def upsert_learner(
    session: AsyncSession,
    platform: Platform,
    *,
    external_id: str,
    email: str,
    full_name: str,
    phone: str | None = None,
) -> tuple[User, bool]:
    """The platform's learner `external_id`, created or brought up to date; True if created."""
    learner = await repository.learner_by_external_id(session, platform.id, external_id)
    if learner is None:
        try:
            created = await create_user(
                session,
                email=email,
                password=None,  # they sign in through the platform
                full_name=full_name,
                phone=phone,
                platform_id=platform.id,
                external_id=external_id,
            )
            return created, True
        except EmailTaken:
            # The same learner created concurrently by another request, or someone else's email.
            learner = await repository.learner_by_external_id(session, platform.id, external_id)
            if learner is None:
                raise PlatformEmailTaken() from None
    email = users_repository.normalize_email(email)
    if learner.email != email:
        owner = await users_repository.get_by_email(session, email)
        if owner is not None and owner.id != learner.id:
            raise PlatformEmailTaken()
        learner.email = email
    learner.full_name = full_name
    if phone is not None:
        learner.phone = phone
    try:
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise PlatformEmailTaken() from None
    return learner, False
