"""The public catalog (`/`) and course pages (`/courses/{id}`) of the web UI (SPEC §5).

Both render the same views as the JSON API (`courses.service.course_views`), so the prices,
seats and reasons here are exactly what the API and initialize would say. The course page's
coupon field re-quotes through the quote API, and its Enroll button calls initialize with the
session cookie and X-CSRF-Token (static/course.js, through site.js's offline queue)."""

from __future__ import annotations

from urllib.parse import urlsplit

from fastapi import APIRouter, Request
from fastapi.responses import Response

from enrollpay.analytics import service as analytics
from enrollpay.analytics.service import VISITOR_COOKIE, VISITOR_COOKIE_MAX_AGE
from enrollpay.courses import service
from enrollpay.db.session import SessionDep
from enrollpay.demo import DEMO_ACCOUNTS, DEMO_COUPON_CODE
from enrollpay.errors import NotFound
from enrollpay.kit.clock import utcnow
from enrollpay.web.site import page_user, render

router = APIRouter(include_in_schema=False)

CATALOG_PAGE_SIZE = 100

# can_enroll_reason codes (courses/service.py) in words a learner understands.
REASONS = {
    "course_not_available": "This course is not open for enrollment.",
    "enrollment_closed": "Enrollment for this course has closed.",
    "already_enrolled": "You're already enrolled in this course.",
    "prerequisites_missing": "You need to complete the prerequisite courses first.",
    "course_full": "This course is full right now. Seats held by unfinished checkouts free up "
    "when they expire, so try again later.",
}


@router.get("/")
async def catalog(request: Request, session: SessionDep) -> Response:
    settings = request.app.state.settings
    user = await page_user(session, request)
    page = await service.catalog_page(
        session,
        settings,
        user_id=user.id if user else None,
        cursor=None,
        limit=CATALOG_PAGE_SIZE,
        now=utcnow(),
    )
    demo = (
        {"accounts": DEMO_ACCOUNTS, "coupon": DEMO_COUPON_CODE} if settings.sandbox_mode else None
    )
    return render(request, "site/catalog.html", {"courses": page.items, "demo": demo}, user=user)


@router.get("/courses/{course_id}")
async def course_page(course_id: str, request: Request, session: SessionDep) -> Response:
    user = await page_user(session, request)
    try:
        course = await service.get_visible_course(session, course_id)
    except NotFound:
        context = {"heading": "Course not found"}
        return render(request, "site/not_found.html", context, user=user, status_code=404)
    [view] = await service.course_views(
        session, request.app.state.settings, [course], user.id if user else None, now=utcnow()
    )
    reason = REASONS.get(view.can_enroll_reason or "", view.can_enroll_reason)
    config = {"course_id": view.id, "quote_url": f"/api/v1/courses/{view.id}/quote"}
    # The funnel's first step (analytics/service.py): a random visitor id, no personal data.
    visitor = analytics.visitor(user.id if user else None, request.cookies.get(VISITOR_COOKIE))
    await analytics.record_course_view(session, course_id=course.id, visitor=visitor, now=utcnow())
    response = render(
        request,
        "site/course.html",
        {"course": view, "reason": reason, "config": config},
        user=user,
    )
    if visitor.new_cookie is not None:
        response.set_cookie(
            VISITOR_COOKIE,
            visitor.new_cookie,
            max_age=VISITOR_COOKIE_MAX_AGE,
            httponly=True,
            secure=urlsplit(request.app.state.settings.PUBLIC_BASE_URL).scheme == "https",
            samesite="lax",
        )
    return response
