"""Admin route: the audit trail of admin actions."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from enrollpay.admin import service
from enrollpay.admin.schemas import AdminActionOut
from enrollpay.auth.dependencies import AdminUser
from enrollpay.db.session import SessionDep
from enrollpay.kit.pagination import DEFAULT_LIMIT, Cursor, Limit, Page

admin_router = APIRouter()


@admin_router.get(
    "/audit-log",
    response_model=Page[AdminActionOut],
    summary="Admin actions, newest first (filter by actor, action, target or enrollment)",
)
async def list_admin_actions(
    _admin: AdminUser,
    session: SessionDep,
    actor_id: Annotated[str | None, Query(max_length=64)] = None,
    action: Annotated[str | None, Query(max_length=64)] = None,
    target_id: Annotated[str | None, Query(max_length=64)] = None,
    enrollment_id: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[AdminActionOut]:
    return await service.list_actions(
        session,
        actor_id=actor_id,
        action=action,
        target_id=target_id,
        enrollment_id=enrollment_id,
        cursor=cursor,
        limit=limit,
    )
