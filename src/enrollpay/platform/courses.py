"""Course sync: the platform's course `external_id`, created or brought up to date through the
catalog's own create and update rules, so a synced course is validated like an admin's.

A synced course belongs to the platform that created it: another platform's key, or any key for
a course an admin made, cannot read or change it (external ids are unique across platforms)."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.courses import repository as courses_repository
from enrollpay.courses import service as courses_service
from enrollpay.courses.models import Course
from enrollpay.courses.schemas import CourseCreate, CoursePatch
from enrollpay.errors import NotFound
from enrollpay.platform.schemas import CourseSync


class NotYourCourse(courses_service.ExternalIdTaken):
    message = "A course your platform does not manage already has this external_id."
    hint = "Use another external_id for this course."


async def get_course_or_404(session: AsyncSession, platform_id: str, external_id: str) -> Course:
    course = await courses_repository.get_by_external_id(session, external_id)
    if course is None or course.platform_id != platform_id:
        raise NotFound("Your platform has no course with this external_id.")
    return course


async def sync_course(
    session: AsyncSession, platform_id: str, external_id: str, body: CourseSync
) -> tuple[Course, bool]:
    """The course, created or updated; True if created. Repeating a call changes nothing."""
    sent = body.model_dump(exclude_unset=True)
    course = await courses_repository.get_by_external_id(session, external_id)
    if course is None:
        try:
            created = await courses_service.create_course(
                session, CourseCreate(**sent, external_id=external_id)
            )
            created.platform_id = platform_id
            return created, True
        except courses_service.ExternalIdTaken:
            # A concurrent call created it first: update that one instead.
            course = await courses_repository.get_by_external_id(session, external_id)
            if course is None:
                raise
    if course.platform_id != platform_id:
        raise NotYourCourse()
    return await courses_service.update_course(session, course, CoursePatch(**sent)), False
