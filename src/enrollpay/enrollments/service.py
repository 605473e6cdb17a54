"""What an enrollment gives the learner: access to the course and its progress."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.courses import repository as courses_repository
from enrollpay.courses.models import Course
from enrollpay.enrollments.models import Enrollment, EnrollmentStatus
from enrollpay.enrollments.schemas import CourseAccess
from enrollpay.errors import Conflict


class NotEnrolled(Conflict):
    code = "invalid_state"
    message = "You are not enrolled in this course."
    hint = "Progress can be reported once the enrollment is complete."


async def enrolled_enrollment(
    session: AsyncSession, user_id: str, course_id: str
) -> Enrollment | None:
    live = await courses_repository.live_enrollments_of_user(session, user_id, [course_id])
    enrollment = live.get(course_id)
    return enrollment if enrollment and enrollment.status == EnrollmentStatus.enrolled else None


def access_view(course: Course, enrollment: Enrollment | None) -> CourseAccess:
    if enrollment is None:
        return CourseAccess(
            has_access=False,
            enrollment_id=None,
            enrollment_date=None,
            course_progress=0,
            next_lesson_url=None,
        )
    return CourseAccess(
        has_access=True,
        enrollment_id=enrollment.id,
        enrollment_date=enrollment.enrolled_at,
        course_progress=enrollment.progress,
        # The host platform serves the lessons; access_url is where they start.
        next_lesson_url=course.access_url,
    )


async def set_progress(
    session: AsyncSession, course: Course, user_id: str, progress: int
) -> CourseAccess:
    enrollment = await enrolled_enrollment(session, user_id, course.id)
    if enrollment is None:
        raise NotEnrolled()
    enrollment.progress = progress
    return access_view(course, enrollment)
