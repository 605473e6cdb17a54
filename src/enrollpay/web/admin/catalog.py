"""The console's catalog: courses and coupons, listed and shown through the admin API's own
services; every change (create, edit, publish, archive, deactivate) is a form that admin.js
sends to that API, so the same validation and audit trail apply."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import Response

from enrollpay.config import Settings
from enrollpay.courses import repository as courses_repository
from enrollpay.courses import service as courses
from enrollpay.courses.models import CourseStatus
from enrollpay.courses.schemas import CourseAdminOut
from enrollpay.db.session import SessionDep
from enrollpay.errors import NotFound
from enrollpay.kit.clock import utcnow
from enrollpay.kit.money import to_minor
from enrollpay.kit.pagination import DEFAULT_LIMIT
from enrollpay.notifications.rendering import format_time
from enrollpay.pricing import service as pricing
from enrollpay.pricing.calculate import PriceBreakdown, calculate_price
from enrollpay.pricing.models import DiscountType
from enrollpay.pricing.schemas import CouponOut
from enrollpay.web.admin.pages import (
    AdminPageUser,
    admin_not_found,
    next_page_url,
    page_cursor,
    render_admin,
)
from enrollpay.web.templating import format_major_money

router = APIRouter()

COURSE_STATUSES = [status.value for status in CourseStatus]


@dataclass(frozen=True)
class Removal:
    """A button that clears optional fields (PATCH with null): the edit form leaves empty
    fields out, so it cannot clear anything itself."""

    label: str
    values: dict[str, str]  # field → its new value as JSON text ("null", "[]")


def _minor(amount: float, currency: str) -> int:
    return to_minor(Decimal(str(amount)), currency)


def learner_price(course: CourseAdminOut, settings: Settings, now: datetime) -> PriceBreakdown:
    """What a learner pays now without a coupon, with the one pricing function checkout uses."""
    discount = course.discount_price
    return calculate_price(
        price=_minor(course.price, course.currency),
        discount_price=_minor(discount, course.currency) if discount is not None else None,
        discount_starts_at=course.discount_starts_at,
        discount_ends_at=course.discount_ends_at,
        now=now,
        tax_rate=settings.TAX_RATE,
        tax_inclusive=settings.TAX_INCLUSIVE,
        currency=course.currency,
    )


def course_removals(course: CourseAdminOut) -> list[Removal]:
    removals = []
    if course.discount_price is not None or course.discount_starts_at or course.discount_ends_at:
        fields = ("discount_price", "discount_starts_at", "discount_ends_at")
        removals.append(Removal("Remove the discount", dict.fromkeys(fields, "null")))
    if course.prerequisites:
        removals.append(Removal("Remove the prerequisites", {"prerequisites": "[]"}))
    for name, label in (
        ("capacity", "Remove the seat limit"),
        ("enrollment_deadline", "Remove the enrollment deadline"),
        ("duration_weeks", "Remove the duration"),
        ("access_url", "Remove the access URL"),
        ("external_id", "Remove the external id"),
    ):
        if getattr(course, name) is not None:
            removals.append(Removal(label, {name: "null"}))
    return removals


def coupon_removals(coupon: CouponOut) -> list[Removal]:
    removals = []
    if coupon.course_ids:
        removals.append(Removal("Apply to every course", {"course_ids": "[]"}))
    for name, label in (
        ("valid_from", "Remove the start"),
        ("valid_until", "Remove the end"),
        ("max_redemptions", "Remove the redemption limit"),
        ("per_user_limit", "Remove the per-learner limit"),
        ("min_amount", "Remove the minimum amount"),
    ):
        if getattr(coupon, name) is not None:
            removals.append(Removal(label, {name: "null"}))
    return removals


def discount_label(coupon: CouponOut) -> str:
    if coupon.discount_type == DiscountType.percent:
        return f"{coupon.discount_value:g}% off"
    return f"{format_major_money(coupon.discount_value)} off"


def _tax_note(settings: Settings) -> str:
    percent = f"{settings.TAX_RATE * 100:.2f}".rstrip("0").rstrip(".")
    included = "included in" if settings.TAX_INCLUSIVE else "added to"
    return f"GST {percent}% is {included} the price."


# ---- courses ----------------------------------------------------------------------------------


@router.get("/admin/courses")
async def courses_page(
    request: Request,
    admin: AdminPageUser,
    session: SessionDep,
    status: str | None = None,
    cursor: str | None = None,
) -> Response:
    status_filter = CourseStatus(status) if status in COURSE_STATUSES else None
    now = utcnow()
    page = await courses.admin_page(
        session,
        status=status_filter,
        cursor=page_cursor(cursor, "crs"),
        limit=DEFAULT_LIMIT,
        now=now,
    )
    settings: Settings = request.app.state.settings
    context: dict[str, Any] = {
        "title": "Courses",
        "courses": page.items,
        "prices": {course.id: learner_price(course, settings, now) for course in page.items},
        "tax_note": _tax_note(settings),
        "status": status_filter.value if status_filter else "",
        "statuses": COURSE_STATUSES,
        "next_url": next_page_url(request, page.next_cursor),
        "format_time": format_time,
    }
    return render_admin(request, "admin/courses.html", context, user=admin)


@router.get("/admin/courses/{course_id}")
async def course_page(
    course_id: str, request: Request, admin: AdminPageUser, session: SessionDep
) -> Response:
    try:
        course = await courses.get_course_or_404(session, course_id)
    except NotFound:
        return admin_not_found(
            request, admin, "Course not found", back_url="/admin/courses", back_label="All courses"
        )
    now = utcnow()
    [view] = await courses.admin_views(session, [course], now=now)
    settings: Settings = request.app.state.settings
    context: dict[str, Any] = {
        "title": view.title,
        "course": view,
        "price": learner_price(view, settings, now),
        "tax_note": _tax_note(settings),
        "prerequisite_titles": await courses_repository.titles(session, view.prerequisites),
        "removals": course_removals(view),
        "statuses": COURSE_STATUSES,
        "format_time": format_time,
    }
    return render_admin(request, "admin/course.html", context, user=admin)


# ---- coupons ----------------------------------------------------------------------------------

ACTIVE_FILTERS = {"active": True, "inactive": False}


@router.get("/admin/coupons")
async def coupons_page(
    request: Request,
    admin: AdminPageUser,
    session: SessionDep,
    active: str | None = None,
    cursor: str | None = None,
) -> Response:
    page = await pricing.coupon_page(
        session,
        active=ACTIVE_FILTERS.get(active or ""),
        cursor=page_cursor(cursor, "cpn"),
        limit=DEFAULT_LIMIT,
    )
    context: dict[str, Any] = {
        "title": "Coupons",
        "coupons": page.items,
        "course_titles": await courses_repository.titles(
            session, {i for c in page.items for i in c.course_ids}
        ),
        "active": active if active in ACTIVE_FILTERS else "",
        "discount_label": discount_label,
        "next_url": next_page_url(request, page.next_cursor),
        "format_time": format_time,
    }
    return render_admin(request, "admin/coupons.html", context, user=admin)


@router.get("/admin/coupons/{coupon_id}")
async def coupon_page(
    coupon_id: str, request: Request, admin: AdminPageUser, session: SessionDep
) -> Response:
    try:
        coupon = await pricing.get_coupon_or_404(session, coupon_id)
    except NotFound:
        return admin_not_found(
            request, admin, "Coupon not found", back_url="/admin/coupons", back_label="All coupons"
        )
    [view] = await pricing.coupon_views(session, [coupon])
    context: dict[str, Any] = {
        "title": f"Coupon {view.code}",
        "coupon": view,
        "course_titles": await courses_repository.titles(session, view.course_ids),
        "removals": coupon_removals(view),
        "discount_label": discount_label,
        "format_time": format_time,
    }
    return render_admin(request, "admin/coupon.html", context, user=admin)
