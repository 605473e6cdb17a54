"""The audit trail of the catalog: creating and changing courses and coupons records who did
what (the changed fields with their new values, as the API shows them), in the same
transaction as the change; a refused or empty change records nothing."""

from __future__ import annotations

from typing import Any

from enrollpay.users.models import Role
from tests.conftest import assert_error
from tests.courses.factories import create_coupon, create_course

ADMIN = "/api/v1/admin"


async def trail(client, headers, target_id: str) -> list[dict[str, Any]]:
    """The target's actions, oldest first."""
    response = await client.get(
        f"{ADMIN}/audit-log", params={"target_id": target_id}, headers=headers
    )
    assert response.status_code == 200, response.text
    return list(reversed(response.json()["items"]))


async def test_course_and_coupon_changes_are_recorded(client, make_user):
    admin, headers = await make_user(role=Role.admin, password=None)
    course = await create_course(
        client, headers, title="Python", price=4999, status="draft", capacity=30
    )
    coupon = await create_coupon(client, headers, code="save10", course_ids=[course["id"]])

    async def patch(kind: str, target_id: str, body: dict[str, Any]) -> Any:
        return await client.patch(f"{ADMIN}/{kind}/{target_id}", json=body, headers=headers)

    # Changes: the title and capacity stay as they were, so only price and status are named.
    response = await patch(
        "courses", course["id"], {"price": 3999.5, "status": "archived", "title": "Python"}
    )
    assert response.status_code == 200, response.text
    assert (await patch("courses", course["id"], {"capacity": None})).status_code == 200
    # Nothing changes: no entry. Refused (422): no entry either, the transaction rolled back.
    assert (await patch("courses", course["id"], {"status": "archived"})).status_code == 200
    assert_error(
        await patch("courses", course["id"], {"discount_price": 5000}), 422, "validation_error"
    )

    response = await patch("coupons", coupon["id"], {"active": False, "max_redemptions": 3})
    assert response.status_code == 200, response.text
    assert (await patch("coupons", coupon["id"], {"code": "SAVE10"})).status_code == 200
    assert_error(
        await patch("coupons", coupon["id"], {"discount_value": 101}), 422, "validation_error"
    )

    course_trail = await trail(client, headers, course["id"])
    assert [(a["action"], a["details"]) for a in course_trail] == [
        (
            "course.create",
            {
                "title": "Python",
                "description": "",
                "instructor": "",
                "price": 4999.0,
                "currency": "INR",
                "discount_price": None,
                "discount_starts_at": None,
                "discount_ends_at": None,
                "prerequisites": [],
                "duration_weeks": None,
                "enrollment_deadline": None,
                "capacity": 30,
                "refund_window_days": 7,
                "status": "draft",
                "access_url": None,
                "external_id": None,
            },
        ),
        ("course.update", {"price": 3999.5, "status": "archived"}),
        ("course.update", {"capacity": None}),
    ]
    coupon_trail = await trail(client, headers, coupon["id"])
    assert [(a["action"], a["details"]) for a in coupon_trail] == [
        (
            "coupon.create",
            {
                "code": "SAVE10",
                "discount_type": "percent",
                "discount_value": 10.0,
                "course_ids": [course["id"]],
                "valid_from": None,
                "valid_until": None,
                "max_redemptions": None,
                "per_user_limit": None,
                "min_amount": None,
                "active": True,
            },
        ),
        ("coupon.update", {"active": False, "max_redemptions": 3}),
    ]
    for action in course_trail + coupon_trail:
        assert action["actor_id"] == admin.id
        assert action["target_type"] in ("course", "coupon")
        assert action["enrollment_id"] is None
