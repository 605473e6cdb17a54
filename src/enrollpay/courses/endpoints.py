"""Public catalog (`/courses`) and the admin catalog (`/admin/courses`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from enrollpay.admin.service import record_admin_action
from enrollpay.auth.dependencies import AdminUser, OptionalUser
from enrollpay.config import Settings
from enrollpay.courses import service
from enrollpay.courses.models import CourseStatus
from enrollpay.courses.schemas import (
    CourseAdminOut,
    CourseCreate,
    CourseDetailResponse,
    CourseOut,
    CoursePatch,
)
from enrollpay.db.session import SessionDep
from enrollpay.errors import documented
from enrollpay.kit.clock import utcnow
from enrollpay.kit.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, checked_cursor

router = APIRouter(tags=["courses"])
admin_router = APIRouter()


def _settings(request: Request) -> Settings:
    settings: Settings = request.app.state.settings
    return settings


@router.get(
    "/courses",
    response_model=Page[CourseOut],
    summary="Published courses; with a token, each says whether the caller can enroll",
)
async def list_courses(
    request: Request,
    session: SessionDep,
    user: OptionalUser,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[CourseOut]:
    return await service.catalog_page(
        session,
        _settings(request),
        user_id=user.id if user else None,
        cursor=checked_cursor(cursor, "crs"),
        limit=limit,
        now=utcnow(),
    )


@router.get(
    "/courses/{course_id}",
    response_model=CourseDetailResponse,
    summary="One course (PRD shape) with price breakdown and the caller's enrollment state",
    responses={404: documented("not_found: unknown or draft course")},
)
async def get_course(
    course_id: str, request: Request, session: SessionDep, user: OptionalUser
) -> CourseDetailResponse:
    course = await service.get_visible_course(session, course_id)
    [view] = await service.course_views(
        session, _settings(request), [course], user.id if user else None, now=utcnow()
    )
    return CourseDetailResponse(course=view)


# ---- admin ----------------------------------------------------------------------------------


@admin_router.get(
    "/courses", response_model=Page[CourseAdminOut], summary="All courses, any status"
)
async def admin_list_courses(
    _admin: AdminUser,
    session: SessionDep,
    status_filter: Annotated[CourseStatus | None, Query(alias="status")] = None,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[CourseAdminOut]:
    return await service.admin_page(
        session,
        status=status_filter,
        cursor=checked_cursor(cursor, "crs"),
        limit=limit,
        now=utcnow(),
    )


@admin_router.post(
    "/courses",
    status_code=status.HTTP_201_CREATED,
    response_model=CourseAdminOut,
    summary="Create a course (amounts in rupees)",
    responses={409: documented("external_id_taken")},
)
async def admin_create_course(
    body: CourseCreate, admin: AdminUser, session: SessionDep
) -> CourseAdminOut:
    course = await service.create_course(session, body)
    [view] = await service.admin_views(session, [course], now=utcnow())
    await record_admin_action(
        session,
        admin,
        "course.create",
        target_type="course",
        target_id=course.id,
        details=view.model_dump(mode="json", include=set(CourseCreate.model_fields)),
    )
    return view


@admin_router.get("/courses/{course_id}", response_model=CourseAdminOut, summary="One course")
async def admin_get_course(
    course_id: str, _admin: AdminUser, session: SessionDep
) -> CourseAdminOut:
    course = await service.get_course_or_404(session, course_id)
    [view] = await service.admin_views(session, [course], now=utcnow())
    return view


@admin_router.patch(
    "/courses/{course_id}",
    response_model=CourseAdminOut,
    summary="Change some fields of a course; fields left out keep their value",
    responses={409: documented("external_id_taken")},
)
async def admin_update_course(
    course_id: str, body: CoursePatch, admin: AdminUser, session: SessionDep
) -> CourseAdminOut:
    course = await service.get_course_or_404(session, course_id)
    [before] = await service.admin_views(session, [course], now=utcnow())
    course = await service.update_course(session, course, body)
    [view] = await service.admin_views(session, [course], now=utcnow())
    # The audit trail names what really changed, with the new values as the API shows them.
    sent = body.model_fields_set
    old = before.model_dump(mode="json", include=sent)
    changed = {k: v for k, v in view.model_dump(mode="json", include=sent).items() if old[k] != v}
    if changed:
        await record_admin_action(
            session,
            admin,
            "course.update",
            target_type="course",
            target_id=course.id,
            details=changed,
        )
    return view
