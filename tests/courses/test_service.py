"""The service functions enrollment initialize builds on, called the way it will call them."""

from __future__ import annotations

import pytest

from enrollpay.courses import repository
from enrollpay.courses.service import (
    AlreadyEnrolled,
    CourseFull,
    PrerequisitesMissing,
    ensure_can_enroll,
)
from enrollpay.enrollments.models import EnrollmentStatus
from enrollpay.kit.clock import utcnow
from enrollpay.pricing.service import CouponExhausted, quote_course
from tests.courses.factories import add_enrollment, create_coupon, create_course


async def test_ensure_can_enroll_raises_initialize_errors(
    client, db, settings, admin_headers, make_user
) -> None:
    basics = await create_course(client, admin_headers, title="Basics", price=0)
    course = await create_course(client, admin_headers, prerequisites=[basics["id"]], capacity=1)
    user, _ = await make_user()
    other, _ = await make_user()

    async with db.transaction() as session:
        locked = await repository.get_course(session, course["id"], for_update=True)
        assert locked is not None
        with pytest.raises(PrerequisitesMissing) as missing:
            await ensure_can_enroll(session, locked, user.id, now=utcnow())
        assert missing.value.details == {"missing": [basics["id"]]}

    await add_enrollment(db, user_id=user.id, course_id=basics["id"])
    enrollment_id = await add_enrollment(db, user_id=user.id, course_id=course["id"])
    async with db.transaction() as session:
        locked = await repository.get_course(session, course["id"], for_update=True)
        assert locked is not None
        with pytest.raises(AlreadyEnrolled) as enrolled:
            await ensure_can_enroll(session, locked, user.id, now=utcnow())
        assert enrolled.value.details == {
            "enrollment_id": enrollment_id,
            "course_access_url": f"/api/v1/courses/{course['id']}/access",
        }

    await add_enrollment(db, user_id=other.id, course_id=basics["id"])
    async with db.transaction() as session:
        locked = await repository.get_course(session, course["id"], for_update=True)
        assert locked is not None
        with pytest.raises(CourseFull):
            await ensure_can_enroll(session, locked, other.id, now=utcnow())


async def test_quote_course_with_a_locked_coupon(
    client, db, settings, admin_headers, make_user
) -> None:
    course = await create_course(client, admin_headers, price=4999, discount_price=2999)
    coupon = await create_coupon(client, admin_headers, code="ONCE", max_redemptions=1)
    user, _ = await make_user()
    other, _ = await make_user()
    async with db.transaction() as session:
        locked = await repository.get_course(session, course["id"], for_update=True)
        assert locked is not None
        quote = await quote_course(
            session,
            settings,
            course=locked,
            coupon_code="once",
            user_id=user.id,
            now=utcnow(),
            lock_coupon=True,
        )
        assert quote.coupon is not None and quote.coupon_code == "ONCE"
        assert quote.breakdown.total_payable == 318494  # 2699.10 + 485.84 GST

    await add_enrollment(
        db,
        user_id=user.id,
        course_id=course["id"],
        coupon_id=coupon["id"],
        status=EnrollmentStatus.pending,
    )
    async with db.transaction() as session:
        locked = await repository.get_course(session, course["id"], for_update=True)
        assert locked is not None
        with pytest.raises(CouponExhausted):
            await quote_course(
                session,
                settings,
                course=locked,
                coupon_code="ONCE",
                user_id=other.id,
                now=utcnow(),
                lock_coupon=True,
            )
