"""Coupon rules, pricing a course for a learner, and the admin side of coupons.

`validate_coupon` and `quote_course` are what enrollment initialize calls too: one set of rules
for what the learner is shown and what the gateway charges. Services never commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.config import Settings
from enrollpay.courses import repository as courses_repository
from enrollpay.courses.models import Course
from enrollpay.errors import (
    BadRequest,
    Conflict,
    NotFound,
    field_problem,
    raise_field_problems,
)
from enrollpay.kit.clock import utcnow
from enrollpay.kit.ids import has_prefix, new_id
from enrollpay.kit.money import to_major, to_minor
from enrollpay.kit.pagination import Page
from enrollpay.pricing import repository
from enrollpay.pricing.calculate import (
    CouponTerms,
    PriceBreakdown,
    calculate_price,
    discount_is_active,
)
from enrollpay.pricing.models import (
    BASIS_POINTS_PER_PERCENT,
    FULL_PERCENT_BP,
    Coupon,
    DiscountType,
)
from enrollpay.pricing.schemas import (
    COUPON_CODE_PATTERN,
    CouponCreate,
    CouponOut,
    CouponPatch,
    normalize_coupon_code,
)


class InvalidCoupon(BadRequest):
    # One message for unknown, inactive, expired, not yet valid, out of scope and below the
    # minimum: a different answer per reason would let anyone probe which codes exist.
    code = "invalid_coupon"
    message = "This coupon code is not valid for this course."
    hint = "Check the code, or continue without a coupon."


class CouponExhausted(Conflict):
    code = "coupon_exhausted"
    message = "This coupon has reached its redemption limit."
    hint = "Continue without the coupon, or try another one."


class CouponCodeTaken(Conflict):
    code = "coupon_code_taken"
    message = "A coupon with this code already exists (codes are case-insensitive)."


# ---- learner side ---------------------------------------------------------------------------


def terms_of(coupon: Coupon) -> CouponTerms:
    return CouponTerms(DiscountType(coupon.discount_type), coupon.discount_value)


def course_discounted_price(course: Course, now: datetime) -> int:
    """The price after the course's own discount, before coupon and tax (min_amount's basis)."""
    if discount_is_active(
        course.discount_price, course.discount_starts_at, course.discount_ends_at, now
    ):
        assert course.discount_price is not None
        return min(max(course.discount_price, 0), course.price)
    return course.price


async def validate_coupon(
    session: AsyncSession,
    *,
    course: Course,
    code: str,
    user_id: str | None,
    now: datetime,
    lock: bool = False,
) -> Coupon:
    """The coupon for `code` if it may be used on `course` by `user_id` now.

    400 `invalid_coupon` (one message) for every reason the code is unusable; 409
    `coupon_exhausted` when the global or per-user limit is reached, counting live enrollments.
    The caller's own live enrollment for this course is not counted: initialize reuses,
    retries or supersedes it. Pass `lock=True` inside the transaction that will add a hold, so
    the count and the new hold cannot interleave with another request's."""
    normalized = normalize_coupon_code(code)
    if not COUPON_CODE_PATTERN.match(normalized):
        raise InvalidCoupon()
    coupon = await repository.get_by_code(session, normalized, for_update=lock)
    if coupon is None or not coupon.active:
        raise InvalidCoupon()
    if coupon.valid_from is not None and now < coupon.valid_from:
        raise InvalidCoupon()
    if coupon.valid_until is not None and now >= coupon.valid_until:
        raise InvalidCoupon()
    if not await repository.applies_to_course(session, coupon.id, course.id):
        raise InvalidCoupon()
    if coupon.min_amount is not None and course_discounted_price(course, now) < coupon.min_amount:
        raise InvalidCoupon()

    match await repository.reached_limit(session, coupon, user_id=user_id, course_id=course.id):
        case "total":
            raise CouponExhausted()
        case "per_user":
            raise CouponExhausted("You have already used this coupon as often as it allows.")
    return coupon


def price_course(
    course: Course, settings: Settings, *, now: datetime, coupon: Coupon | None = None
) -> PriceBreakdown:
    """The breakdown for `course` now, with an already validated coupon (or none)."""
    breakdown = calculate_price(
        price=course.price,
        discount_price=course.discount_price,
        discount_starts_at=course.discount_starts_at,
        discount_ends_at=course.discount_ends_at,
        now=now,
        tax_rate=settings.TAX_RATE,
        tax_inclusive=settings.TAX_INCLUSIVE,
        coupon=terms_of(coupon) if coupon is not None else None,
        currency=course.currency,
    )
    if breakdown.below_gateway_minimum:
        # Only a coupon can get here (admin prices are 0 or ≥ ₹1.00): Razorpay cannot charge
        # under ₹1.00, and silently making it free would give the course away.
        raise InvalidCoupon()
    return breakdown


@dataclass(frozen=True)
class Quote:
    breakdown: PriceBreakdown
    coupon: Coupon | None

    @property
    def coupon_code(self) -> str | None:
        return self.coupon.code if self.coupon is not None else None


async def quote_course(
    session: AsyncSession,
    settings: Settings,
    *,
    course: Course,
    coupon_code: str | None,
    user_id: str | None,
    now: datetime,
    lock_coupon: bool = False,
) -> Quote:
    """Validate the coupon (if any) and price the course: the quote endpoint and initialize.

    The course's availability (published, deadline, seats) is the caller's concern."""
    coupon = None
    if coupon_code is not None and coupon_code.strip():
        coupon = await validate_coupon(
            session, course=course, code=coupon_code, user_id=user_id, now=now, lock=lock_coupon
        )
    return Quote(price_course(course, settings, now=now, coupon=coupon), coupon)


# ---- admin side -----------------------------------------------------------------------------


async def get_coupon_or_404(session: AsyncSession, coupon_id: str) -> Coupon:
    coupon = (
        await repository.get_coupon(session, coupon_id) if has_prefix(coupon_id, "cpn") else None
    )
    if coupon is None:
        raise NotFound("No coupon with this id.")
    return coupon


def _stored_value(discount_type: DiscountType, value: Decimal) -> int:
    # Percent → basis points, flat → paise: both are "two decimals as an integer".
    if discount_type == DiscountType.percent:
        return int(value.scaleb(2))
    return to_minor(value)


def _shown_value(coupon: Coupon) -> float:
    if coupon.discount_type == DiscountType.percent:
        return coupon.discount_value / BASIS_POINTS_PER_PERCENT
    return to_major(coupon.discount_value)


async def _check_course_ids(
    session: AsyncSession, course_ids: Sequence[str], problems: list[dict[str, str]]
) -> list[str]:
    unique = list(dict.fromkeys(course_ids))
    existing = await courses_repository.existing_ids(
        session, [i for i in unique if has_prefix(i, "crs")]
    )
    for index, course_id in enumerate(course_ids):
        if course_id not in existing:
            problems.append(
                field_problem(f"course_ids.{index}", f"no course with id {course_id!r}")
            )
    return unique


def _check_coupon_rules(coupon: Coupon, problems: list[dict[str, str]]) -> None:
    """Rules across fields, checked on the merged state (a PATCH may send only one side)."""
    if coupon.discount_type == DiscountType.percent and coupon.discount_value > FULL_PERCENT_BP:
        problems.append(field_problem("discount_value", "a percent discount is at most 100"))
    if (
        coupon.valid_from is not None
        and coupon.valid_until is not None
        and coupon.valid_until <= coupon.valid_from
    ):
        problems.append(field_problem("valid_until", "must be after valid_from"))


async def _flush_unique_code(session: AsyncSession) -> None:
    try:
        # The unique index decides under concurrency, not a check-then-insert.
        async with session.begin_nested():
            await session.flush()
    except IntegrityError:
        raise CouponCodeTaken() from None


async def create_coupon(session: AsyncSession, body: CouponCreate) -> Coupon:
    problems: list[dict[str, str]] = []
    coupon = Coupon(
        id=new_id("cpn"),
        code=body.code,
        discount_type=body.discount_type,
        discount_value=_stored_value(body.discount_type, body.discount_value),
        valid_from=body.valid_from,
        valid_until=body.valid_until,
        max_redemptions=body.max_redemptions,
        per_user_limit=body.per_user_limit,
        min_amount=to_minor(body.min_amount) if body.min_amount is not None else None,
        active=body.active,
    )
    _check_coupon_rules(coupon, problems)
    course_ids = await _check_course_ids(session, body.course_ids, problems)
    raise_field_problems(problems)
    session.add(coupon)
    await _flush_unique_code(session)
    await repository.replace_course_ids(session, coupon.id, course_ids)
    return coupon


async def update_coupon(session: AsyncSession, coupon: Coupon, patch: CouponPatch) -> Coupon:
    sent = patch.model_fields_set
    problems: list[dict[str, str]] = []
    changes: dict[str, Any] = {}
    for name in (
        "code",
        "valid_from",
        "valid_until",
        "max_redemptions",
        "per_user_limit",
        "active",
    ):
        if name in sent:
            changes[name] = getattr(patch, name)
    if "min_amount" in sent:
        changes["min_amount"] = to_minor(patch.min_amount) if patch.min_amount is not None else None
    discount_type = DiscountType(patch.discount_type or coupon.discount_type)
    if "discount_type" in sent:
        changes["discount_type"] = discount_type
    if "discount_value" in sent:
        assert patch.discount_value is not None
        changes["discount_value"] = _stored_value(discount_type, patch.discount_value)

    # Validate a detached copy of the merged state, so a refused PATCH changes nothing.
    merged = Coupon(
        discount_type=changes.get("discount_type", coupon.discount_type),
        discount_value=changes.get("discount_value", coupon.discount_value),
        valid_from=changes.get("valid_from", coupon.valid_from),
        valid_until=changes.get("valid_until", coupon.valid_until),
    )
    _check_coupon_rules(merged, problems)
    course_ids = None
    if "course_ids" in sent:
        assert patch.course_ids is not None
        course_ids = await _check_course_ids(session, patch.course_ids, problems)
    raise_field_problems(problems)

    for name, value in changes.items():
        setattr(coupon, name, value)
    if changes or course_ids is not None:
        coupon.updated_at = utcnow()
        # Flush before any other statement: autoflush would raise the duplicate code unnamed.
        await _flush_unique_code(session)
    if course_ids is not None:
        await repository.replace_course_ids(session, coupon.id, course_ids)
    return coupon


async def coupon_views(session: AsyncSession, coupons: Sequence[Coupon]) -> list[CouponOut]:
    ids = [coupon.id for coupon in coupons]
    scopes = await repository.course_ids_of(session, ids)
    redemptions = await repository.count_redemptions(session, ids)
    return [
        CouponOut(
            id=coupon.id,
            code=coupon.code,
            discount_type=DiscountType(coupon.discount_type),
            discount_value=_shown_value(coupon),
            course_ids=scopes[coupon.id],
            valid_from=coupon.valid_from,
            valid_until=coupon.valid_until,
            max_redemptions=coupon.max_redemptions,
            per_user_limit=coupon.per_user_limit,
            min_amount=to_major(coupon.min_amount) if coupon.min_amount is not None else None,
            active=coupon.active,
            redemptions=redemptions[coupon.id],
            created_at=coupon.created_at,
            updated_at=coupon.updated_at,
        )
        for coupon in coupons
    ]


async def coupon_page(
    session: AsyncSession, *, active: bool | None, cursor: str | None, limit: int
) -> Page[CouponOut]:
    rows = await repository.list_coupons(session, active=active, after_id=cursor, limit=limit + 1)
    page = rows[:limit]
    next_cursor = page[-1].id if len(rows) > limit else None
    return Page[CouponOut](items=await coupon_views(session, page), next_cursor=next_cursor)
