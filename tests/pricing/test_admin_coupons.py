"""Admin coupons: create, read, list, partial update, refusals that write nothing."""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import func, select

from enrollpay.enrollments.models import EnrollmentStatus
from enrollpay.pricing.models import Coupon, CouponCourse
from tests.conftest import assert_error
from tests.courses.factories import add_enrollment, create_coupon, create_course

URL = "/api/v1/admin/coupons"
UNKNOWN_COURSE = "crs_01m8b8p0pw4f4rjckk3cr9chwj"


async def count_rows(db: Any, model: Any) -> int:
    async with db.transaction() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def test_create_coupon_with_every_field(client, db, admin_headers) -> None:
    course = await create_course(client, admin_headers)
    body = {
        "code": " save-10_x ",
        "discount_type": "percent",
        "discount_value": 12.5,
        "course_ids": [course["id"]],
        "valid_from": "2020-01-01T00:00:00Z",
        "valid_until": "2099-01-01T05:30:00+05:30",
        "max_redemptions": 100,
        "per_user_limit": 1,
        "min_amount": 999.99,
        "active": True,
    }
    response = await client.post(URL, json=body, headers=admin_headers)
    assert response.status_code == 201, response.text
    coupon = response.json()
    assert coupon["id"].startswith("cpn_")
    assert coupon["code"] == "SAVE-10_X"  # normalised
    assert coupon["discount_value"] == 12.5
    assert coupon["course_ids"] == [course["id"]]
    assert coupon["valid_until"] == "2099-01-01T00:00:00Z"
    assert coupon["min_amount"] == 999.99
    assert coupon["redemptions"] == 0
    async with db.transaction() as session:
        row = await session.get(Coupon, coupon["id"])
        assert row is not None
        assert (row.discount_value, row.min_amount) == (1250, 99999)  # basis points, paise

    fetched = await client.get(f"{URL}/{coupon['id']}", headers=admin_headers)
    assert fetched.json() == coupon


async def test_flat_coupon_defaults(client, admin_headers) -> None:
    coupon = await create_coupon(
        client, admin_headers, code="FLAT500", discount_type="flat", discount_value=500
    )
    assert coupon["discount_type"] == "flat" and coupon["discount_value"] == 500
    assert coupon["course_ids"] == []
    assert coupon["active"] is True
    assert coupon["max_redemptions"] is None and coupon["per_user_limit"] is None
    assert coupon["valid_from"] is None and coupon["min_amount"] is None


BAD_CREATES: list[tuple[dict[str, Any], str]] = [
    ({"discount_value": 150}, "discount_value"),
    ({"discount_value": 100.01}, "discount_value"),
    ({"discount_value": 0}, "discount_value"),
    ({"discount_value": -5}, "discount_value"),
    ({"discount_value": 10.005}, "discount_value"),
    ({"discount_type": "flat", "discount_value": 1.001}, "discount_value"),
    ({"discount_type": "bogus"}, "discount_type"),
    ({"code": "AB"}, "code"),
    ({"code": "x" * 41}, "code"),
    ({"code": "SAVE 10"}, "code"),
    ({"code": "SAVÉ10"}, "code"),
    ({"code": None}, "code"),
    ({"course_ids": [UNKNOWN_COURSE]}, "course_ids.0"),
    ({"course_ids": ["nope"]}, "course_ids.0"),
    ({"valid_from": "2030-01-02T00:00:00Z", "valid_until": "2030-01-01T00:00:00Z"}, "valid_until"),
    ({"valid_until": "2030-01-01T00:00:00"}, "valid_until"),
    ({"max_redemptions": 0}, "max_redemptions"),
    ({"per_user_limit": -1}, "per_user_limit"),
    ({"per_user_limit": "2"}, "per_user_limit"),
    ({"min_amount": -1}, "min_amount"),
    ({"min_amount": 1.234}, "min_amount"),
    ({"active": "yes"}, "active"),
    ({"redemptions": 5}, "redemptions"),
]


async def test_create_refuses_bad_input_and_writes_nothing(client, db, admin_headers) -> None:
    for changes, field in BAD_CREATES:
        body = {"code": "SAVE10", "discount_type": "percent", "discount_value": 10, **changes}
        response = await client.post(URL, json=body, headers=admin_headers)
        error = assert_error(response, 422, "validation_error")
        assert field in [p["field"] for p in error["details"]["fields"]], (changes, error)
    assert await count_rows(db, Coupon) == 0


async def test_codes_are_unique_case_insensitively(client, db, admin_headers) -> None:
    await create_coupon(client, admin_headers, code="SAVE10")
    response = await client.post(
        URL,
        json={"code": "save10", "discount_type": "flat", "discount_value": 1},
        headers=admin_headers,
    )
    assert_error(response, 409, "coupon_code_taken")
    assert await count_rows(db, Coupon) == 1


async def test_patch_changes_only_the_fields_sent(client, admin_headers) -> None:
    a = await create_course(client, admin_headers, title="A")
    b = await create_course(client, admin_headers, title="B")
    coupon = await create_coupon(client, admin_headers, course_ids=[a["id"]], max_redemptions=5)
    response = await client.patch(
        f"{URL}/{coupon['id']}",
        json={"course_ids": [b["id"], a["id"]], "max_redemptions": None, "active": False},
        headers=admin_headers,
    )
    assert response.status_code == 200, response.text
    updated = response.json()
    assert sorted(updated["course_ids"]) == sorted([a["id"], b["id"]])
    assert updated["max_redemptions"] is None and updated["active"] is False
    assert (updated["code"], updated["discount_value"]) == (
        coupon["code"],
        coupon["discount_value"],
    )

    # Switching to flat re-reads the value in rupees.
    flat = await client.patch(
        f"{URL}/{coupon['id']}",
        json={"discount_type": "flat", "discount_value": 250.5},
        headers=admin_headers,
    )
    assert (flat.json()["discount_type"], flat.json()["discount_value"]) == ("flat", 250.5)


async def test_patch_refusals_change_nothing(client, db, admin_headers) -> None:
    await create_coupon(client, admin_headers, code="TAKEN")
    coupon = await create_coupon(
        client, admin_headers, code="FLAT", discount_type="flat", discount_value=500
    )
    bad: list[tuple[dict[str, Any], int, str]] = [
        ({"discount_type": "percent"}, 422, "validation_error"),  # 500 % once read as percent
        ({"code": None}, 422, "validation_error"),
        ({"active": None}, 422, "validation_error"),
        ({"course_ids": [UNKNOWN_COURSE]}, 422, "validation_error"),
        (
            {"valid_from": "2099-01-02T00:00:00Z", "valid_until": "2099-01-01T00:00:00Z"},
            422,
            "validation_error",
        ),
        ({"uses": 3}, 422, "validation_error"),
        ({"code": "taken"}, 409, "coupon_code_taken"),
    ]
    for body, status, code in bad:
        response = await client.patch(
            f"{URL}/{coupon['id']}", json={"active": False, **body}, headers=admin_headers
        )
        assert_error(response, status, code)
    after = await client.get(f"{URL}/{coupon['id']}", headers=admin_headers)
    assert after.json() == coupon
    assert await count_rows(db, CouponCourse) == 0


async def test_redemptions_count_live_holds(client, db, admin_headers, make_user) -> None:
    course = await create_course(client, admin_headers)
    coupon = await create_coupon(client, admin_headers)
    user, _ = await make_user()
    other, _ = await make_user()
    await add_enrollment(
        db,
        user_id=user.id,
        course_id=course["id"],
        coupon_id=coupon["id"],
        status=EnrollmentStatus.pending,
    )
    await add_enrollment(
        db,
        user_id=other.id,
        course_id=course["id"],
        coupon_id=coupon["id"],
        status=EnrollmentStatus.expired,
    )
    view = (await client.get(f"{URL}/{coupon['id']}", headers=admin_headers)).json()
    assert view["redemptions"] == 1


async def test_list_filter_and_cursor(client, admin_headers) -> None:
    first = await create_coupon(client, admin_headers, code="ONE")
    second = await create_coupon(client, admin_headers, code="TWO", active=False)
    third = await create_coupon(client, admin_headers, code="THREE")
    page = (await client.get(URL, params={"limit": 2}, headers=admin_headers)).json()
    assert [c["id"] for c in page["items"]] == [first["id"], second["id"]]
    rest = (
        await client.get(
            URL, params={"limit": 2, "cursor": page["next_cursor"]}, headers=admin_headers
        )
    ).json()
    assert [c["id"] for c in rest["items"]] == [third["id"]] and rest["next_cursor"] is None
    inactive = (await client.get(URL, params={"active": "false"}, headers=admin_headers)).json()
    assert [c["id"] for c in inactive["items"]] == [second["id"]]
    for params in (
        {"cursor": "crs_01m8b8p0pw4f4rjckk3cr9chwj"},
        {"limit": 500},
        {"active": "maybe"},
    ):
        assert_error(
            await client.get(URL, params=params, headers=admin_headers), 422, "validation_error"
        )


async def test_unknown_coupon_is_404(client, admin_headers) -> None:
    for coupon_id in ("cpn_01m8b8p0pw4f4rjckk3cr9chwj", "SAVE10"):
        assert_error(
            await client.get(f"{URL}/{coupon_id}", headers=admin_headers), 404, "not_found"
        )
        assert_error(
            await client.patch(f"{URL}/{coupon_id}", json={"active": False}, headers=admin_headers),
            404,
            "not_found",
        )


async def test_admin_routes_need_an_admin(client, learner_headers) -> None:
    coupon_url = f"{URL}/cpn_01m8b8p0pw4f4rjckk3cr9chwj"
    body = {"code": "SAVE10", "discount_type": "percent", "discount_value": 10}
    for method, url, payload in [
        ("GET", URL, None),
        ("POST", URL, body),
        ("GET", coupon_url, None),
        ("PATCH", coupon_url, {"active": False}),
    ]:
        assert_error(
            await client.request(method, url, json=payload, headers=learner_headers),
            403,
            "forbidden",
        )
        assert_error(await client.request(method, url, json=payload), 401, "unauthenticated")


async def test_concurrent_duplicate_codes_give_one_coupon_and_one_409(
    client, db, admin_headers
) -> None:
    body = {"code": "RACE", "discount_type": "flat", "discount_value": 10}
    responses = await asyncio.gather(
        *(client.post(URL, json=body, headers=admin_headers) for _ in range(4))
    )
    statuses = sorted(response.status_code for response in responses)
    assert statuses == [201, 409, 409, 409], [r.text for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert_error(response, 409, "coupon_code_taken")
    assert await count_rows(db, Coupon) == 1
