"""Admin view of what reconciliation repaired."""

from __future__ import annotations

from fastapi import APIRouter

from enrollpay.auth.dependencies import AdminUser
from enrollpay.db.session import SessionDep
from enrollpay.kit.pagination import DEFAULT_LIMIT, Cursor, Limit, Page
from enrollpay.reconciliation import service
from enrollpay.reconciliation.schemas import RepairOut

admin_router = APIRouter(prefix="/reconciliation")


@admin_router.get(
    "/repairs",
    response_model=Page[RepairOut],
    summary="Gateway facts that only reconciliation found (lost webhooks, closed browsers)",
)
async def list_repairs(
    _: AdminUser, session: SessionDep, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> Page[RepairOut]:
    return await service.repair_page(session, cursor=cursor, limit=limit)
