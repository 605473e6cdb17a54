"""The quote endpoint and the coupon rules behind it (the ones initialize uses too)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import update

from enrollpay.enrollments.models import Enrollment, EnrollmentStatus
from tests.conftest import assert_error
from tests.courses.factories import add_enrollment, create_coupon, create_course


def quote_url(course_id: str) -> str:
    return f"/api/v1/courses/{course_id}/quote"


def iso(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


async def test_quote_without_coupon_is_the_prd_example(client, admin_headers) -> None:
    course = await create_course(client, admin_headers, price=4999, discount_price=2999)
    response = await client.get(quote_url(course["id"]))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "original_amount": 4999,
        "course_discount": 2000,
        "coupon_discount": 0,
        "discount_applied": 2000,
        "final_amount": 2999,
        "tax_amount": 539.82,
        "total_payable": 3538.82,
        "currency": "INR",
        "coupon_code": None,
        "tax_rate": 0.18,
        "tax_inclusive": False,
    }
    # An empty coupon_code is no coupon.
    assert (await client.get(quote_url(course["id"]), params={"coupon_code": ""})).json() == (
        response.json()
    )


async def test_quote_with_coupon_case_insensitive(client, admin_headers) -> None:
    course = await create_course(client, admin_headers, price=4999, discount_price=2999)
    await create_coupon(client, admin_headers, code="SAVE10")
    response = await client.get(quote_url(course["id"]), params={"coupon_code": " save10 "})
    assert response.status_code == 200, response.text
    quote = response.json()
    assert quote["coupon_code"] == "SAVE10"
    assert quote["coupon_discount"] == 299.9
    assert quote["discount_applied"] == 2299.9
    assert quote["final_amount"] == 2699.1
    assert quote["tax_amount"] == 485.84
    assert quote["total_payable"] == 3184.94


async def test_flat_coupon_larger_than_the_price_makes_it_free(client, admin_headers) -> None:
    course = await create_course(client, admin_headers, price=499)
    await create_coupon(
        client, admin_headers, code="BIG", discount_type="flat", discount_value=1000
    )
    quote = (await client.get(quote_url(course["id"]), params={"coupon_code": "BIG"})).json()
    assert quote["coupon_discount"] == 499
    assert quote["total_payable"] == 0


async def test_unusable_coupons_all_give_the_same_answer(client, admin_headers) -> None:
    course = await create_course(client, admin_headers, price=4999, discount_price=2999)
    other = await create_course(client, admin_headers, title="Other")
    await create_coupon(client, admin_headers, code="OFF", active=False)
    await create_coupon(client, admin_headers, code="OLD", valid_until=iso(-timedelta(minutes=1)))
    await create_coupon(client, admin_headers, code="SOON", valid_from=iso(timedelta(hours=1)))
    await create_coupon(client, admin_headers, code="ELSEWHERE", course_ids=[other["id"]])
    # 3000 minimum vs 2999 after the course discount (before tax, though the total is 3538.82).
    await create_coupon(client, admin_headers, code="MIN3000", min_amount=3000)
    # ₹49.50 off a ₹50 course leaves 50 paise + GST: under Razorpay's ₹1 minimum.
    tiny = await create_course(client, admin_headers, title="Tiny", price=50)
    await create_coupon(
        client, admin_headers, code="ALMOST", discount_type="flat", discount_value=49.5
    )

    messages = set()
    for course_id, code in [
        (course["id"], "NOPE"),
        (course["id"], "OFF"),
        (course["id"], "OLD"),
        (course["id"], "SOON"),
        (course["id"], "ELSEWHERE"),
        (course["id"], "MIN3000"),
        (course["id"], "bad code!"),
        (tiny["id"], "ALMOST"),
    ]:
        response = await client.get(quote_url(course_id), params={"coupon_code": code})
        error = assert_error(response, 400, "invalid_coupon")
        messages.add((error["message"], error["hint"], str(error["details"])))
    assert len(messages) == 1  # no oracle: every reason reads the same

    # The scoped coupon works on its own course; the minimum is met at exactly 3000.
    assert (
        await client.get(quote_url(other["id"]), params={"coupon_code": "ELSEWHERE"})
    ).status_code == 200
    exact = await create_course(client, admin_headers, title="Exact", price=3000)
    assert (
        await client.get(quote_url(exact["id"]), params={"coupon_code": "MIN3000"})
    ).status_code == 200


async def test_global_limit_counts_live_holds(client, db, admin_headers, make_user) -> None:
    course = await create_course(client, admin_headers)
    other_course = await create_course(client, admin_headers, title="Other")
    coupon = await create_coupon(client, admin_headers, code="ONCE", max_redemptions=1)
    holder, holder_headers = await make_user()
    _, learner_headers = await make_user()

    hold = await add_enrollment(
        db,
        user_id=holder.id,
        course_id=course["id"],
        coupon_id=coupon["id"],
        status=EnrollmentStatus.pending,
    )
    for headers in ({}, learner_headers):
        response = await client.get(
            quote_url(other_course["id"]), params={"coupon_code": "ONCE"}, headers=headers
        )
        assert_error(response, 409, "coupon_exhausted")
    # The holder re-quoting the course they hold it for is not blocked by their own hold.
    own = await client.get(
        quote_url(course["id"]), params={"coupon_code": "ONCE"}, headers=holder_headers
    )
    assert own.status_code == 200, own.text

    # Released when the hold ends.
    async with db.transaction() as session:
        await session.execute(
            update(Enrollment).where(Enrollment.id == hold).values(status=EnrollmentStatus.expired)
        )
    response = await client.get(quote_url(other_course["id"]), params={"coupon_code": "ONCE"})
    assert response.status_code == 200


async def test_per_user_limit_needs_a_token(client, db, admin_headers, make_user) -> None:
    first = await create_course(client, admin_headers, title="First")
    second = await create_course(client, admin_headers, title="Second")
    coupon = await create_coupon(client, admin_headers, code="MINE", per_user_limit=1)
    user, headers = await make_user()
    await add_enrollment(db, user_id=user.id, course_id=first["id"], coupon_id=coupon["id"])

    assert_error(
        await client.get(quote_url(second["id"]), params={"coupon_code": "mine"}, headers=headers),
        409,
        "coupon_exhausted",
    )
    # Anonymous: the per-user limit cannot be known.
    anonymous = await client.get(quote_url(second["id"]), params={"coupon_code": "mine"})
    assert anonymous.status_code == 200
    _, other_headers = await make_user()
    fresh = await client.get(
        quote_url(second["id"]), params={"coupon_code": "MINE"}, headers=other_headers
    )
    assert fresh.status_code == 200


async def test_quote_for_unavailable_courses(client, admin_headers) -> None:
    draft = await create_course(client, admin_headers, status="draft")
    archived = await create_course(client, admin_headers, status="archived")
    assert_error(await client.get(quote_url(draft["id"])), 404, "not_found")
    assert_error(await client.get(quote_url("crs_01m8b8p0pw4f4rjckk3cr9chwj")), 404, "not_found")
    assert_error(await client.get(quote_url("anything")), 404, "not_found")
    assert_error(await client.get(quote_url(archived["id"])), 400, "course_not_available")
    assert_error(
        await client.get(quote_url(draft["id"]), params={"coupon_code": "x" * 101}),
        422,
        "validation_error",
    )
    assert_error(
        await client.get(quote_url(draft["id"]), headers={"Authorization": "Bearer junk"}),
        401,
        "unauthenticated",
    )


@pytest.mark.parametrize("settings_overrides", [{"TAX_RATE": "0.05", "TAX_INCLUSIVE": True}])
async def test_quote_follows_tax_settings(client, admin_headers) -> None:
    course = await create_course(client, admin_headers, price=1050)
    quote = (await client.get(quote_url(course["id"]))).json()
    assert (quote["final_amount"], quote["tax_amount"], quote["total_payable"]) == (1000, 50, 1050)
    assert (quote["tax_rate"], quote["tax_inclusive"]) == (0.05, True)
