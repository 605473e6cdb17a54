"""Catalog and course pages (SPEC §5): the API's prices (GST total included), seats and
reasons, escaped titles, and the demo box only with the built-in sandbox."""

from __future__ import annotations

from datetime import timedelta

import pytest

from enrollpay.demo import DEMO_COUPON_CODE, DEMO_LEARNER
from enrollpay.kit.clock import utcnow
from enrollpay.web.templating import static_url
from tests.conftest import TEST_PASSWORD
from tests.courses.factories import add_enrollment, create_course

REAL_KEYS = {"RAZORPAY_KEY_ID": "rzp_test_ABCDEFGHIJKLMN", "RAZORPAY_KEY_SECRET": "real-secret"}


async def sign_in(client, make_user, email: str = "page@example.com"):
    user, _ = await make_user(email=email)
    response = await client.post("/login", data={"email": email, "password": TEST_PASSWORD})
    assert response.status_code == 303
    return user


async def test_catalog_shows_prices_discounts_seats_and_escapes(client, admin_headers):
    await create_course(
        client,
        admin_headers,
        title="<script>alert(1)</script> Web",
        instructor="Asha & Co",
        price=4999,
        discount_price=3999,
        capacity=5,
    )
    await create_course(client, admin_headers, title="Basics", price=0)
    await create_course(client, admin_headers, title="Hidden draft", status="draft")

    page = await client.get("/")
    assert page.status_code == 200
    html = page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; Web" in html
    assert "<script>alert(1)" not in html
    assert "Asha &amp; Co" in html
    assert "₹3,999.00" in html and "₹4,999.00" in html  # discounted price, the old one struck
    assert "₹4,718.82 in total" in html  # 3,999 + 18% GST
    assert "5 seats left" in html
    assert "Free" in html
    assert "Hidden draft" not in html
    assert page.headers["cache-control"] == "no-store"


async def test_demo_box_with_the_sandbox(client):
    html = (await client.get("/")).text
    assert "Demo" in html and DEMO_LEARNER.email in html and DEMO_LEARNER.password in html
    assert DEMO_COUPON_CODE in html


@pytest.mark.parametrize("settings_overrides", [REAL_KEYS])
async def test_no_demo_box_with_real_keys(client):
    html = (await client.get("/")).text
    assert DEMO_LEARNER.email not in html and 'id="demo-heading"' not in html


async def test_course_page_breakdown_and_anonymous_enroll_link(client, admin_headers):
    course = await create_course(
        client,
        admin_headers,
        title="Full <Stack>",
        description="Build & ship",
        price=4999,
        refund_window_days=10,
    )
    html = (await client.get(f"/courses/{course['id']}")).text
    assert "<h1>Full &lt;Stack&gt;</h1>" in html and "Build &amp; ship" in html
    assert "₹4,999.00" in html  # before GST
    assert "₹899.82" in html  # 18% GST
    assert "Total (incl. GST)" in html and "₹5,898.82" in html
    assert 'id="coupon"' in html
    assert f'href="/login?next=/courses/{course["id"]}"' in html
    assert 'id="enroll"' not in html
    assert "Full refund within 10 days" in html and "Razorpay" in html


async def test_course_page_reasons_and_prerequisite_links(client, db, make_user, admin_headers):
    first = await create_course(client, admin_headers, title="First")
    second = await create_course(client, admin_headers, title="Second", prerequisites=[first["id"]])
    user = await sign_in(client, make_user)

    html = (await client.get(f"/courses/{second['id']}")).text
    assert f'<a href="/courses/{first["id"]}">First</a>' in html
    assert "You need to complete the prerequisite courses first." in html
    assert 'id="enroll"' not in html

    await add_enrollment(db, user_id=user.id, course_id=first["id"])
    html = (await client.get(f"/courses/{first['id']}")).text
    assert "You&#39;re already enrolled in this course." in html
    html = (await client.get(f"/courses/{second['id']}")).text
    assert 'id="enroll"' in html and "prerequisite courses first" not in html


async def test_closed_and_full_courses_say_why(client, db, make_user, admin_headers):
    closed = await create_course(
        client, admin_headers, enrollment_deadline=(utcnow() - timedelta(days=1)).isoformat()
    )
    full = await create_course(client, admin_headers, capacity=1)
    other, _ = await make_user(email="other@example.com")
    await add_enrollment(db, user_id=other.id, course_id=full["id"])
    await sign_in(client, make_user)

    assert (
        "Enrollment for this course has closed."
        in (await client.get(f"/courses/{closed['id']}")).text
    )
    html = (await client.get(f"/courses/{full['id']}")).text
    assert "This course is full right now." in html and "0 seats left" in html


async def test_unknown_course_is_a_404_page(client):
    response = await client.get("/courses/crs_nope")
    assert response.status_code == 404
    assert "Course not found" in response.text


async def test_versioned_static_files_are_cached_for_a_year(client):
    versioned = await client.get(static_url("course.js"))
    assert versioned.status_code == 200
    assert versioned.headers["cache-control"] == "public, max-age=31536000, immutable"
    # Without this release's version the file may change under the same URL: revalidated.
    for url in ("/static/course.js", "/static/course.js?v=0.0.0-old"):
        response = await client.get(url)
        assert response.status_code == 200
        assert "immutable" not in response.headers.get("cache-control", "")
