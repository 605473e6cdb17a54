"""Admin routes: risk flags raised by velocity rules, and the payment-attempt audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from enrollpay.abuse import repository, service
from enrollpay.abuse.schemas import PaymentAttemptOut, RiskFlagOut
from enrollpay.admin.service import record_admin_action
from enrollpay.auth.dependencies import AdminUser
from enrollpay.db.session import SessionDep
from enrollpay.kit.clock import utcnow
from enrollpay.kit.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, checked_cursor

admin_router = APIRouter()


@admin_router.get(
    "/risk-flags",
    response_model=Page[RiskFlagOut],
    summary="Velocity rules that tripped, newest first (`reviewed=false` for the open ones)",
)
async def list_risk_flags(
    _admin: AdminUser,
    session: SessionDep,
    reviewed: bool | None = None,
    kind: Annotated[service.RiskKind | None, Query()] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[RiskFlagOut]:
    rows = await repository.list_flags(
        session,
        reviewed=reviewed,
        kind=kind.value if kind is not None else None,
        before_id=checked_cursor(cursor, "rsk"),
        limit=limit + 1,
    )
    page = rows[:limit]
    return Page[RiskFlagOut](
        items=[RiskFlagOut.model_validate(r) for r in page],
        next_cursor=page[-1].id if len(rows) > limit else None,
    )


@admin_router.post(
    "/risk-flags/{flag_id}/review",
    response_model=RiskFlagOut,
    summary="Mark a risk flag reviewed (repeating it keeps the first review)",
)
async def review_risk_flag(flag_id: str, admin: AdminUser, session: SessionDep) -> RiskFlagOut:
    now = utcnow()
    flag = await service.review_flag(session, flag_id, admin, now=now)
    if flag.reviewed_at == now:  # reviewed by this call, not an earlier one
        await record_admin_action(
            session,
            admin,
            "risk_flag.review",
            target_type="risk_flag",
            target_id=flag.id,
            details={"kind": flag.kind, "subject": flag.subject},
        )
    return RiskFlagOut.model_validate(flag)


@admin_router.get(
    "/payment-attempts",
    response_model=Page[PaymentAttemptOut],
    summary="The payment-attempt audit log (initialize, verify, retry), newest first",
)
async def list_payment_attempts(
    _admin: AdminUser,
    session: SessionDep,
    user_id: Annotated[str | None, Query(max_length=64)] = None,
    enrollment_id: Annotated[str | None, Query(max_length=64)] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[PaymentAttemptOut]:
    rows = await repository.list_attempts(
        session,
        user_id=user_id,
        enrollment_id=enrollment_id,
        before_id=checked_cursor(cursor, "pal"),
        limit=limit + 1,
    )
    page = rows[:limit]
    return Page[PaymentAttemptOut](
        items=[PaymentAttemptOut.model_validate(r) for r in page],
        next_cursor=page[-1].id if len(rows) > limit else None,
    )
