"""Admin view of what reconciliation repaired."""

from __future__ import annotations

from fastapi import APIRouter

from enrollpay.auth.dependencies import AdminUser
from enrollpay.db.session import SessionDep
from enrollpay.kit.money import to_major
from enrollpay.kit.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, checked_cursor
from enrollpay.reconciliation import repository
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
    rows = await repository.repairs(
        session, before_id=checked_cursor(cursor, "evt"), limit=limit + 1
    )
    page = rows[:limit]
    items = [
        RepairOut(
            id=event.id,
            enrollment_id=enrollment_id,
            payment_id=event.payment_id,
            razorpay_payment_id=event.razorpay_payment_id,
            status=event.status,
            amount=to_major(event.amount, event.currency),
            currency=event.currency,
            note=event.note,
            actions=event.actions,
            created_at=event.created_at,
        )
        for event, enrollment_id in page
    ]
    return Page[RepairOut](items=items, next_cursor=page[-1][0].id if len(rows) > limit else None)
