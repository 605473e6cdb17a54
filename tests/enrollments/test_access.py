"""GET /courses/{id}/access (PRD shape) and PUT /courses/{id}/progress."""

from __future__ import annotations

import pytest

from enrollpay.enrollments.models import EnrollmentStatus
from tests.conftest import assert_error
from tests.courses.factories import add_enrollment, create_course


@pytest.fixture
async def course(client, admin_headers):
    return await create_course(
        client, admin_headers, price=2999, access_url="https://learn.example.com/c/full-stack"
    )


async def test_enrolled_learner_has_access_and_reports_progress(client, db, make_user, course):
    user, headers = await make_user()
    await add_enrollment(db, user_id=user.id, course_id=course["id"])
    access = await client.get(f"/api/v1/courses/{course['id']}/access", headers=headers)
    assert access.status_code == 200, access.text
    body = access.json()
    assert body["has_access"] is True and body["access_expires"] is None
    assert body["enrollment_date"] is not None
    assert body["course_progress"] == 0
    assert body["next_lesson_url"] == "https://learn.example.com/c/full-stack"
    assert body["enrollment_id"].startswith("enr_")

    updated = await client.put(
        f"/api/v1/courses/{course['id']}/progress", json={"progress": 40}, headers=headers
    )
    assert updated.status_code == 200, updated.text
    assert updated.json()["course_progress"] == 40
    again = await client.get(f"/api/v1/courses/{course['id']}/access", headers=headers)
    assert again.json()["course_progress"] == 40


@pytest.mark.parametrize(
    "status", [None, EnrollmentStatus.pending, EnrollmentStatus.failed, EnrollmentStatus.refunded]
)
async def test_no_access_without_a_completed_enrollment(client, db, make_user, course, status):
    user, headers = await make_user()
    if status is not None:
        await add_enrollment(db, user_id=user.id, course_id=course["id"], status=status)
    access = await client.get(f"/api/v1/courses/{course['id']}/access", headers=headers)
    assert access.json() == {
        "has_access": False,
        "enrollment_id": None,
        "enrollment_date": None,
        "access_expires": None,
        "course_progress": 0,
        "next_lesson_url": None,
    }
    progress = await client.put(
        f"/api/v1/courses/{course['id']}/progress", json={"progress": 10}, headers=headers
    )
    assert_error(progress, 409, "invalid_state")


async def test_another_learners_enrollment_gives_no_access(client, db, make_user, course):
    owner, _ = await make_user()
    await add_enrollment(db, user_id=owner.id, course_id=course["id"])
    _, stranger = await make_user()
    access = await client.get(f"/api/v1/courses/{course['id']}/access", headers=stranger)
    assert access.json()["has_access"] is False


@pytest.mark.parametrize("progress", [-1, 101, 50.5, "50", None, True])
async def test_progress_must_be_a_whole_percent(client, db, make_user, course, progress):
    user, headers = await make_user()
    await add_enrollment(db, user_id=user.id, course_id=course["id"])
    response = await client.put(
        f"/api/v1/courses/{course['id']}/progress", json={"progress": progress}, headers=headers
    )
    assert_error(response, 422, "validation_error")


async def test_access_needs_a_token_and_a_visible_course(client, make_user, admin_headers):
    draft = await create_course(client, admin_headers, status="draft")
    _, headers = await make_user()
    assert_error(await client.get(f"/api/v1/courses/{draft['id']}/access"), 401, "unauthenticated")
    response = await client.get(f"/api/v1/courses/{draft['id']}/access", headers=headers)
    assert_error(response, 404, "not_found")
    unknown = await client.get("/api/v1/courses/crs_nope/access", headers=headers)
    assert_error(unknown, 404, "not_found")
