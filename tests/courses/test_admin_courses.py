"""Admin catalog: create, read, list, partial update, and every refusal writes nothing."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select

from enrollpay.courses.models import Course, CoursePrerequisite
from enrollpay.enrollments.models import EnrollmentStatus
from tests.conftest import assert_error
from tests.courses.factories import add_enrollment, create_course

URL = "/api/v1/admin/courses"


async def count_courses(db: Any) -> int:
    async with db.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(Course))).scalar_one())


async def test_create_course_with_every_field(client, db, admin_headers) -> None:
    prerequisite = await create_course(client, admin_headers, title="Basics", price=0)
    body = {
        "title": "  Full Stack Development  ",
        "description": "End to end.",
        "instructor": "Jane Smith",
        "price": 4999.5,
        "currency": "INR",
        "discount_price": "2999",
        "discount_starts_at": "2020-01-01T00:00:00+05:30",
        "discount_ends_at": "2099-01-01T00:00:00Z",
        "prerequisites": [prerequisite["id"]],
        "duration_weeks": 12,
        "enrollment_deadline": "2099-03-30T23:59:59Z",
        "capacity": 30,
        "refund_window_days": 10,
        "status": "published",
        "access_url": "https://learn.example.com/c/fsd",
        "external_id": "lms-42",
    }
    response = await client.post(URL, json=body, headers=admin_headers)
    assert response.status_code == 201, response.text
    course = response.json()
    assert course["id"].startswith("crs_")
    assert course["title"] == "Full Stack Development"
    assert course["price"] == 4999.5
    assert course["discount_price"] == 2999
    assert course["has_active_discount"] is True
    assert course["discount_starts_at"] == "2019-12-31T18:30:00Z"  # stored and shown in UTC
    assert course["prerequisites"] == [prerequisite["id"]]
    assert course["capacity"] == 30 and course["seats_taken"] == 0 and course["seats_left"] == 30
    assert course["external_id"] == "lms-42"
    assert course["refund_window_days"] == 10
    async with db.transaction() as session:
        row = await session.get(Course, course["id"])
        assert row is not None
        assert (row.price, row.discount_price) == (499950, 299900)  # paise

    fetched = await client.get(f"{URL}/{course['id']}", headers=admin_headers)
    assert fetched.status_code == 200
    assert fetched.json() == course


async def test_create_course_defaults(client, admin_headers) -> None:
    response = await client.post(URL, json={"title": "T", "price": 0}, headers=admin_headers)
    assert response.status_code == 201, response.text
    course = response.json()
    assert course["status"] == "draft"
    assert course["currency"] == "INR"
    assert course["description"] == "" and course["instructor"] == ""
    assert course["discount_price"] is None and course["has_active_discount"] is False
    assert course["prerequisites"] == []
    assert course["capacity"] is None and course["seats_left"] is None
    assert course["refund_window_days"] == 7
    assert course["external_id"] is None and course["access_url"] is None


# (body changes, the field the 422 must name). One app for all cases keeps the suite fast.
BAD_CREATES: list[tuple[dict[str, Any], str]] = [
    ({"price": 4999.999}, "price"),
    ({"price": "12.345"}, "price"),
    ({"price": -1}, "price"),
    ({"price": 0.5}, "price"),
    ({"price": 0.99}, "price"),
    ({"price": True}, "price"),
    ({"price": "NaN"}, "price"),
    ({"price": 1e12}, "price"),
    ({"price": None}, "price"),
    ({"discount_price": 0.01}, "discount_price"),
    ({"discount_price": 4999}, "discount_price"),
    ({"discount_price": 5000}, "discount_price"),
    ({"price": 0, "discount_price": 0}, "discount_price"),
    (
        {"discount_starts_at": "2030-01-02T00:00:00Z", "discount_ends_at": "2030-01-01T00:00:00Z"},
        "discount_ends_at",
    ),
    ({"discount_ends_at": "2030-01-01T00:00:00"}, "discount_ends_at"),  # naive
    ({"enrollment_deadline": "next tuesday"}, "enrollment_deadline"),
    ({"capacity": -1}, "capacity"),
    ({"capacity": 1.5}, "capacity"),
    ({"capacity": True}, "capacity"),
    ({"capacity": "5"}, "capacity"),
    ({"duration_weeks": 0}, "duration_weeks"),
    ({"refund_window_days": -1}, "refund_window_days"),
    ({"status": "bogus"}, "status"),
    ({"currency": "USD"}, "currency"),
    ({"title": ""}, "title"),
    ({"title": "   "}, "title"),
    ({"title": "x" * 201}, "title"),
    ({"access_url": "javascript:alert(1)"}, "access_url"),
    ({"access_url": "//evil.example.com"}, "access_url"),
    ({"external_id": "has space"}, "external_id"),
    ({"prerequisites": ["crs_01m8b8p0pw4f4rjckk3cr9chwj"]}, "prerequisites.0"),
    ({"prerequisites": ["basic_programming"]}, "prerequisites.0"),
    ({"prerequisites": "crs_x"}, "prerequisites"),
    ({"is_featured": True}, "is_featured"),
    ({"id": "crs_01m8b8p0pw4f4rjckk3cr9chwj"}, "id"),
    ({"seats_taken": 0}, "seats_taken"),
]


async def test_create_refuses_bad_input_and_writes_nothing(client, db, admin_headers) -> None:
    for changes, field in BAD_CREATES:
        body = {"title": "T", "price": 4999, "status": "published", **changes}
        response = await client.post(URL, json=body, headers=admin_headers)
        error = assert_error(response, 422, "validation_error")
        assert field in [problem["field"] for problem in error["details"]["fields"]], (
            changes,
            error,
        )
    assert await count_courses(db) == 0


async def test_create_requires_title_and_price(client, admin_headers) -> None:
    response = await client.post(URL, json={}, headers=admin_headers)
    error = assert_error(response, 422, "validation_error")
    assert {p["field"] for p in error["details"]["fields"]} == {"title", "price"}


async def test_malformed_json_is_422(client, admin_headers) -> None:
    response = await client.post(
        URL, content=b'{"title": ', headers={**admin_headers, "Content-Type": "application/json"}
    )
    assert_error(response, 422, "validation_error")


async def test_duplicate_external_id_is_409(client, db, admin_headers) -> None:
    await create_course(client, admin_headers, external_id="lms-1")
    response = await client.post(
        URL, json={"title": "Other", "price": 1, "external_id": "lms-1"}, headers=admin_headers
    )
    assert_error(response, 409, "external_id_taken")
    assert await count_courses(db) == 1


async def test_get_unknown_course_is_404(client, admin_headers) -> None:
    assert_error(
        await client.get(f"{URL}/crs_01m8b8p0pw4f4rjckk3cr9chwj", headers=admin_headers),
        404,
        "not_found",
    )
    assert_error(await client.get(f"{URL}/not-an-id", headers=admin_headers), 404, "not_found")
    assert_error(
        await client.patch(
            f"{URL}/crs_01m8b8p0pw4f4rjckk3cr9chwj", json={"title": "x"}, headers=admin_headers
        ),
        404,
        "not_found",
    )


async def test_patch_changes_only_the_fields_sent(client, admin_headers) -> None:
    course = await create_course(
        client,
        admin_headers,
        description="Keep me",
        discount_price=2999,
        capacity=10,
        external_id="lms-7",
    )
    response = await client.patch(
        f"{URL}/{course['id']}",
        json={"title": "Renamed", "capacity": None, "discount_price": None},
        headers=admin_headers,
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert updated["title"] == "Renamed"
    assert updated["capacity"] is None and updated["seats_left"] is None
    assert updated["discount_price"] is None and updated["has_active_discount"] is False
    unchanged = {"description", "price", "status", "external_id", "created_at", "prerequisites"}
    assert {k: updated[k] for k in unchanged} == {k: course[k] for k in unchanged}
    assert updated["updated_at"] >= course["updated_at"]

    empty = await client.patch(f"{URL}/{course['id']}", json={}, headers=admin_headers)
    assert empty.status_code == 200
    assert empty.json() == updated


BAD_PATCHES: list[tuple[dict[str, Any], str]] = [
    ({"title": None}, "title"),
    ({"price": None}, "price"),
    ({"status": None}, "status"),
    ({"prerequisites": None}, "prerequisites"),
    ({"status": "bogus"}, "status"),
    ({"price": 10.001}, "price"),
    ({"price": 2000}, "discount_price"),  # would put the discount price above the price
    ({"discount_price": 6000}, "discount_price"),
    ({"discount_starts_at": "2099-01-01T00:00:00Z"}, "discount_ends_at"),
    ({"role": "admin"}, "role"),
    ({"seats_left": 100}, "seats_left"),
]


async def test_patch_refuses_bad_input_and_changes_nothing(client, admin_headers) -> None:
    course = await create_course(
        client, admin_headers, discount_price=2999, discount_ends_at="2098-01-01T00:00:00Z"
    )
    for body, field in BAD_PATCHES:
        response = await client.patch(
            f"{URL}/{course['id']}", json={"title": "Changed", **body}, headers=admin_headers
        )
        error = assert_error(response, 422, "validation_error")
        assert field in [p["field"] for p in error["details"]["fields"]], (body, error)
    after = await client.get(f"{URL}/{course['id']}", headers=admin_headers)
    assert after.json() == course


async def test_patch_external_id_to_a_taken_one_is_409(client, admin_headers) -> None:
    await create_course(client, admin_headers, external_id="lms-1")
    other = await create_course(client, admin_headers, title="Other", external_id="lms-2")
    response = await client.patch(
        f"{URL}/{other['id']}", json={"external_id": "lms-1", "title": "X"}, headers=admin_headers
    )
    assert_error(response, 409, "external_id_taken")
    after = await client.get(f"{URL}/{other['id']}", headers=admin_headers)
    assert after.json()["external_id"] == "lms-2" and after.json()["title"] == "Other"


async def test_prerequisites_replace_keep_order_and_refuse_self_and_cycles(
    client, db, admin_headers
) -> None:
    a = await create_course(client, admin_headers, title="A")
    b = await create_course(client, admin_headers, title="B", prerequisites=[a["id"]])
    c = await create_course(client, admin_headers, title="C")

    # Order kept, duplicates dropped.
    response = await client.patch(
        f"{URL}/{c['id']}",
        json={"prerequisites": [b["id"], a["id"], b["id"]]},
        headers=admin_headers,
    )
    assert response.status_code == 200, response.text
    assert response.json()["prerequisites"] == [b["id"], a["id"]]

    self_ref = await client.patch(
        f"{URL}/{a['id']}", json={"prerequisites": [a["id"]]}, headers=admin_headers
    )
    error = assert_error(self_ref, 422, "validation_error")
    assert error["details"]["fields"][0]["field"] == "prerequisites.0"

    # a ← b ← c: making a require c closes a cycle.
    cycle = await client.patch(
        f"{URL}/{a['id']}", json={"prerequisites": [c["id"]]}, headers=admin_headers
    )
    error = assert_error(cycle, 422, "validation_error")
    assert "cycle" in error["details"]["fields"][0]["message"]

    cleared = await client.patch(
        f"{URL}/{c['id']}", json={"prerequisites": []}, headers=admin_headers
    )
    assert cleared.json()["prerequisites"] == []
    async with db.transaction() as session:
        rows = (await session.execute(select(CoursePrerequisite))).scalars().all()
        assert [(r.course_id, r.prerequisite_id) for r in rows] == [(b["id"], a["id"])]


async def test_list_all_statuses_with_filter_and_cursor(client, admin_headers) -> None:
    draft = await create_course(client, admin_headers, title="D", status="draft")
    published = await create_course(client, admin_headers, title="P")
    archived = await create_course(client, admin_headers, title="A", status="archived")

    first = await client.get(URL, params={"limit": 2}, headers=admin_headers)
    assert first.status_code == 200
    page = first.json()
    assert [c["id"] for c in page["items"]] == [draft["id"], published["id"]]
    assert page["next_cursor"] == published["id"]
    second = await client.get(
        URL, params={"limit": 2, "cursor": page["next_cursor"]}, headers=admin_headers
    )
    assert [c["id"] for c in second.json()["items"]] == [archived["id"]]
    assert second.json()["next_cursor"] is None

    only_drafts = await client.get(URL, params={"status": "draft"}, headers=admin_headers)
    assert [c["id"] for c in only_drafts.json()["items"]] == [draft["id"]]


async def test_list_refuses_bad_parameters(client, admin_headers) -> None:
    for params in (
        {"status": "bogus"},
        {"limit": 0},
        {"limit": 201},
        {"limit": "x"},
        {"cursor": "nope"},
        {"cursor": "cpn_01m8b8p0pw4f4rjckk3cr9chwj"},
    ):
        error = assert_error(
            await client.get(URL, params=params, headers=admin_headers), 422, "validation_error"
        )
        assert error["details"]["fields"][0]["location"] == "query", params


async def test_seats_taken_counts_live_enrollments_only(
    client, db, admin_headers, make_user
) -> None:
    course = await create_course(client, admin_headers, capacity=3)
    for status in (EnrollmentStatus.pending, EnrollmentStatus.failed, EnrollmentStatus.enrolled):
        user, _ = await make_user()
        await add_enrollment(db, user_id=user.id, course_id=course["id"], status=status)
    # Final states release their seat (one learner may have many of them).
    for status in (EnrollmentStatus.expired, EnrollmentStatus.cancelled, EnrollmentStatus.refunded):
        await add_enrollment(db, user_id=user.id, course_id=course["id"], status=status)
    view = (await client.get(f"{URL}/{course['id']}", headers=admin_headers)).json()
    assert view["seats_taken"] == 3
    assert view["seats_left"] == 0


async def test_admin_routes_need_an_admin(client, learner_headers) -> None:
    course_url = f"{URL}/crs_01m8b8p0pw4f4rjckk3cr9chwj"
    calls = [
        ("GET", URL, None),
        ("POST", URL, {"title": "T", "price": 1}),
        ("GET", course_url, None),
        ("PATCH", course_url, {"title": "T"}),
    ]
    for method, url, body in calls:
        assert_error(
            await client.request(method, url, json=body, headers=learner_headers), 403, "forbidden"
        )
        assert_error(await client.request(method, url, json=body), 401, "unauthenticated")
        assert_error(
            await client.request(method, url, json=body, headers={"Authorization": "Bearer junk"}),
            401,
            "unauthenticated",
        )
