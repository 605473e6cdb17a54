"""The signed-in learner's own pages (SPEC §5): "My courses" (`/my/courses`) and the account
(`/account`).

They show the API's own views and rules: the list is `enrollments.service.enrollment_page`,
"Try again" follows `retry_allowed` and the refund offer `learner_refund_deadline`, so a button
appears exactly when the API would accept it. The buttons call the JSON API with the session
cookie and X-CSRF-Token (static/learner.js): cancel, refund, verification email, password."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import RedirectResponse, Response

from enrollpay.auth.schemas import PASSWORD_MAX_LENGTH, PASSWORD_MIN_LENGTH
from enrollpay.courses import repository as courses_repository
from enrollpay.courses.models import Course, CourseStatus
from enrollpay.db.session import SessionDep
from enrollpay.enrollments import repository as enrollments_repository
from enrollpay.enrollments.models import (
    FINAL_STATUSES,
    UNPAID_STATUSES,
    Enrollment,
    EnrollmentStatus,
)
from enrollpay.enrollments.schemas import EnrollmentOut
from enrollpay.enrollments.service import enrollment_page, retry_allowed
from enrollpay.kit.clock import utcnow
from enrollpay.kit.ids import has_prefix
from enrollpay.notifications.rendering import format_time
from enrollpay.refunds.service import learner_refund_deadline
from enrollpay.web.site import page_user, render

router = APIRouter(include_in_schema=False)

MY_COURSES_PATH = "/my/courses"
ACCOUNT_PATH = "/account"
MY_COURSES_PAGE_SIZE = 50

STATUS_LABELS = {
    EnrollmentStatus.pending: "Pending payment",
    EnrollmentStatus.failed: "Payment failed",
    EnrollmentStatus.enrolled: "Enrolled",
    EnrollmentStatus.expired: "Expired",
    EnrollmentStatus.cancelled: "Cancelled",
    EnrollmentStatus.refunded: "Refunded",
}


@dataclass(frozen=True)
class EnrollmentCard:
    """One enrollment on My courses: the API's view and what the learner can do with it now."""

    enrollment: EnrollmentOut
    status_label: str
    course_url: str | None  # None for a course put back to draft (its page is a 404)
    pay_by: datetime | None  # the end of a running hold on the seat
    open_url: str | None  # enrolled: where the course is served
    checkout_url: str | None  # unpaid: the checkout page, which resumes or retries payment
    checkout_label: str
    can_cancel: bool
    refund_deadline: datetime | None  # set while a refund may be requested
    enroll_again_url: str | None


def _login_redirect(path: str) -> Response:
    return RedirectResponse(f"/login?next={quote(path, safe='/')}", status_code=303)


def _card(
    view: EnrollmentOut,
    enrollment: Enrollment,
    course: Course,
    *,
    has_live_enrollment: bool,
    now: datetime,
) -> EnrollmentCard:
    status = EnrollmentStatus(enrollment.status)
    course_url = f"/courses/{course.id}" if course.status != CourseStatus.draft else None
    hold_running = enrollment.expires_at is not None and enrollment.expires_at > now
    # retry_allowed without the current payment (not loaded here) misses only an order-less
    # pending enrollment whose hold still runs, which is payable anyway.
    payable = (status == EnrollmentStatus.pending and hold_running) or retry_allowed(
        enrollment, None, now
    )
    refund_deadline = learner_refund_deadline(enrollment, course)
    enroll_again = (
        status in FINAL_STATUSES
        and course.status == CourseStatus.published
        and not has_live_enrollment
    )
    return EnrollmentCard(
        enrollment=view,
        status_label=STATUS_LABELS[status],
        course_url=course_url,
        pay_by=enrollment.expires_at if status in UNPAID_STATUSES and hold_running else None,
        open_url=(course.access_url or course_url) if status == EnrollmentStatus.enrolled else None,
        checkout_url=f"/checkout/{enrollment.id}?start=1" if payable else None,
        checkout_label="Try again" if status == EnrollmentStatus.failed else "Continue payment",
        can_cancel=status in UNPAID_STATUSES,
        refund_deadline=refund_deadline if refund_deadline and now <= refund_deadline else None,
        enroll_again_url=course_url if enroll_again else None,
    )


@router.get(MY_COURSES_PATH)
async def my_courses(request: Request, session: SessionDep, cursor: str | None = None) -> Response:
    user = await page_user(session, request)
    if user is None:
        return _login_redirect(MY_COURSES_PATH)
    now = utcnow()
    # A cursor that is not one of ours just starts from the newest (a page never answers 422).
    cursor = cursor if cursor and has_prefix(cursor, "enr") else None
    page = await enrollment_page(
        session, user.id, status=None, cursor=cursor, limit=MY_COURSES_PAGE_SIZE
    )
    course_ids = {view.course_id for view in page.items}
    courses = await enrollments_repository.courses_by_id(session, course_ids)
    live = await courses_repository.live_enrollments_of_user(session, user.id, course_ids)
    cards = []
    for view in page.items:
        # enrollment_page loaded it: the session's identity map answers without a query.
        enrollment = await enrollments_repository.get_enrollment(session, view.id)
        assert enrollment is not None
        cards.append(
            _card(
                view,
                enrollment,
                courses[view.course_id],
                has_live_enrollment=view.course_id in live,
                now=now,
            )
        )
    context = {
        "cards": cards,
        "next_cursor": page.next_cursor,
        "is_first_page": cursor is None,
        "format_time": format_time,
    }
    return render(request, "site/my_courses.html", context, user=user)


@router.get(ACCOUNT_PATH)
async def account_page(request: Request, session: SessionDep) -> Response:
    user = await page_user(session, request)
    if user is None:
        return _login_redirect(ACCOUNT_PATH)
    context = {
        "member_since": format_time(user.created_at),
        "min_length": PASSWORD_MIN_LENGTH,
        "max_length": PASSWORD_MAX_LENGTH,
    }
    return render(request, "site/account.html", context, user=user)
