from __future__ import annotations

from fastapi import APIRouter

from enrollpay.auth.dependencies import CurrentUser
from enrollpay.courses.service import get_visible_course
from enrollpay.db.session import SessionDep
from enrollpay.enrollments import service
from enrollpay.enrollments.schemas import CourseAccess, ProgressUpdate
from enrollpay.errors import documented

router = APIRouter(tags=["enrollments"])


@router.get(
    "/courses/{course_id}/access",
    response_model=CourseAccess,
    summary="Whether the caller may open the course, and where to continue (PRD shape)",
)
async def course_access(course_id: str, user: CurrentUser, session: SessionDep) -> CourseAccess:
    course = await get_visible_course(session, course_id)
    enrollment = await service.enrolled_enrollment(session, user.id, course.id)
    return service.access_view(course, enrollment)


@router.put(
    "/courses/{course_id}/progress",
    response_model=CourseAccess,
    summary="Report the learner's progress in a course they are enrolled in (0-100)",
    responses={409: documented("invalid_state: not enrolled in this course")},
)
async def course_progress(
    course_id: str, body: ProgressUpdate, user: CurrentUser, session: SessionDep
) -> CourseAccess:
    course = await get_visible_course(session, course_id)
    return await service.set_progress(session, course, user.id, body.progress)
