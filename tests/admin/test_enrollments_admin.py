"""The admin enrollments API (issue 8): search by every filter and every kind of `q`, one
enrollment with its money, its timeline after real journeys through the sandbox (a paid one
with a webhook, a partial refund and a platform webhook; a failed one that must say why), and
access granted without payment with the rules an operator expects."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
import stamina
from sqlalchemy import select, update

from enrollpay.enrollments.models import Enrollment, EnrollmentStatus
from enrollpay.jobs.models import Job
from enrollpay.kit.clock import utcnow
from enrollpay.notifications.rendering import IST
from enrollpay.payments.models import Payment, PaymentAttempt
from enrollpay.platform.outbound_models import WebhookMessage
from enrollpay.users.models import Role
from tests.conftest import MakeUser, assert_error
from tests.courses.factories import add_enrollment, create_course
from tests.enrollments.helpers import API, auto_refund_jobs, drain_jobs, initialize, pay, verify

ADMIN = f"{API}/admin"
TOTAL_MAJOR = 5898.82  # ₹4,999 + 18 % GST
# Connection refused at once: a platform endpoint whose deliveries fail without waiting.
DEAD_ENDPOINT = "http://127.0.0.1:9/hook"


@pytest.fixture(autouse=True)
def _no_backoff_waits():
    with stamina.set_testing(True, attempts=2, cap=True):
        yield


@pytest.fixture
async def admin_headers(make_user: MakeUser) -> dict[str, str]:
    _, headers = await make_user(role=Role.admin, email="admin@example.com", password=None)
    return headers


async def started(client: httpx.AsyncClient, headers: dict[str, str], course_id: str) -> Any:
    response = await initialize(client, headers, course_id)
    assert response.status_code in (200, 201), response.text
    return response.json()


def order_of(body: dict[str, Any]) -> str:
    order_id: str = body["payment_session"]["razorpay_order_id"]
    return order_id


async def search(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> Any:
    response = await client.get(f"{ADMIN}/enrollments", params=params, headers=headers)
    assert response.status_code == 200, response.text
    return response.json()


async def ids(client: httpx.AsyncClient, headers: dict[str, str], **params: Any) -> list[str]:
    return [item["id"] for item in (await search(client, headers, **params))["items"]]


async def timeline(
    client: httpx.AsyncClient, headers: dict[str, str], enrollment_id: str
) -> list[dict[str, Any]]:
    response = await client.get(f"{ADMIN}/enrollments/{enrollment_id}/timeline", headers=headers)
    assert response.status_code == 200, response.text
    assert response.json()["next_cursor"] is None
    items: list[dict[str, Any]] = response.json()["items"]
    assert [e["at"] for e in items] == sorted(e["at"] for e in items), "not in time order"
    return items


async def grant(
    client: httpx.AsyncClient, headers: dict[str, str], user_id: str, course_id: str, **extra: Any
) -> httpx.Response:
    body = {"user_id": user_id, "course_id": course_id, "reason": "Paid by bank transfer"}
    return await client.post(f"{ADMIN}/enrollments", json={**body, **extra}, headers=headers)


async def test_search_by_every_filter_and_kind_of_q(client, db, admin_headers, make_user):
    paid_course = await create_course(client, admin_headers, title="Paid", price=4999)
    free_course = await create_course(client, admin_headers, title="Free", price=0)
    alice, alice_headers = await make_user(email="alice@example.com", password=None)
    bob, bob_headers = await make_user(email="bob@example.org", password=None)
    carol, _ = await make_user(email="carol@example.com", password=None)

    alice_start = await started(client, alice_headers, paid_course["id"])
    paid = await pay(client, order_of(alice_start))
    assert (await verify(client, alice_headers, alice_start["enrollment_id"], paid)).json()[
        "enrollment_status"
    ] == "enrolled"
    bob_start = await started(client, bob_headers, paid_course["id"])
    bob_free = (await started(client, bob_headers, free_course["id"]))["enrollment_id"]
    carol_old = await add_enrollment(
        db, user_id=carol.id, course_id=free_course["id"], status=EnrollmentStatus.cancelled
    )
    async with db.transaction() as session:
        await session.execute(
            update(Enrollment)
            .where(Enrollment.id == carol_old)
            .values(created_at=utcnow() - timedelta(days=3))
        )
    alice_id, bob_paid = alice_start["enrollment_id"], bob_start["enrollment_id"]
    async with db.sessionmaker() as session:
        pmt_id = await session.scalar(select(Payment.id).where(Payment.enrollment_id == alice_id))
    newest_first = [carol_old, bob_free, bob_paid, alice_id]

    assert await ids(client, admin_headers) == newest_first
    assert await ids(client, admin_headers, status="pending") == [bob_paid]
    assert await ids(client, admin_headers, course_id=free_course["id"]) == [carol_old, bob_free]
    assert await ids(client, admin_headers, user_id=bob.id) == [bob_free, bob_paid]
    assert await ids(client, admin_headers, user_id=bob.id, status="enrolled") == [bob_free]
    for q, expected in [
        ("  ALICE@Example.COM ", [alice_id]),  # exact, any case
        ("example.com", [carol_old, alice_id]),  # a piece of it
        ("bob@", [bob_free, bob_paid]),
        ("%", []),  # a LIKE wildcard is a character like any other
        (bob_paid, [bob_paid]),
        (carol.id, [carol_old]),
        (pmt_id, [alice_id]),
        (order_of(bob_start), [bob_paid]),
        (paid["razorpay_payment_id"], [alice_id]),
        ("pay_unknown", []),
    ]:
        assert await ids(client, admin_headers, q=q) == expected, q

    today = utcnow().astimezone(IST).date()
    assert await ids(client, admin_headers, created_to=str(today - timedelta(days=2))) == [
        carol_old
    ]
    assert await ids(client, admin_headers, created_from=str(today)) == newest_first[1:]
    since = (utcnow() - timedelta(days=1)).isoformat()
    assert await ids(client, admin_headers, created_from=since) == newest_first[1:]
    assert (
        await ids(client, admin_headers, created_from=str(today), created_to=str(today))
        == (newest_first[1:])
    )

    first = await search(client, admin_headers, limit=3)
    rest = await search(client, admin_headers, limit=3, cursor=first["next_cursor"])
    assert [e["id"] for e in first["items"] + rest["items"]] == newest_first
    assert rest["next_cursor"] is None

    [item] = (await search(client, admin_headers, q=alice_id))["items"]
    assert item["status"] == "enrolled"
    assert (item["user_id"], item["user_email"]) == (alice.id, "alice@example.com")
    assert (item["course_id"], item["course_title"]) == (paid_course["id"], "Paid")
    assert (item["total_payable"], item["original_amount"], item["currency"]) == (
        TOTAL_MAJOR,
        4999,
        "INR",
    )
    assert (item["payment_id"], item["razorpay_order_id"], item["payment_status"]) == (
        pmt_id,
        order_of(alice_start),
        "captured",
    )
    assert item["enrolled_by"] == paid["razorpay_payment_id"]
    assert item["enrolled_at"] is not None and item["expires_at"] is None
    [pending] = (await search(client, admin_headers, q=bob_paid))["items"]
    assert pending["expires_at"] is not None and pending["payment_status"] == "created"

    detail = await client.get(f"{ADMIN}/enrollments/{alice_id}", headers=admin_headers)
    assert detail.status_code == 200, detail.text
    body = detail.json()
    assert {k: body[k] for k in item} == item
    [payment] = body["payments"]
    assert (payment["id"], payment["status"], payment["current"]) == (pmt_id, "captured", True)
    assert [a["razorpay_payment_id"] for a in payment["attempts"]] == [paid["razorpay_payment_id"]]
    assert body["refunds"] == [] and body["disputes"] == []

    for path in ("enr_0000000000000000000000000a", "nonsense"):
        assert_error(
            await client.get(f"{ADMIN}/enrollments/{path}", headers=admin_headers), 404, "not_found"
        )
        assert_error(
            await client.get(f"{ADMIN}/enrollments/{path}/timeline", headers=admin_headers),
            404,
            "not_found",
        )
    for params in ({"cursor": "crs_nope"}, {"created_from": "yesterday"}, {"status": "lost"}):
        response = await client.get(f"{ADMIN}/enrollments", params=params, headers=admin_headers)
        assert_error(response, 422, "validation_error")
    for path in ("", f"/{alice_id}", f"/{alice_id}/timeline"):
        response = await client.get(f"{ADMIN}/enrollments{path}", headers=alice_headers)
        assert_error(response, 403, "forbidden")


async def test_a_paid_journey_has_everything_in_its_timeline(
    client, db, settings, admin_headers, make_user
):
    endpoint = await client.post(
        f"{ADMIN}/webhook-endpoints", json={"url": DEAD_ENDPOINT}, headers=admin_headers
    )
    assert endpoint.status_code == 201, endpoint.text
    course = await create_course(client, admin_headers, price=4999)
    _, headers = await make_user(password=None)
    start = await started(client, headers, course["id"])
    enrollment_id = start["enrollment_id"]
    paid = await pay(client, order_of(start), webhooks=True)
    assert (await verify(client, headers, enrollment_id, paid)).status_code == 200
    await drain_jobs(db, settings)  # the webhook is processed, the receipt queued and sent
    refund = await client.post(
        f"{ADMIN}/enrollments/{enrollment_id}/refund",
        json={"amount": 1000, "reason": "Missed the first week"},
        headers=admin_headers,
    )
    assert refund.status_code == 201, refund.text

    events = await timeline(client, admin_headers, enrollment_id)

    kinds = {event["kind"] for event in events}
    assert kinds == {
        "enrollment",
        "payment",
        "payment_attempt",
        "payment_event",
        "checkout_call",
        "webhook",
        "job",
        "email",
        "refund",
        "outbound_webhook",
        "admin_action",
    }
    assert events[0]["kind"] == "enrollment" and events[0]["title"] == "Enrollment created"
    titles = [event["title"] for event in events]
    assert titles.index("Enrolled") > titles.index("Payment opened")
    webhooks = [e for e in events if e["kind"] == "webhook"]
    assert {e["title"] for e in webhooks} >= {"Razorpay webhook payment.captured"}
    assert all(e["reference_id"].startswith("whk_") for e in webhooks)
    assert {e["status"] for e in webhooks} == {"processed"}
    facts = [e for e in events if e["kind"] == "payment_event"]
    assert {f["title"] for f in facts} >= {
        "Gateway fact captured via verify",
        "Gateway fact captured via webhook",
    }
    assert {f["status"] for f in facts} >= {"applied", "duplicate"}
    assert {f["reference_id"] for f in facts} == {paid["razorpay_payment_id"]}
    assert {e["title"].split(": ")[1] for e in events if e["kind"] == "checkout_call"} == {
        "initialize",
        "verify",
    }
    jobs = {e["title"] for e in events if e["kind"] == "job"}
    # Found by the ids in their payloads: the enrollment's, an inbox row's, an email's, a
    # platform delivery's, a refund's.
    assert jobs == {
        "Job notifications.abandoned_checkout",
        "Job notifications.enrollment_confirmed",
        "Job webhooks.process_razorpay_event",
        "Job notifications.send_email",
        "Job platform.deliver_webhook",
        "Job refunds.submit",
    }
    assert all(e["reference_id"].startswith("job_") for e in events if e["kind"] == "job")
    [email] = [e for e in events if e["kind"] == "email"]
    assert email["title"].startswith("Email enrollment_confirmed to ")
    [outbound] = [e for e in events if e["kind"] == "outbound_webhook"]
    assert outbound["title"] == "Webhook enrollment.enrolled to platforms"
    [refund_event] = [e for e in events if e["kind"] == "refund"]
    assert refund_event["title"] == "Refund of ₹1,000.00 requested (admin)"
    assert refund_event["reference_id"] == refund.json()["id"]
    assert events[-1]["kind"] == "admin_action"
    assert events[-1]["title"] == "Admin action enrollment.refund"
    assert "reason: Missed the first week" in events[-1]["detail"]

    trail = await client.get(
        f"{ADMIN}/audit-log", params={"enrollment_id": enrollment_id}, headers=admin_headers
    )
    [action] = trail.json()["items"]
    assert action["action"] == "enrollment.refund"
    assert action["details"] == {
        "refund_id": refund.json()["id"],
        "amount": 1000,
        "currency": "INR",
        "reason": "Missed the first week",
    }


async def test_a_failed_payment_says_why_in_the_timeline(
    client, db, settings, admin_headers, make_user
):
    course = await create_course(client, admin_headers, price=4999)
    _, headers = await make_user(password=None)
    start = await started(client, headers, course["id"])
    failed = await pay(client, order_of(start), outcome="failure", method="card", webhooks=True)
    await drain_jobs(db, settings)
    async with db.sessionmaker() as session:
        attempt = await session.scalar(
            select(PaymentAttempt).where(
                PaymentAttempt.razorpay_payment_id == failed["razorpay_payment_id"]
            )
        )
    assert attempt is not None and attempt.error_description

    events = await timeline(client, admin_headers, start["enrollment_id"])

    [shown] = [e for e in events if e["kind"] == "payment_attempt"]
    assert shown["status"] == "failed"
    assert shown["reference_id"] == failed["razorpay_payment_id"]
    assert attempt.error_description in shown["detail"]
    assert f"{attempt.error_code}: " in shown["detail"]
    [item] = (await search(client, admin_headers, status="failed"))["items"]
    assert item["id"] == start["enrollment_id"] and item["failure_reason"]


async def test_grant_access_without_payment(client, db, settings, admin_headers, make_user):
    endpoint = await client.post(
        f"{ADMIN}/webhook-endpoints", json={"url": DEAD_ENDPOINT}, headers=admin_headers
    )
    assert endpoint.status_code == 201, endpoint.text
    course = await create_course(client, admin_headers, price=4999, capacity=2)
    ann, ann_headers = await make_user(password=None)
    ben, ben_headers = await make_user(password=None)
    cat, _ = await make_user(password=None)

    granted = await grant(client, admin_headers, ann.id, course["id"])
    assert granted.status_code == 201, granted.text
    body = granted.json()
    assert (body["status"], body["user_id"], body["course_id"]) == (
        "enrolled",
        ann.id,
        course["id"],
    )
    assert body["total_payable"] == 0 and body["original_amount"] == 0
    assert body["enrolled_at"] is not None and body["enrolled_by"] is None
    assert body["payment_id"] is None
    access = await client.get(f"{API}/courses/{course['id']}/access", headers=ann_headers)
    assert access.json()["has_access"] is True
    async with db.sessionmaker() as session:
        messages = (
            await session.scalars(
                select(WebhookMessage.event_type).where(WebhookMessage.enrollment_id == body["id"])
            )
        ).all()
        receipt_jobs = (
            await session.scalars(
                select(Job.kind).where(Job.kind == "notifications.enrollment_confirmed")
            )
        ).all()
    assert list(messages) == ["enrollment.enrolled"]
    assert list(receipt_jobs) == ["notifications.enrollment_confirmed"]
    events = await timeline(client, admin_headers, body["id"])
    enrolled = next(e for e in events if e["title"] == "Enrolled")
    assert enrolled["detail"] == "Access granted by an admin"
    trail = (
        await client.get(
            f"{ADMIN}/audit-log", params={"target_id": body["id"]}, headers=admin_headers
        )
    ).json()["items"]
    assert [(a["action"], a["details"]) for a in trail] == [
        (
            "enrollment.grant",
            {
                "reason": "Paid by bank transfer",
                "course_id": course["id"],
                "user_id": ann.id,
                "replaced": None,
            },
        )
    ]

    again = assert_error(
        await grant(client, admin_headers, ann.id, course["id"]), 409, "already_enrolled"
    )
    assert again["details"]["enrollment_id"] == body["id"]

    # Ben is paying: his pending enrollment makes way, and his order cannot enroll him later.
    ben_start = await started(client, ben_headers, course["id"])
    replacing = await grant(client, admin_headers, ben.id, course["id"])
    assert replacing.status_code == 201, replacing.text
    async with db.sessionmaker() as session:
        old = await session.get(Enrollment, ben_start["enrollment_id"])
        old_payment = await session.scalar(
            select(Payment).where(Payment.enrollment_id == ben_start["enrollment_id"])
        )
    assert old is not None and old.status == EnrollmentStatus.cancelled and old.cancel_reason
    assert old_payment is not None and old_payment.superseded_at is not None
    [replaced] = (
        await client.get(
            f"{ADMIN}/audit-log",
            params={"target_id": replacing.json()["id"]},
            headers=admin_headers,
        )
    ).json()["items"]
    assert replaced["details"]["replaced"] == ben_start["enrollment_id"]
    late = await pay(client, order_of(ben_start))
    assert (await verify(client, ben_headers, ben_start["enrollment_id"], late)).status_code == 200
    assert len(await auto_refund_jobs(db, payment_ids=[old_payment.id])) == 1

    # Two seats, both taken.
    assert_error(await grant(client, admin_headers, cat.id, course["id"]), 409, "course_full")

    draft = await create_course(client, admin_headers, status="draft")
    for user_id, course_id in [
        ("usr_0000000000000000000000000a", course["id"]),
        (cat.id, "crs_0000000000000000000000000a"),
        (cat.id, draft["id"]),
    ]:
        assert_error(await grant(client, admin_headers, user_id, course_id), 404, "not_found")
    for extra in ({"reason": " "}, {"reason": "x" * 501}, {"amount": 0}):
        response = await grant(client, admin_headers, cat.id, course["id"], **extra)
        assert_error(response, 422, "validation_error")
    assert_error(await grant(client, ann_headers, cat.id, course["id"]), 403, "forbidden")
    async with db.sessionmaker() as session:
        cat_enrollments = (
            await session.scalars(select(Enrollment.id).where(Enrollment.user_id == cat.id))
        ).all()
    assert list(cat_enrollments) == []
