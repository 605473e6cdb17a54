"""Creating users (sign-up, admins from the CLI)."""

from __future__ import annotations

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.auth.passwords import hash_password
from enrollpay.errors import Conflict
from enrollpay.kit.ids import new_id
from enrollpay.users import repository
from enrollpay.users.models import Role, User


class EmailTaken(Conflict):
    code = "email_taken"
    message = "An account with this email already exists."
    hint = "Sign in instead, or reset the password."


async def create_user(
    session: AsyncSession,
    *,
    email: str,
    password: str | None,
    full_name: str,
    phone: str | None = None,
    role: Role = Role.learner,
    platform_id: str | None = None,
    external_id: str | None = None,
) -> User:
    user = User(
        id=new_id("usr"),
        email=repository.normalize_email(email),
        password_hash=hash_password(password) if password is not None else None,
        full_name=full_name,
        phone=phone,
        role=role,
        platform_id=platform_id,
        external_id=external_id,
    )
    try:
        # The unique index decides under concurrency, not a check-then-insert. Added inside
        # the savepoint: begin_nested() flushes what is pending first, outside it.
        async with session.begin_nested():
            session.add(user)
            await session.flush()
    except IntegrityError:
        raise EmailTaken() from None
    return user


async def create_or_promote_admin(
    session: AsyncSession, *, email: str, password: str, full_name: str
) -> tuple[User, bool]:
    """(user, created): an existing account becomes an admin with the given password."""
    user = await repository.get_by_email(session, email)
    if user is None:
        return await create_user(
            session, email=email, password=password, full_name=full_name, role=Role.admin
        ), True
    user.role = Role.admin
    user.password_hash = hash_password(password)
    user.is_active = True
    return user, False
