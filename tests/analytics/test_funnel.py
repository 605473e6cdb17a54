"""Funnel analytics (SPEC §3, §4.5): course views recorded by the course page, the admin funnel
report's counts, rates, date ranges in a time zone, course filter and revenue, and its CSV."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
import stamina
import time_machine
from sqlalchemy import func, select, update

from enrollpay.analytics import repository, service
from enrollpay.analytics.models import CourseView
from enrollpay.analytics.repository import MoneyMovement
from enrollpay.analytics.schemas import FunnelSteps
from enrollpay.enrollments.models import Enrollment, EnrollmentStatus
from enrollpay.errors import ValidationFailed
from enrollpay.kit.clock import utcnow
from enrollpay.refunds.models import Refund
from enrollpay.users.models import Role
from tests.conftest import TEST_PASSWORD, assert_error
from tests.courses.factories import add_enrollment, create_course
from tests.enrollments.helpers import API, initialize, pay, verify

FUNNEL = f"{API}/admin/analytics/funnel"
IST = ZoneInfo("Asia/Kolkata")
TOTAL = 589882  # 4999 + 18 % GST, paise


@pytest.fixture(autouse=True)
def _no_backoff_waits():
    with stamina.set_testing(True, attempts=2, cap=True):
        yield


def today_ist() -> str:
    return utcnow().astimezone(IST).date().isoformat()


async def view_anonymously(client, course_id: str, visitor_cookie: str | None = None) -> str:
    """A course page view by a browser holding `visitor_cookie` (None: a new visitor);
    returns the visitor's ep_vid."""
    client.cookies.clear()
    if visitor_cookie is not None:
        client.cookies.set("ep_vid", visitor_cookie)
    response = await client.get(f"/courses/{course_id}")
    assert response.status_code == 200, response.text
    cookie = visitor_cookie or response.cookies["ep_vid"]
    client.cookies.clear()
    return cookie


async def funnel(client, headers, **params: Any) -> dict[str, Any]:
    response = await client.get(FUNNEL, params=params, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def view_rows(db) -> list[CourseView]:
    async with db.sessionmaker() as session:
        return list((await session.execute(select(CourseView).order_by(CourseView.id))).scalars())


# ---- the whole funnel, scripted ------------------------------------------------------------------


async def test_scripted_funnel_counts_rates_and_revenue(client, db, make_user, admin_headers):
    course_a = await create_course(client, admin_headers, title="A", price=4999)
    course_b = await create_course(client, admin_headers, title="B", price=4999)

    # 10 distinct visitors view A; two of them come back (same cookie): still 10 pairs.
    cookies = [await view_anonymously(client, course_a["id"]) for _ in range(10)]
    assert len(set(cookies)) == 10
    for cookie in cookies[:2]:
        await view_anonymously(client, course_a["id"], cookie)

    # 6 learners initiate an enrollment in A: 5 through initialize (which creates the order),
    # one whose enrollment never got an order. 4 of the 5 pay; 1 of those is refunded.
    learners = [await make_user(password=None) for _ in range(6)]
    started = []
    for _, headers in learners[:5]:
        response = await initialize(client, headers, course_a["id"])
        assert response.status_code in (200, 201), response.text
        started.append(response.json())
    await add_enrollment(
        db, user_id=learners[5][0].id, course_id=course_a["id"], status=EnrollmentStatus.pending
    )
    for (_, headers), body in zip(learners[:4], started[:4], strict=True):
        paid = await pay(client, body["payment_session"]["razorpay_order_id"])
        response = await verify(client, headers, body["enrollment_id"], paid)
        assert response.json()["enrollment_status"] == "enrolled", response.text
    response = await client.post(
        f"{API}/enrollments/{started[0]['enrollment_id']}/refund",
        json={"reason": "not for me"},
        headers=learners[0][1],
    )
    assert response.status_code == 201, response.text
    async with db.transaction() as session:  # Razorpay processed it (the webhook's effect)
        await session.execute(update(Refund).values(status="processed", processed_at=utcnow()))

    today = today_ist()
    report = await funnel(client, admin_headers, course_id=course_a["id"], **{"from": today})
    assert report["steps"] == {
        "course_views": 10,
        "enrollment_initiations": 6,
        "payment_initiations": 5,
        "payment_completions": 4,
        # Ever enrolled in the range: the refunded learner converted too.
        "enrollment_completions": 4,
    }
    assert report["conversion_rates"] == {
        "view_to_enrollment": 0.6,
        "enrollment_to_payment": 0.8333,
        "payment_to_completion": 0.8,
        "completion_to_enrollment": 1.0,
        "overall_conversion": 0.4,
    }
    assert (report["course_id"], report["from"], report["to"], report["tz"]) == (
        course_a["id"],
        today,
        today,
        "Asia/Kolkata",
    )
    assert report["revenue"] == [
        {
            "date": today,
            "captured": 4 * TOTAL / 100,
            "refunded": TOTAL / 100,
            "net": 3 * TOTAL / 100,
            "currency": "INR",
        }
    ]

    # B: no views; one admin-style enrollment without payment. Zero denominators → null.
    await add_enrollment(db, user_id=learners[5][0].id, course_id=course_b["id"])
    report_b = await funnel(client, admin_headers, course_id=course_b["id"], **{"from": today})
    assert report_b["steps"] == {
        "course_views": 0,
        "enrollment_initiations": 1,
        "payment_initiations": 0,
        "payment_completions": 0,
        "enrollment_completions": 1,
    }
    assert report_b["conversion_rates"] == {
        "view_to_enrollment": None,
        "enrollment_to_payment": 0.0,
        "payment_to_completion": None,
        "completion_to_enrollment": None,
        "overall_conversion": None,
    }
    assert report_b["revenue"][0]["captured"] == 0.0

    # All courses: pairs of every course (the sum), the default range ends today.
    everything = await funnel(client, admin_headers)
    assert everything["course_id"] is None and everything["to"] == today
    assert date.fromisoformat(everything["from"]) == date.fromisoformat(today) - timedelta(29)
    assert everything["steps"] == {
        "course_views": 10,
        "enrollment_initiations": 7,
        "payment_initiations": 5,
        "payment_completions": 4,
        "enrollment_completions": 5,
    }
    assert len(everything["revenue"]) == 30
    assert sum(day["net"] for day in everything["revenue"]) == 3 * TOTAL / 100

    # A learner retrying (a second enrollment of the same pair) is still one pair.
    async with db.transaction() as session:
        await session.execute(
            update(Enrollment)
            .where(Enrollment.user_id == learners[5][0].id, Enrollment.course_id == course_a["id"])
            .values(status=EnrollmentStatus.expired)
        )
    await add_enrollment(
        db, user_id=learners[5][0].id, course_id=course_a["id"], status=EnrollmentStatus.pending
    )
    again = await funnel(client, admin_headers, course_id=course_a["id"], **{"from": today})
    assert again["steps"]["enrollment_initiations"] == 6

    # The same report as CSV.
    response = await client.get(
        f"{FUNNEL}.csv",
        params={"course_id": course_a["id"], "from": today, "to": today},
        headers=admin_headers,
    )
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv")
    assert f'filename="funnel-{today}-{today}.csv"' in response.headers["content-disposition"]
    steps_part, revenue_part = response.text.split("\n\n")
    assert steps_part.splitlines() == [
        "metric,value",
        f"course_id,{course_a['id']}",
        f"from,{today}",
        f"to,{today}",
        "tz,Asia/Kolkata",
        "course_views,10",
        "enrollment_initiations,6",
        "payment_initiations,5",
        "payment_completions,4",
        "enrollment_completions,4",
        "view_to_enrollment,0.6",
        "enrollment_to_payment,0.8333",
        "payment_to_completion,0.8",
        "completion_to_enrollment,1.0",
        "overall_conversion,0.4",
    ]
    assert revenue_part.splitlines() == [
        "date,currency,captured,refunded,net",
        f"{today},INR,23595.28,5898.82,17696.46",
    ]


# ---- date ranges in a time zone ------------------------------------------------------------------


async def test_days_are_counted_in_the_requested_time_zone(client, db, admin_headers):
    course = await create_course(client, admin_headers)
    day = date(2026, 3, 10)
    # 23:30 IST on the 10th = 18:00 UTC on the 10th; 00:30 IST on the 11th = 19:00 UTC on the 10th.
    late_evening_ist = datetime(2026, 3, 10, 18, 0, tzinfo=UTC)
    just_after_midnight_ist = datetime(2026, 3, 10, 19, 0, tzinfo=UTC)
    async with db.transaction() as session:
        await repository.record_view(
            session, course_id=course["id"], visitor_key="vis_a", at=late_evening_ist
        )
        await repository.record_view(
            session, course_id=course["id"], visitor_key="vis_b", at=just_after_midnight_ist
        )
        # One visitor on both sides of IST midnight (18:30 UTC), minutes apart: two buckets.
        for minute in (29, 31):
            await repository.record_view(
                session,
                course_id=course["id"],
                visitor_key="vis_c",
                at=datetime(2026, 3, 10, 18, minute, tzinfo=UTC),
            )

    async def views(first: date, last: date, tz: str | None = None) -> int:
        params = {"course_id": course["id"], "from": first.isoformat(), "to": last.isoformat()}
        report = await funnel(client, admin_headers, **params, **({"tz": tz} if tz else {}))
        count: int = report["steps"]["course_views"]
        return count

    next_day = day + timedelta(1)
    assert await views(day, day) == 2  # IST by default: a and c (18:29 UTC = 23:59 IST)
    assert await views(next_day, next_day) == 2  # b and c (18:31 UTC = 00:01 IST)
    assert await views(day, next_day) == 3
    assert await views(day, day, "UTC") == 3
    assert await views(next_day, next_day, "UTC") == 0
    assert await views(day, day, "America/New_York") == 3  # 13:00-15:00 EDT... all on the 10th


def test_view_buckets_are_15_minutes_so_any_day_boundary_is_exact():
    from enrollpay.analytics.models import view_bucket

    at = datetime(2026, 3, 10, 18, 44, 59, 999, tzinfo=UTC)
    assert view_bucket(at) == datetime(2026, 3, 10, 18, 30, tzinfo=UTC)
    # Kathmandu is UTC+5:45: its midnight starts a bucket too.
    midnight = datetime(2026, 3, 11, tzinfo=ZoneInfo("Asia/Kathmandu"))
    assert view_bucket(midnight) == midnight.astimezone(UTC)


def test_range_defaults_and_validation():
    now = datetime(2026, 3, 10, 19, 0, tzinfo=UTC)  # already the 11th in India
    days = service.resolve_range(None, None, "Asia/Kolkata", now=now)
    assert (days.first, days.last) == (date(2026, 2, 10), date(2026, 3, 11))
    assert days.start == datetime(2026, 2, 9, 18, 30, tzinfo=UTC)
    assert days.end == datetime(2026, 3, 11, 18, 30, tzinfo=UTC)
    utc = service.resolve_range(date(2026, 3, 1), date(2026, 3, 1), "UTC", now=now)
    assert (utc.start, utc.end) == (
        datetime(2026, 3, 1, tzinfo=UTC),
        datetime(2026, 3, 2, tzinfo=UTC),
    )
    for first, last, tz in [
        (None, None, "Mars/Olympus"),
        (None, None, ""),
        (date(2026, 3, 2), date(2026, 3, 1), "UTC"),
        (date(2025, 1, 1), date(2026, 3, 1), "UTC"),
    ]:
        with pytest.raises(ValidationFailed):
            service.resolve_range(first, last, tz, now=now)


def test_rates_are_each_step_over_the_one_before_and_null_without_a_denominator():
    steps = FunnelSteps(
        course_views=3,
        enrollment_initiations=2,
        payment_initiations=0,
        payment_completions=0,
        enrollment_completions=1,
    )
    rates = service.conversion_rates(steps)
    assert rates.model_dump() == {
        "view_to_enrollment": 0.6667,
        "enrollment_to_payment": 0.0,
        "payment_to_completion": None,
        "completion_to_enrollment": None,
        "overall_conversion": 0.3333,
    }
    none = service.conversion_rates(
        FunnelSteps(
            course_views=0,
            enrollment_initiations=0,
            payment_initiations=0,
            payment_completions=0,
            enrollment_completions=0,
        )
    )
    assert set(none.model_dump().values()) == {None}


def test_revenue_is_bucketed_by_day_in_the_time_zone():
    days = service.resolve_range(date(2026, 3, 10), date(2026, 3, 11), "Asia/Kolkata", now=utcnow())
    captured = [
        MoneyMovement(datetime(2026, 3, 10, 18, 29, tzinfo=UTC), 10000, "INR"),  # 23:59 IST
        MoneyMovement(datetime(2026, 3, 10, 18, 30, tzinfo=UTC), 25050, "INR"),  # 00:00 IST
    ]
    refunded = [MoneyMovement(datetime(2026, 3, 11, 5, 0, tzinfo=UTC), 5000, "INR")]
    rows = [row.model_dump(mode="json") for row in service.daily_revenue(days, captured, refunded)]
    assert rows == [
        {"date": "2026-03-10", "captured": 100.0, "refunded": 0.0, "net": 100.0, "currency": "INR"},
        {
            "date": "2026-03-11",
            "captured": 250.5,
            "refunded": 50.0,
            "net": 200.5,
            "currency": "INR",
        },
    ]


# ---- access and parameters -----------------------------------------------------------------------


async def test_admins_only_and_parameters_are_checked(client, admin_headers, learner_headers):
    assert_error(await client.get(FUNNEL), 401, "unauthenticated")
    assert_error(await client.get(FUNNEL, headers=learner_headers), 403, "forbidden")
    assert_error(await client.get(f"{FUNNEL}.csv", headers=learner_headers), 403, "forbidden")
    error = assert_error(
        await client.get(FUNNEL, params={"tz": "Nowhere/Special"}, headers=admin_headers),
        422,
        "validation_error",
    )
    assert error["details"]["fields"][0]["field"] == "tz"
    response = await client.get(
        FUNNEL, params={"from": "2026-03-02", "to": "2026-03-01"}, headers=admin_headers
    )
    assert_error(response, 422, "validation_error")
    response = await client.get(FUNNEL, params={"from": "yesterday"}, headers=admin_headers)
    assert_error(response, 422, "validation_error")
    response = await client.get(FUNNEL, params={"course_id": "crs_nope"}, headers=admin_headers)
    assert_error(response, 404, "not_found")


# ---- recording views ----------------------------------------------------------------------------


async def test_course_page_sets_the_visitor_cookie_once_and_records_a_view_per_bucket(
    client, db, admin_headers
):
    course = await create_course(client, admin_headers)
    start = datetime(2026, 3, 10, 6, 1, tzinfo=UTC)
    with time_machine.travel(start, tick=False):
        first = await client.get(f"/courses/{course['id']}")
        assert first.status_code == 200
        set_cookie = first.headers["set-cookie"]
        assert set_cookie.startswith("ep_vid=")
        assert "HttpOnly" in set_cookie and "SameSite=lax" in set_cookie
        assert "Max-Age=31536000" in set_cookie
        cookie = first.cookies["ep_vid"]
        assert len(cookie) == 22  # 128 random bits, url-safe
        again = await client.get(f"/courses/{course['id']}")  # the jar sends the cookie back
        assert "set-cookie" not in again.headers
    with time_machine.travel(start + timedelta(minutes=13), tick=False):
        await client.get(f"/courses/{course['id']}")  # same bucket: nothing new
    with time_machine.travel(start + timedelta(minutes=15), tick=False):
        await client.get(f"/courses/{course['id']}")  # next bucket: a row
    rows = await view_rows(db)
    assert [(r.visitor_key, r.viewed_at) for r in rows] == [
        (f"vis_{cookie}", start),
        (f"vis_{cookie}", start + timedelta(minutes=15)),
    ]
    # A cookie of another shape is not trusted: replaced by a fresh id.
    client.cookies.clear()
    client.cookies.set("ep_vid", "x" * 300)
    forged = await client.get(f"/courses/{course['id']}")
    assert len(forged.cookies["ep_vid"]) == 22
    # Unknown courses record nothing.
    assert (await client.get("/courses/crs_nope")).status_code == 404
    async with db.sessionmaker() as session:
        count = await session.scalar(select(func.count()).select_from(CourseView))
    assert count == 3
    # Two rows of one visitor on the 10th: one (visitor, course) pair.
    params = {"course_id": course["id"], "from": "2026-03-10", "to": "2026-03-10", "tz": "UTC"}
    report = await funnel(client, admin_headers, **params)
    assert report["steps"]["course_views"] == 1


async def test_a_signed_in_view_uses_the_user_id_and_sets_no_cookie(client, db, make_user):
    admin, admin_headers = await make_user(role=Role.admin, email="boss@example.com")
    course = await create_course(client, admin_headers)
    user, _ = await make_user(email="viewer@example.com")
    response = await client.post(
        "/login", data={"email": "viewer@example.com", "password": TEST_PASSWORD}
    )
    assert response.status_code == 303
    page = await client.get(f"/courses/{course['id']}")
    assert page.status_code == 200
    assert "ep_vid" not in page.headers.get("set-cookie", "")
    (row,) = await view_rows(db)
    assert (row.course_id, row.visitor_key) == (course["id"], user.id)
    assert admin.id != user.id


async def test_front_ends_report_views_with_their_own_visitor_ids_stored_hashed(
    client, db, admin_headers, learner_headers
):
    course = await create_course(client, admin_headers)
    draft = await create_course(client, admin_headers, status="draft")
    url = f"{API}/courses/{course['id']}/views"
    first = await client.post(url, json={"visitor_id": "front-end-visitor-1"})
    assert (first.status_code, first.json()) == (200, {"recorded": True})
    again = await client.post(url, json={"visitor_id": "front-end-visitor-1"})
    assert again.json() == {"recorded": False}  # same 15 minutes
    signed_in = await client.post(url, json={}, headers=learner_headers)
    assert signed_in.json() == {"recorded": True}
    assert_error(await client.post(url, json={}), 422, "validation_error")
    assert_error(
        await client.post(f"{API}/courses/{draft['id']}/views", json={"visitor_id": "abcdefgh"}),
        404,
        "not_found",
    )
    rows = await view_rows(db)
    assert len(rows) == 2
    external, learner = rows
    assert external.visitor_key.startswith("ext_") and "front-end" not in external.visitor_key
    assert learner.visitor_key.startswith("usr_")
    report = await funnel(client, admin_headers, course_id=course["id"], **{"from": today_ist()})
    assert report["steps"]["course_views"] == 2
