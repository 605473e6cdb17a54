"""Refund routes: the learner's (`/enrollments/{id}/refund`) and the admin's
(`/admin/enrollments/{id}/refund`), and the admin lists of refunds and disputes.

The refund requests run their own transactions around the gateway call (see service.py):
201 when Razorpay has the refund, 202 when it is written but still to be sent (the job sends it).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse

from enrollpay.auth.dependencies import AdminOutsideTransaction, AdminUser, UserOutsideTransaction
from enrollpay.db.engine import Database
from enrollpay.db.session import SessionDep
from enrollpay.errors import documented
from enrollpay.kit.clock import utcnow
from enrollpay.kit.money import to_minor
from enrollpay.kit.pagination import DEFAULT_LIMIT, Cursor, Limit, Page
from enrollpay.metrics import metrics_of
from enrollpay.refunds import disputes, service
from enrollpay.refunds.models import RefundKind, RefundStatus
from enrollpay.refunds.schemas import (
    AdminRefundRequest,
    DisputeOut,
    LearnerRefundRequest,
    RefundOut,
    RefundResult,
)

router = APIRouter(tags=["refunds"])
admin_router = APIRouter()

REFUND_RESPONSES: dict[int | str, dict[str, Any]] = {
    202: {"model": RefundResult, "description": "Written, still to be sent to Razorpay"},
    400: documented("refund_not_allowed (message says why)"),
}


async def _finish(request: Request, refund_id: str) -> JSONResponse:
    db: Database = request.app.state.db
    refund = await service.submit(db, request.app.state.gateway, refund_id)
    async with db.transaction() as session:
        result = await service.refund_result(session, refund.id)
    status_code = 202 if result.status == RefundStatus.requested else 201
    return JSONResponse(result.model_dump(mode="json"), status_code=status_code)


@router.post(
    "/enrollments/{enrollment_id}/refund",
    status_code=201,
    response_model=RefundResult,
    summary="Refund the whole payment, inside the course's refund window",
    description=(
        "Access ends at once (`enrollment_status: refunded`); the money follows when Razorpay "
        "processes the refund, and an email says so."
    ),
    responses=REFUND_RESPONSES,
)
async def request_refund(
    request: Request,
    enrollment_id: str,
    body: LearnerRefundRequest,
    user: UserOutsideTransaction,
) -> JSONResponse:
    with metrics_of(request).operation("refund"):
        async with request.app.state.db.transaction() as session:
            refund = await service.request_learner_refund(
                session, user=user, enrollment_id=enrollment_id, reason=body.reason, now=utcnow()
            )
        return await _finish(request, refund.id)


@admin_router.post(
    "/enrollments/{enrollment_id}/refund",
    status_code=201,
    response_model=RefundResult,
    summary="Refund an enrollment's payment, fully or partly (amount in rupees), at any time",
    description=(
        "Without `amount`, everything not refunded yet. A refund that completes the capture "
        "ends the learner's access."
    ),
    responses=REFUND_RESPONSES,
)
async def admin_refund(
    request: Request,
    enrollment_id: str,
    body: AdminRefundRequest,
    admin: AdminOutsideTransaction,
) -> JSONResponse:
    amount = to_minor(body.amount) if body.amount is not None else None
    with metrics_of(request).operation("admin_refund"):
        async with request.app.state.db.transaction() as session:
            refund = await service.request_admin_refund(
                session, admin=admin, enrollment_id=enrollment_id, amount=amount, reason=body.reason
            )
        return await _finish(request, refund.id)


@admin_router.get("/refunds", response_model=Page[RefundOut], summary="Refunds, newest first")
async def admin_list_refunds(
    _admin: AdminUser,
    session: SessionDep,
    status: Annotated[RefundStatus | None, Query()] = None,
    kind: Annotated[RefundKind | None, Query()] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[RefundOut]:
    return await service.refund_page(session, status=status, kind=kind, cursor=cursor, limit=limit)


@admin_router.get(
    "/disputes", response_model=Page[DisputeOut], summary="Disputes (chargebacks), newest first"
)
async def admin_list_disputes(
    _admin: AdminUser,
    session: SessionDep,
    status: Annotated[str | None, Query(max_length=32)] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[DisputeOut]:
    return await disputes.dispute_page(session, status=status, cursor=cursor, limit=limit)
