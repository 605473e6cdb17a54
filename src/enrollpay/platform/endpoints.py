"""Platform routes: the admin's (`/admin/platforms`, `/admin/api-keys`) and the API key's own
(`/platform/learners`, `/platform/courses`). A key's calls for a learner go to the learner
endpoints with X-On-Behalf-Of (auth/dependencies.py)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Response, status

from enrollpay.admin.service import record_admin_action
from enrollpay.auth.dependencies import AdminUser, CurrentPlatform
from enrollpay.courses import service as courses_service
from enrollpay.courses.schemas import CourseAdminOut
from enrollpay.db.session import SessionDep
from enrollpay.errors import documented
from enrollpay.kit.clock import utcnow
from enrollpay.kit.pagination import DEFAULT_LIMIT, Cursor, Limit, Page, checked_cursor
from enrollpay.platform import courses, keys, learners, repository, service
from enrollpay.platform.schemas import (
    ApiKeyCreate,
    ApiKeyCreated,
    ApiKeyOut,
    CourseSync,
    LearnerOut,
    LearnerUpsert,
    PlatformCreate,
    PlatformOut,
    PlatformPatch,
)

router = APIRouter(tags=["platform"])
admin_router = APIRouter()

# `:path` so an external id may contain "/" (URNs, paths on the platform).
LearnerExternalIdPath = Annotated[
    str, Path(min_length=1, max_length=200, pattern=r"^[!-~]+$", description="The platform's id")
]
CourseExternalIdPath = Annotated[
    str, Path(min_length=1, max_length=128, pattern=r"^[!-~]+$", description="The platform's id")
]
UPSERT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "Updated"},
    201: {"description": "Created"},
}


def _created_or_updated(response: Response, created: bool) -> None:
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK


# ---- admin ----------------------------------------------------------------------------------


@admin_router.post(
    "/platforms",
    status_code=status.HTTP_201_CREATED,
    response_model=PlatformOut,
    summary="Register a course platform, optionally with single sign-on",
    responses={409: documented("platform_name_taken, sso_issuer_taken")},
)
async def admin_create_platform(
    body: PlatformCreate, admin: AdminUser, session: SessionDep
) -> PlatformOut:
    platform = await service.create_platform(session, body)
    await record_admin_action(
        session,
        admin,
        "platform.create",
        target_type="platform",
        target_id=platform.id,
        details={"name": platform.name, "sso_issuer": platform.sso_issuer},
    )
    return PlatformOut.of(platform)


@admin_router.get("/platforms", response_model=Page[PlatformOut], summary="All platforms")
async def admin_list_platforms(
    _admin: AdminUser, session: SessionDep, cursor: Cursor = None, limit: Limit = DEFAULT_LIMIT
) -> Page[PlatformOut]:
    rows = await repository.list_platforms(
        session, after_id=checked_cursor(cursor, "plt"), limit=limit + 1
    )
    page = rows[:limit]
    return Page[PlatformOut](
        items=[PlatformOut.of(p) for p in page],
        next_cursor=page[-1].id if len(rows) > limit else None,
    )


@admin_router.get("/platforms/{platform_id}", response_model=PlatformOut, summary="One platform")
async def admin_get_platform(
    platform_id: str, _admin: AdminUser, session: SessionDep
) -> PlatformOut:
    return PlatformOut.of(await service.get_platform_or_404(session, platform_id))


@admin_router.patch(
    "/platforms/{platform_id}",
    response_model=PlatformOut,
    summary="Change a platform; `is_active: false` refuses its keys and sign-ons at once",
    responses={409: documented("platform_name_taken, sso_issuer_taken")},
)
async def admin_update_platform(
    platform_id: str, body: PlatformPatch, admin: AdminUser, session: SessionDep
) -> PlatformOut:
    platform = await service.get_platform_or_404(session, platform_id)
    before = {name: getattr(platform, name) for name in body.model_fields_set}
    await service.update_platform(session, platform, body)
    # Field names only: the values may include the SSO shared secret.
    changed = sorted(name for name, value in before.items() if getattr(platform, name) != value)
    if changed:
        await record_admin_action(
            session,
            admin,
            "platform.update",
            target_type="platform",
            target_id=platform.id,
            details={"fields": changed},
        )
    return PlatformOut.of(platform)


@admin_router.post(
    "/platforms/{platform_id}/api-keys",
    status_code=status.HTTP_201_CREATED,
    response_model=ApiKeyCreated,
    summary="Create an API key; the key is in this answer only",
)
async def admin_create_api_key(
    platform_id: str,
    body: ApiKeyCreate,
    admin: AdminUser,
    session: SessionDep,
    response: Response,
) -> ApiKeyCreated:
    platform = await service.get_platform_or_404(session, platform_id)
    issued = await keys.issue_key(session, platform, name=body.name, created_by=admin.id)
    await record_admin_action(
        session,
        admin,
        "api_key.create",
        target_type="api_key",
        target_id=issued.api_key.id,
        details={"name": issued.api_key.name, "platform_id": platform.id},
    )
    response.headers["Cache-Control"] = "no-store"  # a secret: no cache may keep it
    return ApiKeyCreated(
        id=issued.api_key.id,
        platform_id=platform.id,
        name=issued.api_key.name,
        prefix=issued.api_key.prefix,
        key=issued.key,
        created_at=issued.api_key.created_at,
    )


@admin_router.get(
    "/platforms/{platform_id}/api-keys",
    response_model=Page[ApiKeyOut],
    summary="A platform's API keys, revoked ones included (never the keys themselves)",
)
async def admin_list_api_keys(
    platform_id: str,
    _admin: AdminUser,
    session: SessionDep,
    cursor: Cursor = None,
    limit: Limit = DEFAULT_LIMIT,
) -> Page[ApiKeyOut]:
    platform = await service.get_platform_or_404(session, platform_id)
    rows = await repository.list_api_keys(
        session, platform.id, after_id=checked_cursor(cursor, "key"), limit=limit + 1
    )
    page = rows[:limit]
    return Page[ApiKeyOut](
        items=[ApiKeyOut.model_validate(k) for k in page],
        next_cursor=page[-1].id if len(rows) > limit else None,
    )


@admin_router.post(
    "/api-keys/{key_id}/revoke",
    response_model=ApiKeyOut,
    summary="Revoke an API key at once (revoking it again changes nothing)",
)
async def admin_revoke_api_key(key_id: str, admin: AdminUser, session: SessionDep) -> ApiKeyOut:
    now = utcnow()
    api_key = await keys.revoke_key(session, key_id, now=now)
    if api_key.revoked_at == now:  # revoked by this call, not an earlier one
        await record_admin_action(
            session,
            admin,
            "api_key.revoke",
            target_type="api_key",
            target_id=api_key.id,
            details={"name": api_key.name, "platform_id": api_key.platform_id},
        )
    return ApiKeyOut.model_validate(api_key)


# ---- API keys -------------------------------------------------------------------------------


@router.put(
    "/platform/learners/{external_id:path}",
    response_model=LearnerOut,
    summary="Create or update one of the platform's learners by the platform's id for them",
    responses={
        **UPSERT_RESPONSES,
        409: documented("email_taken: an account this platform did not create uses the email"),
    },
)
async def upsert_learner(
    external_id: LearnerExternalIdPath,
    body: LearnerUpsert,
    caller: CurrentPlatform,
    session: SessionDep,
    response: Response,
) -> LearnerOut:
    learner, created = await learners.upsert_learner(
        session,
        caller.platform,
        external_id=external_id,
        email=str(body.email),
        full_name=body.full_name,
        phone=body.phone,
    )
    _created_or_updated(response, created)
    return LearnerOut.model_validate(learner)


@router.get(
    "/platform/learners/{external_id:path}",
    response_model=LearnerOut,
    summary="One of the platform's learners",
    responses={404: documented("learner_not_found")},
)
async def get_learner(
    external_id: LearnerExternalIdPath, caller: CurrentPlatform, session: SessionDep
) -> LearnerOut:
    learner = await repository.learner_by_external_id(session, caller.platform.id, external_id)
    if learner is None:
        raise keys.LearnerNotFound("Your platform has no learner with this external_id.")
    return LearnerOut.model_validate(learner)


@router.put(
    "/platform/courses/{external_id:path}",
    response_model=CourseAdminOut,
    summary="Create or update a course by the platform's id for it (amounts in rupees)",
    responses=UPSERT_RESPONSES,
)
async def sync_course(
    external_id: CourseExternalIdPath,
    body: CourseSync,
    caller: CurrentPlatform,
    session: SessionDep,
    response: Response,
) -> CourseAdminOut:
    course, created = await courses.sync_course(session, caller.platform.id, external_id, body)
    _created_or_updated(response, created)
    [view] = await courses_service.admin_views(session, [course], now=utcnow())
    return view


@router.get(
    "/platform/courses/{external_id:path}",
    response_model=CourseAdminOut,
    summary="A course by the platform's id for it, any status",
)
async def get_course(
    external_id: CourseExternalIdPath, caller: CurrentPlatform, session: SessionDep
) -> CourseAdminOut:
    course = await courses.get_course_or_404(session, caller.platform.id, external_id)
    [view] = await courses_service.admin_views(session, [course], now=utcnow())
    return view
