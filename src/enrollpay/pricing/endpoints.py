"""The price quote (`/courses/{id}/quote`) and admin coupons (`/admin/coupons`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from enrollpay.abuse import service as abuse
from enrollpay.admin.service import record_admin_action
from enrollpay.auth.dependencies import AdminUser, OptionalUser
from enrollpay.config import Settings
from enrollpay.courses.service import get_purchasable_course
from enrollpay.db.session import SessionDep
from enrollpay.errors import documented
from enrollpay.kit.client import client_ip
from enrollpay.kit.clock import utcnow
from enrollpay.kit.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, checked_cursor
from enrollpay.pricing import service
from enrollpay.pricing.schemas import CouponCreate, CouponOut, CouponPatch, QuoteOut

router = APIRouter(tags=["pricing"])
admin_router = APIRouter()


@router.get(
    "/courses/{course_id}/quote",
    response_model=QuoteOut,
    summary="Price breakdown with GST, optionally with a coupon (the amount initialize charges)",
    responses={
        400: documented("invalid_coupon, course_not_available (archived course)"),
        404: documented("not_found: unknown or draft course"),
        409: documented("coupon_exhausted: global or per-user limit reached"),
        429: documented("too_many_requests: too many refused coupon codes; see Retry-After"),
    },
)
async def quote(
    course_id: str,
    request: Request,
    session: SessionDep,
    user: OptionalUser,
    coupon_code: Annotated[str | None, Query(max_length=100)] = None,
) -> QuoteOut:
    settings: Settings = request.app.state.settings
    course = await get_purchasable_course(session, course_id)
    limiter = request.app.state.rate_limiter
    coupon_client = abuse.coupon_client(user.id if user else None, client_ip(request))
    if coupon_code:
        await abuse.guard_coupon(limiter, coupon_client)
    try:
        # The per-user limit is checked only when the caller is known.
        result = await service.quote_course(
            session,
            settings,
            course=course,
            coupon_code=coupon_code,
            user_id=user.id if user else None,
            now=utcnow(),
        )
    except service.InvalidCoupon:
        await abuse.count_bad_coupon(limiter, coupon_client)
        raise
    return QuoteOut.from_breakdown(
        result.breakdown,
        coupon_code=result.coupon_code,
        tax_rate=settings.TAX_RATE,
        tax_inclusive=settings.TAX_INCLUSIVE,
    )


# ---- admin ----------------------------------------------------------------------------------


@admin_router.get("/coupons", response_model=Page[CouponOut], summary="All coupons")
async def admin_list_coupons(
    _admin: AdminUser,
    session: SessionDep,
    active: bool | None = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[CouponOut]:
    return await service.coupon_page(
        session, active=active, cursor=checked_cursor(cursor, "cpn"), limit=limit
    )


@admin_router.post(
    "/coupons",
    status_code=status.HTTP_201_CREATED,
    response_model=CouponOut,
    summary="Create a coupon (flat amounts in rupees, percent as a number of percent)",
    responses={409: documented("coupon_code_taken (codes are case-insensitive)")},
)
async def admin_create_coupon(
    body: CouponCreate, admin: AdminUser, session: SessionDep
) -> CouponOut:
    coupon = await service.create_coupon(session, body)
    [view] = await service.coupon_views(session, [coupon])
    await record_admin_action(
        session,
        admin,
        "coupon.create",
        target_type="coupon",
        target_id=coupon.id,
        details=view.model_dump(mode="json", include=set(CouponCreate.model_fields)),
    )
    return view


@admin_router.get("/coupons/{coupon_id}", response_model=CouponOut, summary="One coupon")
async def admin_get_coupon(coupon_id: str, _admin: AdminUser, session: SessionDep) -> CouponOut:
    coupon = await service.get_coupon_or_404(session, coupon_id)
    [view] = await service.coupon_views(session, [coupon])
    return view


@admin_router.patch(
    "/coupons/{coupon_id}",
    response_model=CouponOut,
    summary="Change some fields of a coupon; fields left out keep their value",
    responses={409: documented("coupon_code_taken")},
)
async def admin_update_coupon(
    coupon_id: str, body: CouponPatch, admin: AdminUser, session: SessionDep
) -> CouponOut:
    coupon = await service.get_coupon_or_404(session, coupon_id)
    [before] = await service.coupon_views(session, [coupon])
    coupon = await service.update_coupon(session, coupon, body)
    [view] = await service.coupon_views(session, [coupon])
    # The audit trail names what really changed, with the new values as the API shows them.
    sent = body.model_fields_set
    old = before.model_dump(mode="json", include=sent)
    changed = {k: v for k, v in view.model_dump(mode="json", include=sent).items() if old[k] != v}
    if changed:
        await record_admin_action(
            session,
            admin,
            "coupon.update",
            target_type="coupon",
            target_id=coupon.id,
            details=changed,
        )
    return view
