"""Catalog rules: who may enroll (the checks initialize makes, in SPEC §4.2's order), the
course views, and admin create/update. Services never commit."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.config import Settings
from enrollpay.courses import repository
from enrollpay.courses.models import Course, CourseStatus
from enrollpay.courses.schemas import (
    CourseAdminOut,
    CourseCreate,
    CourseOut,
    CoursePatch,
    CourseRef,
    EnrollmentState,
)
from enrollpay.enrollments.models import Enrollment, EnrollmentStatus
from enrollpay.errors import (
    BadRequest,
    Conflict,
    NotFound,
    field_problem,
    raise_field_problems,
)
from enrollpay.kit.clock import utcnow
from enrollpay.kit.ids import has_prefix, new_id
from enrollpay.kit.money import to_major, to_minor
from enrollpay.kit.pagination import Page
from enrollpay.pricing.calculate import discount_is_active
from enrollpay.pricing.schemas import QuoteOut
from enrollpay.pricing.service import price_course

# ---- errors initialize gives (SPEC §4.3); can_enroll_reason names the same codes -------------


class CourseNotAvailable(BadRequest):
    code = "course_not_available"
    message = "This course is not open for enrollment."


class EnrollmentClosed(BadRequest):
    code = "enrollment_closed"
    message = "Enrollment for this course has closed."


class AlreadyEnrolled(Conflict):
    code = "already_enrolled"
    message = "You are already enrolled in this course."
    hint = "Open the course from details.course_access_url."


class PrerequisitesMissing(BadRequest):
    code = "prerequisites_missing"
    message = "This course requires other courses first."
    hint = "details.missing lists the courses to enroll in first."


class CourseFull(Conflict):
    code = "course_full"
    message = "This course has no seats left."
    hint = "Seats held by unpaid checkouts are released when they expire; try again later."


class ExternalIdTaken(Conflict):
    code = "external_id_taken"
    message = "Another course already has this external_id."


def course_access_path(course_id: str) -> str:
    return f"/api/v1/courses/{course_id}/access"


# ---- who may enroll -------------------------------------------------------------------------


@dataclass(frozen=True)
class EnrollmentFacts:
    """What decides whether one learner (or an anonymous visitor) may enroll in one course."""

    live_enrollment: Enrollment | None
    missing_prerequisites: list[str] = field(default_factory=list)
    seats_left: int | None = None  # None: unlimited


def enrollment_blocker(course: Course, facts: EnrollmentFacts, *, now: datetime) -> str | None:
    """The error code initialize would give, or None. SPEC §4.2's order: published, deadline,
    existing enrollment, prerequisites, seats (the coupon comes last, at initialize)."""
    if course.status != CourseStatus.published:
        return CourseNotAvailable.code
    if course.enrollment_deadline is not None and now > course.enrollment_deadline:
        return EnrollmentClosed.code
    live_status = facts.live_enrollment.status if facts.live_enrollment is not None else None
    if live_status == EnrollmentStatus.enrolled:
        return AlreadyEnrolled.code
    if facts.missing_prerequisites:
        return PrerequisitesMissing.code
    # A learner with a pending or failed enrollment already holds a seat: resuming is allowed.
    if live_status is None and facts.seats_left is not None and facts.seats_left <= 0:
        return CourseFull.code
    return None


def _seats_left(course: Course, taken: int) -> int | None:
    return None if course.capacity is None else max(course.capacity - taken, 0)


async def enrollment_facts(
    session: AsyncSession, course: Course, user_id: str | None
) -> EnrollmentFacts:
    """Facts for one course. For a seat check that must hold until the new enrollment is
    written, load the course with `repository.get_course(..., for_update=True)` first."""
    prerequisites = (await repository.prerequisite_ids(session, [course.id]))[course.id]
    taken = (await repository.count_live_enrollments(session, [course.id]))[course.id]
    if user_id is None:
        # Anonymous: prerequisites cannot be known, so they do not block.
        return EnrollmentFacts(None, [], _seats_left(course, taken))
    live = await repository.live_enrollments_of_user(session, user_id, [course.id, *prerequisites])
    missing = [p for p in prerequisites if p not in live]
    return EnrollmentFacts(live.get(course.id), missing, _seats_left(course, taken))


async def ensure_can_enroll(
    session: AsyncSession, course: Course, user_id: str, *, now: datetime
) -> EnrollmentFacts:
    """Raise initialize's error for the first failed check; return the facts otherwise.

    A live `pending`/`failed` enrollment passes (initialize resumes or retries it)."""
    facts = await enrollment_facts(session, course, user_id)
    blocker = enrollment_blocker(course, facts, now=now)
    if blocker == AlreadyEnrolled.code:
        assert facts.live_enrollment is not None
        raise AlreadyEnrolled(
            details={
                "enrollment_id": facts.live_enrollment.id,
                "course_access_url": course_access_path(course.id),
            }
        )
    if blocker == PrerequisitesMissing.code:
        raise PrerequisitesMissing(details={"missing": facts.missing_prerequisites})
    if blocker is not None:
        raise BLOCKER_ERRORS[blocker]()
    return facts


BLOCKER_ERRORS: dict[str, type[BadRequest] | type[Conflict]] = {
    CourseNotAvailable.code: CourseNotAvailable,
    EnrollmentClosed.code: EnrollmentClosed,
    AlreadyEnrolled.code: AlreadyEnrolled,
    PrerequisitesMissing.code: PrerequisitesMissing,
    CourseFull.code: CourseFull,
}


# ---- lookups --------------------------------------------------------------------------------


async def get_course_or_404(session: AsyncSession, course_id: str) -> Course:
    """Any status (admin). A malformed id answers 404 without a query."""
    course = (
        await repository.get_course(session, course_id) if has_prefix(course_id, "crs") else None
    )
    if course is None:
        raise NotFound("No course with this id.")
    return course


async def get_visible_course(session: AsyncSession, course_id: str) -> Course:
    """Published or archived; drafts are invisible (404) to everyone outside the admin API.
    Archived courses stay visible so enrolled learners and old links still find the page;
    they show `can_enroll: false` with `course_not_available`."""
    course = await get_course_or_404(session, course_id)
    if course.status == CourseStatus.draft:
        raise NotFound("No course with this id.")
    return course


async def get_purchasable_course(session: AsyncSession, course_id: str) -> Course:
    """A published course, or 404 `not_found` (unknown, draft) / 400 `course_not_available`
    (archived), like initialize's first check."""
    course = await get_visible_course(session, course_id)
    if course.status != CourseStatus.published:
        raise CourseNotAvailable()
    return course


# ---- views ----------------------------------------------------------------------------------


def has_active_discount(course: Course, now: datetime) -> bool:
    return discount_is_active(
        course.discount_price, course.discount_starts_at, course.discount_ends_at, now
    )


def _major_or_none(amount: int | None, currency: str) -> float | None:
    return to_major(amount, currency) if amount is not None else None


def _state_of(enrollment: Enrollment | None) -> EnrollmentState:
    if enrollment is None:
        return "not_enrolled"
    status = EnrollmentStatus(enrollment.status)
    if status == EnrollmentStatus.pending:
        return "pending"
    if status == EnrollmentStatus.failed:
        return "failed"
    if status == EnrollmentStatus.enrolled:
        return "enrolled"
    return "not_enrolled"  # final states are never "live" (the query excludes them anyway)


async def course_views(
    session: AsyncSession,
    settings: Settings,
    courses: Sequence[Course],
    user_id: str | None,
    *,
    now: datetime,
) -> list[CourseOut]:
    """Public views, batched: a fixed number of queries however many courses."""
    ids = [course.id for course in courses]
    prerequisites = await repository.prerequisite_ids(session, ids)
    prerequisite_set = {p for ps in prerequisites.values() for p in ps}
    titles = await repository.titles(session, prerequisite_set)
    taken = await repository.count_live_enrollments(
        session, [course.id for course in courses if course.capacity is not None]
    )
    live: dict[str, Enrollment] = {}
    if user_id is not None:
        live = await repository.live_enrollments_of_user(
            session, user_id, {*ids, *prerequisite_set}
        )

    views = []
    for course in courses:
        required = prerequisites[course.id]
        facts = EnrollmentFacts(
            live_enrollment=live.get(course.id),
            missing_prerequisites=[p for p in required if p not in live] if user_id else [],
            seats_left=_seats_left(course, taken.get(course.id, 0)),
        )
        blocker = enrollment_blocker(course, facts, now=now)
        breakdown = price_course(course, settings, now=now)
        views.append(
            CourseOut(
                id=course.id,
                title=course.title,
                description=course.description,
                instructor=course.instructor,
                status=CourseStatus(course.status),
                price=to_major(course.price, course.currency),
                currency=course.currency,
                discount_price=_major_or_none(course.discount_price, course.currency),
                discount_starts_at=course.discount_starts_at,
                discount_ends_at=course.discount_ends_at,
                has_active_discount=has_active_discount(course, now),
                prerequisites=required,
                prerequisite_courses=[CourseRef(id=p, title=titles.get(p, "")) for p in required],
                duration_weeks=course.duration_weeks,
                enrollment_deadline=course.enrollment_deadline,
                capacity=course.capacity,
                seats_left=facts.seats_left,
                refund_window_days=course.refund_window_days,
                access_url=course.access_url,
                enrollment_status=_state_of(facts.live_enrollment),
                enrollment_id=facts.live_enrollment.id if facts.live_enrollment else None,
                can_enroll=blocker is None,
                can_enroll_reason=blocker,
                pricing=QuoteOut.from_breakdown(
                    breakdown,
                    coupon_code=None,
                    tax_rate=settings.TAX_RATE,
                    tax_inclusive=settings.TAX_INCLUSIVE,
                ),
            )
        )
    return views


async def catalog_page(
    session: AsyncSession,
    settings: Settings,
    *,
    user_id: str | None,
    cursor: str | None,
    limit: int,
    now: datetime,
) -> Page[CourseOut]:
    rows = await repository.list_courses(
        session, statuses=[CourseStatus.published], after_id=cursor, limit=limit + 1
    )
    page = rows[:limit]
    items = await course_views(session, settings, page, user_id, now=now)
    return Page[CourseOut](items=items, next_cursor=page[-1].id if len(rows) > limit else None)


async def admin_views(
    session: AsyncSession, courses: Sequence[Course], *, now: datetime
) -> list[CourseAdminOut]:
    ids = [course.id for course in courses]
    prerequisites = await repository.prerequisite_ids(session, ids)
    taken = await repository.count_live_enrollments(session, ids)
    return [
        CourseAdminOut(
            id=course.id,
            title=course.title,
            description=course.description,
            instructor=course.instructor,
            status=CourseStatus(course.status),
            price=to_major(course.price, course.currency),
            currency=course.currency,
            discount_price=_major_or_none(course.discount_price, course.currency),
            discount_starts_at=course.discount_starts_at,
            discount_ends_at=course.discount_ends_at,
            has_active_discount=has_active_discount(course, now),
            prerequisites=prerequisites[course.id],
            duration_weeks=course.duration_weeks,
            enrollment_deadline=course.enrollment_deadline,
            capacity=course.capacity,
            seats_taken=taken[course.id],
            seats_left=_seats_left(course, taken[course.id]),
            refund_window_days=course.refund_window_days,
            access_url=course.access_url,
            external_id=course.external_id,
            created_at=course.created_at,
            updated_at=course.updated_at,
        )
        for course in courses
    ]


async def admin_page(
    session: AsyncSession,
    *,
    status: CourseStatus | None,
    cursor: str | None,
    limit: int,
    now: datetime,
) -> Page[CourseAdminOut]:
    rows = await repository.list_courses(
        session,
        statuses=[status] if status is not None else None,
        after_id=cursor,
        limit=limit + 1,
    )
    page = rows[:limit]
    items = await admin_views(session, page, now=now)
    return Page[CourseAdminOut](items=items, next_cursor=page[-1].id if len(rows) > limit else None)


# ---- admin writes ---------------------------------------------------------------------------


def _check_price_rules(
    price: int,
    discount_price: int | None,
    discount_starts_at: datetime | None,
    discount_ends_at: datetime | None,
    problems: list[dict[str, str]],
) -> None:
    """Rules across fields, on the merged state (a PATCH may change only one side)."""
    if discount_price is not None and discount_price >= price:
        problems.append(field_problem("discount_price", "must be lower than price"))
    if (
        discount_starts_at is not None
        and discount_ends_at is not None
        and discount_ends_at <= discount_starts_at
    ):
        problems.append(field_problem("discount_ends_at", "must be after discount_starts_at"))


async def _check_prerequisites(
    session: AsyncSession,
    course_id: str,
    requested: Sequence[str],
    problems: list[dict[str, str]],
) -> list[str]:
    """Existing, not the course itself, no cycle. Returns them de-duplicated, in order."""
    unique = list(dict.fromkeys(requested))
    existing = await repository.existing_ids(session, [i for i in unique if has_prefix(i, "crs")])
    for index, prerequisite_id in enumerate(requested):
        if prerequisite_id == course_id:
            problems.append(
                field_problem(f"prerequisites.{index}", "a course cannot require itself")
            )
        elif prerequisite_id not in existing:
            problems.append(
                field_problem(f"prerequisites.{index}", f"no course with id {prerequisite_id!r}")
            )
    if problems or not unique:
        return unique

    # A cycle (A needs B, B needs A) would make every course in it impossible to enroll in.
    requires: dict[str, set[str]] = {}
    for owner, prerequisite in await repository.prerequisite_edges(session):
        if owner != course_id:
            requires.setdefault(owner, set()).add(prerequisite)
    seen: set[str] = set()
    stack = list(unique)
    while stack:
        current = stack.pop()
        if current == course_id:
            problems.append(
                field_problem("prerequisites", "these prerequisites would form a cycle")
            )
            break
        if current not in seen:
            seen.add(current)
            stack.extend(requires.get(current, ()))
    return unique


async def _flush_unique_external_id(session: AsyncSession) -> None:
    try:
        # The unique index decides under concurrency, not a check-then-insert.
        async with session.begin_nested():
            await session.flush()
    except IntegrityError as exc:
        if "external_id" in str(exc.orig):
            raise ExternalIdTaken() from None
        raise


def _minor_or_none(amount: Decimal | None) -> int | None:
    return to_minor(amount) if amount is not None else None


async def create_course(session: AsyncSession, body: CourseCreate) -> Course:
    course = Course(
        id=new_id("crs"),
        title=body.title,
        description=body.description,
        instructor=body.instructor,
        price=to_minor(body.price),
        currency=body.currency,
        discount_price=_minor_or_none(body.discount_price),
        discount_starts_at=body.discount_starts_at,
        discount_ends_at=body.discount_ends_at,
        duration_weeks=body.duration_weeks,
        enrollment_deadline=body.enrollment_deadline,
        capacity=body.capacity,
        refund_window_days=body.refund_window_days,
        status=body.status,
        access_url=body.access_url,
        external_id=body.external_id,
    )
    problems: list[dict[str, str]] = []
    _check_price_rules(
        course.price,
        course.discount_price,
        course.discount_starts_at,
        course.discount_ends_at,
        problems,
    )
    prerequisites = await _check_prerequisites(session, course.id, body.prerequisites, problems)
    raise_field_problems(problems)
    session.add(course)
    await _flush_unique_external_id(session)
    await repository.replace_prerequisites(session, course.id, prerequisites)
    return course


_PLAIN_FIELDS = (
    "title",
    "description",
    "instructor",
    "currency",
    "discount_starts_at",
    "discount_ends_at",
    "duration_weeks",
    "enrollment_deadline",
    "capacity",
    "refund_window_days",
    "status",
    "access_url",
    "external_id",
)


async def update_course(session: AsyncSession, course: Course, patch: CoursePatch) -> Course:
    """Only the fields sent change; everything is validated before anything is written."""
    sent = patch.model_fields_set
    changes: dict[str, Any] = {name: getattr(patch, name) for name in _PLAIN_FIELDS if name in sent}
    if "price" in sent:
        assert patch.price is not None  # NotNull refused an explicit null
        changes["price"] = to_minor(patch.price)
    if "discount_price" in sent:
        changes["discount_price"] = _minor_or_none(patch.discount_price)

    problems: list[dict[str, str]] = []
    _check_price_rules(
        changes.get("price", course.price),
        changes.get("discount_price", course.discount_price),
        changes.get("discount_starts_at", course.discount_starts_at),
        changes.get("discount_ends_at", course.discount_ends_at),
        problems,
    )
    prerequisites = None
    if "prerequisites" in sent:
        assert patch.prerequisites is not None
        prerequisites = await _check_prerequisites(
            session, course.id, patch.prerequisites, problems
        )
    raise_field_problems(problems)

    for name, value in changes.items():
        setattr(course, name, value)
    if changes or prerequisites is not None:
        course.updated_at = utcnow()
        # Flush before any other statement: autoflush would raise a duplicate unnamed.
        await _flush_unique_external_id(session)
    if prerequisites is not None:
        await repository.replace_prerequisites(session, course.id, prerequisites)
    return course
