"""Admin refunds: partial ones add up to at most the capture, the one that completes it ends
access, and the admin lists of refunds page with filters."""

from __future__ import annotations

import asyncio

from tests.conftest import assert_error
from tests.enrollments.helpers import API
from tests.refunds.conftest import (
    TOTAL,
    admin_refund,
    enroll,
    has_access,
    refunds,
    sandbox_refunds,
)


async def test_partial_refunds_never_exceed_the_capture(client, db, course, learner, admin_headers):
    _, headers = learner
    enrollment_id, paid_id = await enroll(client, headers, course["id"])

    first = await admin_refund(client, admin_headers, enrollment_id, amount=1000)
    assert first.status_code == 201, first.text
    assert (first.json()["amount"], first.json()["kind"]) == (1000, "admin")
    assert first.json()["enrollment_status"] == "enrolled"
    second = await admin_refund(client, admin_headers, enrollment_id, amount="2000.5")
    assert second.status_code == 201, second.text
    assert await has_access(client, headers, course["id"])

    left = TOTAL - 100000 - 200050  # ₹2,898.32
    too_much = await admin_refund(client, admin_headers, enrollment_id, amount="2898.33")
    error = assert_error(too_much, 400, "refund_not_allowed")
    assert error["details"]["refundable_amount"] == left / 100
    assert_error(
        await admin_refund(client, admin_headers, enrollment_id, amount=0.5),
        400,
        "refund_not_allowed",
    )
    bad = await admin_refund(client, admin_headers, enrollment_id, amount="1.005")
    assert_error(bad, 422, "validation_error")
    assert_error(await admin_refund(client, headers, enrollment_id), 403, "forbidden")
    assert_error(await admin_refund(client, admin_headers, "enr_nonsense"), 404, "not_found")

    rest = await admin_refund(client, admin_headers, enrollment_id)  # everything left
    assert rest.status_code == 201, rest.text
    assert rest.json()["amount"] == left / 100
    assert rest.json()["enrollment_status"] == "refunded"
    assert not await has_access(client, headers, course["id"])
    assert_error(
        await admin_refund(client, admin_headers, enrollment_id), 400, "refund_not_allowed"
    )

    gateway = await sandbox_refunds(db, paid_id)
    assert [r.amount for r in gateway] == [100000, 200050, left]
    assert sum(r.amount for r in await refunds(db)) == TOTAL

    page = await client.get(f"{API}/admin/refunds?kind=admin&limit=2", headers=admin_headers)
    assert page.status_code == 200, page.text
    assert [r["amount"] for r in page.json()["items"]] == [left / 100, 2000.5]
    cursor = page.json()["next_cursor"]
    rest_page = await client.get(
        f"{API}/admin/refunds?kind=admin&limit=2&cursor={cursor}", headers=admin_headers
    )
    assert [r["amount"] for r in rest_page.json()["items"]] == [1000]
    assert rest_page.json()["next_cursor"] is None
    learner_only = await client.get(f"{API}/admin/refunds?kind=learner", headers=admin_headers)
    assert learner_only.json()["items"] == []
    assert_error(await client.get(f"{API}/admin/refunds", headers=headers), 403, "forbidden")


async def test_concurrent_partial_refunds_stop_at_the_capture(
    client, db, course, learner, admin_headers
):
    _, headers = learner
    enrollment_id, paid_id = await enroll(client, headers, course["id"])

    responses = await asyncio.gather(
        *(admin_refund(client, admin_headers, enrollment_id, amount=2000) for _ in range(5))
    )

    accepted = [r for r in responses if r.status_code == 201]
    assert len(accepted) == 2, [r.text for r in responses]  # 2 x ₹2,000 of ₹5,898.82
    for response in responses:
        if response not in accepted:
            assert_error(response, 400, "refund_not_allowed")
    assert [r.amount for r in await sandbox_refunds(db, paid_id)] == [200000, 200000]
    assert sum(r.amount for r in await refunds(db)) <= TOTAL
