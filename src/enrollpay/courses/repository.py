"""Every query on courses, their prerequisites and the enrollments that take their seats."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.courses.models import Course, CoursePrerequisite
from enrollpay.enrollments.models import LIVE_STATUSES, Enrollment


async def get_course(
    session: AsyncSession, course_id: str, *, for_update: bool = False
) -> Course | None:
    """`for_update` locks the row on PostgreSQL (seat checks at initialize); on SQLite the
    write transaction (BEGIN IMMEDIATE) already serialises writers."""
    stmt = select(Course).where(Course.id == course_id)
    if for_update:
        stmt = stmt.with_for_update()
    result = await session.execute(stmt)
    return result.scalar_one_or_none()


async def get_by_external_id(session: AsyncSession, external_id: str) -> Course | None:
    result = await session.execute(select(Course).where(Course.external_id == external_id))
    return result.scalar_one_or_none()


async def list_courses(
    session: AsyncSession,
    *,
    statuses: Collection[str] | None,
    after_id: str | None,
    limit: int,
) -> list[Course]:
    """Courses in creation order (ids sort by time), after the cursor id."""
    stmt = select(Course).order_by(Course.id).limit(limit)
    if statuses is not None:
        stmt = stmt.where(Course.status.in_(list(statuses)))
    if after_id is not None:
        stmt = stmt.where(Course.id > after_id)
    result = await session.execute(stmt)
    return list(result.scalars())


async def existing_ids(session: AsyncSession, course_ids: Collection[str]) -> set[str]:
    if not course_ids:
        return set()
    result = await session.execute(select(Course.id).where(Course.id.in_(list(course_ids))))
    return set(result.scalars())


async def titles(session: AsyncSession, course_ids: Collection[str]) -> dict[str, str]:
    if not course_ids:
        return {}
    result = await session.execute(
        select(Course.id, Course.title).where(Course.id.in_(list(course_ids)))
    )
    return {course_id: title for course_id, title in result.all()}


async def prerequisite_ids(
    session: AsyncSession, course_ids: Collection[str]
) -> dict[str, list[str]]:
    """course id → its prerequisites in the order the admin gave them."""
    found: dict[str, list[str]] = {course_id: [] for course_id in course_ids}
    if not course_ids:
        return found
    result = await session.execute(
        select(CoursePrerequisite.course_id, CoursePrerequisite.prerequisite_id)
        .where(CoursePrerequisite.course_id.in_(list(course_ids)))
        .order_by(CoursePrerequisite.course_id, CoursePrerequisite.position)
    )
    for course_id, prerequisite_id in result.all():
        found[course_id].append(prerequisite_id)
    return found


async def prerequisite_edges(session: AsyncSession) -> list[tuple[str, str]]:
    """Every (course, prerequisite) pair, for cycle checks. Catalogs are small."""
    result = await session.execute(
        select(CoursePrerequisite.course_id, CoursePrerequisite.prerequisite_id)
    )
    return list(result.all())


async def replace_prerequisites(
    session: AsyncSession, course_id: str, prerequisite_ids: Sequence[str]
) -> None:
    await session.execute(
        delete(CoursePrerequisite).where(CoursePrerequisite.course_id == course_id)
    )
    if prerequisite_ids:
        await session.execute(
            insert(CoursePrerequisite),
            [
                {"course_id": course_id, "prerequisite_id": prerequisite_id, "position": index}
                for index, prerequisite_id in enumerate(prerequisite_ids)
            ],
        )


async def count_live_enrollments(
    session: AsyncSession, course_ids: Collection[str]
) -> dict[str, int]:
    """Seats taken per course: live enrollments (a pending one holds its seat too)."""
    counts = dict.fromkeys(course_ids, 0)
    if not course_ids:
        return counts
    result = await session.execute(
        select(Enrollment.course_id, func.count())
        .where(Enrollment.course_id.in_(list(course_ids)), Enrollment.status.in_(LIVE_STATUSES))
        .group_by(Enrollment.course_id)
    )
    for course_id, count in result.all():
        counts[course_id] = count
    return counts


async def live_enrollments_of_user(
    session: AsyncSession, user_id: str, course_ids: Collection[str]
) -> dict[str, Enrollment]:
    """The user's live enrollment per course (at most one each: the partial unique index)."""
    if not course_ids:
        return {}
    result = await session.execute(
        select(Enrollment).where(
            Enrollment.user_id == user_id,
            Enrollment.course_id.in_(list(course_ids)),
            Enrollment.status.in_(LIVE_STATUSES),
        )
    )
    return {enrollment.course_id: enrollment for enrollment in result.scalars()}
