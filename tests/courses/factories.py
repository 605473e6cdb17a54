"""Arranging catalog state for tests: courses and coupons through the admin API (so the same
validation applies), enrollments straight into the table (the enrollment flow comes later)."""

from __future__ import annotations

from typing import Any

import httpx

from enrollpay.db.engine import Database
from enrollpay.enrollments.models import Enrollment, EnrollmentStatus
from enrollpay.kit.clock import utcnow
from enrollpay.kit.ids import new_id


async def create_course(
    client: httpx.AsyncClient, admin_headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    body = {"title": "Course", "price": 4999, "status": "published", **fields}
    response = await client.post("/api/v1/admin/courses", json=body, headers=admin_headers)
    assert response.status_code == 201, response.text
    course: dict[str, Any] = response.json()
    return course


async def create_coupon(
    client: httpx.AsyncClient, admin_headers: dict[str, str], **fields: Any
) -> dict[str, Any]:
    body = {"code": "SAVE10", "discount_type": "percent", "discount_value": 10, **fields}
    response = await client.post("/api/v1/admin/coupons", json=body, headers=admin_headers)
    assert response.status_code == 201, response.text
    coupon: dict[str, Any] = response.json()
    return coupon


async def add_enrollment(
    db: Database,
    *,
    user_id: str,
    course_id: str,
    status: EnrollmentStatus = EnrollmentStatus.enrolled,
    coupon_id: str | None = None,
) -> str:
    enrollment_id = new_id("enr")
    async with db.transaction() as session:
        session.add(
            Enrollment(
                id=enrollment_id,
                user_id=user_id,
                course_id=course_id,
                status=status,
                coupon_id=coupon_id,
                original_amount=0,
                final_amount=0,
                total_payable=0,
                enrolled_at=utcnow() if status == EnrollmentStatus.enrolled else None,
            )
        )
    return enrollment_id
