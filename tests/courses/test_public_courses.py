"""Public catalog: published courses in the PRD shape, with the caller's enrollment state."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from enrollpay.courses.models import Course, CourseStatus
from enrollpay.courses.service import EnrollmentFacts, enrollment_blocker
from enrollpay.enrollments.models import Enrollment, EnrollmentStatus
from tests.conftest import assert_error
from tests.courses.factories import add_enrollment, create_course

URL = "/api/v1/courses"
UNKNOWN = "crs_01m8b8p0pw4f4rjckk3cr9chwj"


async def test_detail_has_the_prd_shape_and_example_pricing(client, admin_headers) -> None:
    course = await create_course(
        client,
        admin_headers,
        title="Full Stack Development",
        instructor="Jane Smith",
        price=4999,
        discount_price=2999,
        duration_weeks=12,
        enrollment_deadline="2099-03-30T23:59:59Z",
        access_url="/learn/fsd",
        external_id="lms-1",
    )
    response = await client.get(f"{URL}/{course['id']}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"course"}
    view = body["course"]
    assert view["id"] == course["id"]
    assert view["title"] == "Full Stack Development"
    assert view["price"] == 4999.0 and view["discount_price"] == 2999.0
    assert view["currency"] == "INR"
    assert view["has_active_discount"] is True
    assert view["prerequisites"] == [] and view["prerequisite_courses"] == []
    assert view["duration_weeks"] == 12
    assert view["enrollment_deadline"] == "2099-03-30T23:59:59Z"
    assert view["enrollment_status"] == "not_enrolled"
    assert view["enrollment_id"] is None
    assert view["can_enroll"] is True and view["can_enroll_reason"] is None
    assert view["seats_left"] is None and view["capacity"] is None
    assert view["access_url"] == "/learn/fsd"
    assert "external_id" not in view  # an admin field
    assert view["pricing"] == {
        "original_amount": 4999.0,
        "course_discount": 2000.0,
        "coupon_discount": 0.0,
        "discount_applied": 2000.0,
        "final_amount": 2999.0,
        "tax_amount": 539.82,
        "total_payable": 3538.82,
        "currency": "INR",
        "coupon_code": None,
        "tax_rate": 0.18,
        "tax_inclusive": False,
    }


async def test_list_shows_published_only_with_cursor(client, admin_headers) -> None:
    first = await create_course(client, admin_headers, title="One")
    await create_course(client, admin_headers, title="Draft", status="draft")
    await create_course(client, admin_headers, title="Old", status="archived")
    second = await create_course(client, admin_headers, title="Two")
    third = await create_course(client, admin_headers, title="Three")

    page = (await client.get(URL, params={"limit": 2})).json()
    assert [c["id"] for c in page["items"]] == [first["id"], second["id"]]
    assert page["items"][0]["pricing"]["total_payable"] == 5898.82  # 4999 + 899.82 GST
    rest = (await client.get(URL, params={"limit": 2, "cursor": page["next_cursor"]})).json()
    assert [c["id"] for c in rest["items"]] == [third["id"]]
    assert rest["next_cursor"] is None

    assert_error(await client.get(URL, params={"cursor": "garbage"}), 422, "validation_error")
    assert_error(await client.get(URL, params={"limit": 0}), 422, "validation_error")


async def test_draft_and_unknown_are_404_archived_is_visible_but_closed(
    client, admin_headers
) -> None:
    draft = await create_course(client, admin_headers, status="draft")
    archived = await create_course(client, admin_headers, status="archived")
    assert_error(await client.get(f"{URL}/{draft['id']}"), 404, "not_found")
    assert_error(await client.get(f"{URL}/{UNKNOWN}"), 404, "not_found")
    assert_error(await client.get(f"{URL}/basic_programming"), 404, "not_found")

    view = (await client.get(f"{URL}/{archived['id']}")).json()["course"]
    assert view["status"] == "archived"
    assert view["can_enroll"] is False
    assert view["can_enroll_reason"] == "course_not_available"


async def test_a_bad_token_is_401_even_where_a_token_is_optional(client, admin_headers) -> None:
    course = await create_course(client, admin_headers)
    junk = {"Authorization": "Bearer not-a-token"}
    assert_error(await client.get(URL, headers=junk), 401, "unauthenticated")
    assert_error(await client.get(f"{URL}/{course['id']}", headers=junk), 401, "unauthenticated")


async def test_enrollment_state_per_learner(client, db, admin_headers, make_user) -> None:
    course = await create_course(client, admin_headers)
    expected = {
        EnrollmentStatus.pending: ("pending", True, None),
        EnrollmentStatus.failed: ("failed", True, None),
        EnrollmentStatus.enrolled: ("enrolled", False, "already_enrolled"),
        EnrollmentStatus.expired: ("not_enrolled", True, None),
        EnrollmentStatus.refunded: ("not_enrolled", True, None),
    }
    for status, (shown, can_enroll, reason) in expected.items():
        user, headers = await make_user()
        enrollment_id = await add_enrollment(
            db, user_id=user.id, course_id=course["id"], status=status
        )
        view = (await client.get(f"{URL}/{course['id']}", headers=headers)).json()["course"]
        assert view["enrollment_status"] == shown, status
        assert view["enrollment_id"] == (enrollment_id if shown != "not_enrolled" else None)
        assert (view["can_enroll"], view["can_enroll_reason"]) == (can_enroll, reason), status
        listed = (await client.get(URL, headers=headers)).json()["items"][0]
        assert listed["enrollment_status"] == shown

    # Anonymous callers see the course-level answer only.
    anonymous = (await client.get(f"{URL}/{course['id']}")).json()["course"]
    assert anonymous["enrollment_status"] == "not_enrolled" and anonymous["can_enroll"] is True


async def test_prerequisites_need_a_live_enrollment(client, db, admin_headers, make_user) -> None:
    basics = await create_course(client, admin_headers, title="Basics", price=0)
    advanced = await create_course(
        client, admin_headers, title="Advanced", prerequisites=[basics["id"]]
    )
    user, headers = await make_user()

    view = (await client.get(f"{URL}/{advanced['id']}", headers=headers)).json()["course"]
    assert view["prerequisites"] == [basics["id"]]
    assert view["prerequisite_courses"] == [{"id": basics["id"], "title": "Basics"}]
    assert (view["can_enroll"], view["can_enroll_reason"]) == (False, "prerequisites_missing")

    # Anonymous: prerequisites cannot be known, so they do not block.
    anonymous = (await client.get(f"{URL}/{advanced['id']}")).json()["course"]
    assert anonymous["can_enroll"] is True

    # A final enrollment in the prerequisite does not count; a live one does.
    await add_enrollment(
        db, user_id=user.id, course_id=basics["id"], status=EnrollmentStatus.expired
    )
    view = (await client.get(f"{URL}/{advanced['id']}", headers=headers)).json()["course"]
    assert view["can_enroll_reason"] == "prerequisites_missing"
    await add_enrollment(
        db, user_id=user.id, course_id=basics["id"], status=EnrollmentStatus.pending
    )
    view = (await client.get(f"{URL}/{advanced['id']}", headers=headers)).json()["course"]
    assert (view["can_enroll"], view["can_enroll_reason"]) == (True, None)


async def test_seats_count_pending_holds(client, db, admin_headers, make_user) -> None:
    course = await create_course(client, admin_headers, capacity=1)
    holder, holder_headers = await make_user()
    _, other_headers = await make_user()
    assert (await client.get(f"{URL}/{course['id']}")).json()["course"]["seats_left"] == 1

    await add_enrollment(
        db, user_id=holder.id, course_id=course["id"], status=EnrollmentStatus.pending
    )
    for headers in (other_headers, {}):
        view = (await client.get(f"{URL}/{course['id']}", headers=headers)).json()["course"]
        assert view["seats_left"] == 0
        assert (view["can_enroll"], view["can_enroll_reason"]) == (False, "course_full")
    # The holder's own pending enrollment holds its seat: resuming is allowed.
    view = (await client.get(f"{URL}/{course['id']}", headers=holder_headers)).json()["course"]
    assert (view["can_enroll"], view["can_enroll_reason"]) == (True, None)


async def test_deadline_and_discount_window(client, admin_headers) -> None:
    past = (datetime.now(UTC) - timedelta(minutes=1)).isoformat()
    future = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    closed = await create_course(client, admin_headers, enrollment_deadline=past)
    view = (await client.get(f"{URL}/{closed['id']}")).json()["course"]
    assert (view["can_enroll"], view["can_enroll_reason"]) == (False, "enrollment_closed")

    later = await create_course(
        client, admin_headers, discount_price=2999, discount_starts_at=future
    )
    view = (await client.get(f"{URL}/{later['id']}")).json()["course"]
    assert view["has_active_discount"] is False
    assert view["discount_price"] == 2999
    assert view["pricing"]["course_discount"] == 0
    assert view["pricing"]["final_amount"] == 4999


@pytest.mark.parametrize("settings_overrides", [{"TAX_INCLUSIVE": True}])
async def test_inclusive_tax_setting(client, admin_headers) -> None:
    course = await create_course(client, admin_headers, price=1180)
    pricing = (await client.get(f"{URL}/{course['id']}")).json()["course"]["pricing"]
    assert pricing["tax_inclusive"] is True
    assert (pricing["final_amount"], pricing["tax_amount"], pricing["total_payable"]) == (
        1000,
        180,
        1180,
    )


# ---- the check order, without a database ------------------------------------------------------

NOW = datetime(2026, 1, 1, tzinfo=UTC)


def _course(**fields: Any) -> Course:
    values: dict[str, Any] = {"id": UNKNOWN, "status": CourseStatus.published, "price": 100}
    values.update(fields)
    return Course(**values)


def _enrollment(status: EnrollmentStatus) -> Enrollment:
    return Enrollment(id="enr_x", status=status)


@pytest.mark.parametrize(
    ("course", "facts", "reason"),
    [
        (_course(), EnrollmentFacts(None), None),
        # Every check fails: the first in SPEC §4.2's order wins.
        (
            _course(status=CourseStatus.archived, enrollment_deadline=NOW - timedelta(days=1)),
            EnrollmentFacts(_enrollment(EnrollmentStatus.enrolled), ["crs_a"], 0),
            "course_not_available",
        ),
        (
            _course(enrollment_deadline=NOW - timedelta(seconds=1)),
            EnrollmentFacts(_enrollment(EnrollmentStatus.enrolled), ["crs_a"], 0),
            "enrollment_closed",
        ),
        (_course(enrollment_deadline=NOW), EnrollmentFacts(None), None),  # deadline inclusive
        (
            _course(),
            EnrollmentFacts(_enrollment(EnrollmentStatus.enrolled), ["crs_a"], 0),
            "already_enrolled",
        ),
        (_course(), EnrollmentFacts(None, ["crs_a"], 0), "prerequisites_missing"),
        (_course(), EnrollmentFacts(None, [], 0), "course_full"),
        (_course(), EnrollmentFacts(_enrollment(EnrollmentStatus.pending), [], 0), None),
        (_course(), EnrollmentFacts(None, [], 1), None),
    ],
)
def test_enrollment_blocker_order(
    course: Course, facts: EnrollmentFacts, reason: str | None
) -> None:
    assert enrollment_blocker(course, facts, now=NOW) == reason
