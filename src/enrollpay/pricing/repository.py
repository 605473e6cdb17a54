"""Every query on coupons, their course scope and the enrollments that hold them."""

from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import Literal

from sqlalchemy import and_, delete, func, insert, not_, select
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.enrollments.models import LIVE_STATUSES, Enrollment
from enrollpay.pricing.models import Coupon, CouponCourse


async def get_coupon(session: AsyncSession, coupon_id: str) -> Coupon | None:
    return await session.get(Coupon, coupon_id)


async def get_by_code(
    session: AsyncSession, normalized_code: str, *, for_update: bool = False
) -> Coupon | None:
    """`for_update` locks the coupon on PostgreSQL so that counting its holds and adding one is
    atomic (SPEC §3: never more redemptions than the limit); SQLite's BEGIN IMMEDIATE already
    serialises writers."""
    stmt = select(Coupon).where(Coupon.code == normalized_code)
    if for_update:
        stmt = stmt.with_for_update()
    result = await session.execute(stmt)
    return result.scalar_one_or_none()


async def list_coupons(
    session: AsyncSession, *, active: bool | None, after_id: str | None, limit: int
) -> list[Coupon]:
    stmt = select(Coupon).order_by(Coupon.id).limit(limit)
    if active is not None:
        stmt = stmt.where(Coupon.active.is_(active))
    if after_id is not None:
        stmt = stmt.where(Coupon.id > after_id)
    result = await session.execute(stmt)
    return list(result.scalars())


async def course_ids_of(session: AsyncSession, coupon_ids: Collection[str]) -> dict[str, list[str]]:
    """coupon id → the courses it is limited to (empty: every course)."""
    found: dict[str, list[str]] = {coupon_id: [] for coupon_id in coupon_ids}
    if not coupon_ids:
        return found
    result = await session.execute(
        select(CouponCourse.coupon_id, CouponCourse.course_id)
        .where(CouponCourse.coupon_id.in_(list(coupon_ids)))
        .order_by(CouponCourse.coupon_id, CouponCourse.course_id)
    )
    for coupon_id, course_id in result.all():
        found[coupon_id].append(course_id)
    return found


async def replace_course_ids(
    session: AsyncSession, coupon_id: str, course_ids: Sequence[str]
) -> None:
    await session.execute(delete(CouponCourse).where(CouponCourse.coupon_id == coupon_id))
    if course_ids:
        await session.execute(
            insert(CouponCourse),
            [{"coupon_id": coupon_id, "course_id": course_id} for course_id in course_ids],
        )


async def applies_to_course(session: AsyncSession, coupon_id: str, course_id: str) -> bool:
    """True when the coupon has no scope or its scope includes the course."""
    result = await session.execute(
        select(CouponCourse.course_id).where(CouponCourse.coupon_id == coupon_id)
    )
    scope = set(result.scalars())
    return not scope or course_id in scope


async def count_redemptions(session: AsyncSession, coupon_ids: Collection[str]) -> dict[str, int]:
    """Redemptions held per coupon: live enrollments carrying it."""
    counts = dict.fromkeys(coupon_ids, 0)
    if not coupon_ids:
        return counts
    result = await session.execute(
        select(Enrollment.coupon_id, func.count())
        .where(Enrollment.coupon_id.in_(list(coupon_ids)), Enrollment.status.in_(LIVE_STATUSES))
        .group_by(Enrollment.coupon_id)
    )
    for coupon_id, count in result.all():
        if coupon_id is not None:
            counts[coupon_id] = count
    return counts


async def reached_limit(
    session: AsyncSession, coupon: Coupon, *, user_id: str | None, course_id: str
) -> Literal["total", "per_user"] | None:
    """Which of the coupon's limits its live holds already fill, if any, leaving out the
    user's own live enrollment for the course (see `count_holds`). Call it with the coupon
    locked, inside the transaction that adds the hold."""
    own = (user_id, course_id) if user_id is not None else None
    if coupon.max_redemptions is not None:
        held = await count_holds(session, coupon.id, excluding_user_course=own)
        if held >= coupon.max_redemptions:
            return "total"
    if coupon.per_user_limit is not None and user_id is not None:
        held = await count_holds(session, coupon.id, user_id=user_id, excluding_user_course=own)
        if held >= coupon.per_user_limit:
            return "per_user"
    return None


async def count_holds(
    session: AsyncSession,
    coupon_id: str,
    *,
    user_id: str | None = None,
    excluding_user_course: tuple[str, str] | None = None,
) -> int:
    """Live enrollments holding the coupon, optionally only the user's.

    `excluding_user_course` leaves out the caller's own live enrollment for the course being
    priced: initialize reuses, retries or supersedes it, so it must not count against itself."""
    stmt = select(func.count()).where(
        Enrollment.coupon_id == coupon_id, Enrollment.status.in_(LIVE_STATUSES)
    )
    if user_id is not None:
        stmt = stmt.where(Enrollment.user_id == user_id)
    if excluding_user_course is not None:
        excluded_user, excluded_course = excluding_user_course
        stmt = stmt.where(
            not_(and_(Enrollment.user_id == excluded_user, Enrollment.course_id == excluded_course))
        )
    result = await session.execute(stmt)
    return int(result.scalar_one())
