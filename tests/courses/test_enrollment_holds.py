"""SPEC §1.2: one live enrollment per learner and course, enforced by the database."""

from __future__ import annotations

import pytest
from sqlalchemy import update
from sqlalchemy.exc import IntegrityError

from enrollpay.enrollments.models import Enrollment, EnrollmentStatus
from tests.courses.factories import add_enrollment, create_course


async def test_a_second_live_enrollment_is_refused(client, db, admin_headers, make_user) -> None:
    user, _ = await make_user()
    for first in (EnrollmentStatus.pending, EnrollmentStatus.failed, EnrollmentStatus.enrolled):
        course = await create_course(client, admin_headers, title=f"Course {first}")
        await add_enrollment(db, user_id=user.id, course_id=course["id"], status=first)
        for second in (EnrollmentStatus.pending, EnrollmentStatus.enrolled):
            with pytest.raises(IntegrityError):
                await add_enrollment(db, user_id=user.id, course_id=course["id"], status=second)


async def test_final_states_do_not_block_a_new_attempt(
    client, db, admin_headers, make_user
) -> None:
    course = await create_course(client, admin_headers)
    other = await create_course(client, admin_headers, title="Other")
    user, _ = await make_user()
    for status in (EnrollmentStatus.expired, EnrollmentStatus.cancelled, EnrollmentStatus.refunded):
        await add_enrollment(db, user_id=user.id, course_id=course["id"], status=status)
    live = await add_enrollment(db, user_id=user.id, course_id=course["id"])
    await add_enrollment(db, user_id=user.id, course_id=other["id"])  # another course is fine

    # Moving the live one to a final state frees the slot again.
    async with db.transaction() as session:
        await session.execute(
            update(Enrollment).where(Enrollment.id == live).values(status=EnrollmentStatus.refunded)
        )
    await add_enrollment(
        db, user_id=user.id, course_id=course["id"], status=EnrollmentStatus.pending
    )


async def test_unknown_status_is_refused_by_the_database(
    client, db, admin_headers, make_user
) -> None:
    course = await create_course(client, admin_headers)
    user, _ = await make_user()
    with pytest.raises(IntegrityError):
        await add_enrollment(db, user_id=user.id, course_id=course["id"], status="deleted")  # type: ignore[arg-type]
