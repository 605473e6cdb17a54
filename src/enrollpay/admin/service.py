"""Recording and listing admin actions."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.admin import repository
from enrollpay.admin.models import AdminAction
from enrollpay.admin.schemas import AdminActionOut
from enrollpay.kit.clock import utcnow
from enrollpay.kit.ids import new_id
from enrollpay.kit.pagination import Page, checked_cursor
from enrollpay.users.models import User


async def record_admin_action(
    session: AsyncSession,
    actor: User | None,
    action: str,
    *,
    target_type: str,
    target_id: str,
    enrollment_id: str | None = None,
    details: dict[str, Any] | None = None,
) -> AdminAction:
    """Add the action to the caller's transaction: it lands (or rolls back) with the change.
    `details` must be JSON-ready and hold no secrets (say which fields changed, not keys)."""
    row = AdminAction(
        id=new_id("adm"),
        actor_id=actor.id if actor is not None else None,
        action=action,
        target_type=target_type,
        target_id=target_id,
        enrollment_id=enrollment_id,
        details=details or {},
        created_at=utcnow(),
    )
    session.add(row)
    await session.flush()
    return row


async def list_actions(
    session: AsyncSession,
    *,
    actor_id: str | None = None,
    action: str | None = None,
    target_id: str | None = None,
    enrollment_id: str | None = None,
    cursor: str | None = None,
    limit: int,
) -> Page[AdminActionOut]:
    """The trail, newest first; `next_cursor` continues with older actions."""
    rows = await repository.list_actions(
        session,
        actor_id=actor_id,
        action=action,
        target_id=target_id,
        enrollment_id=enrollment_id,
        before_id=checked_cursor(cursor, "adm"),
        limit=limit + 1,
    )
    page = rows[:limit]
    return Page[AdminActionOut](
        items=[AdminActionOut.model_validate(row) for row in page],
        next_cursor=page[-1].id if len(rows) > limit else None,
    )
