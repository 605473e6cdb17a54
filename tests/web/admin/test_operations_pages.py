"""The console's operations pages render their rows, link ids to their pages, offer Replay and
Retry exactly where the API would accept them, never answer 422 to a bad filter, and stay
closed to learners."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from typing import Any

from enrollpay.admin.service import record_admin_action
from enrollpay.jobs.models import Job
from enrollpay.kit.clock import utcnow
from enrollpay.kit.ids import new_id
from enrollpay.payments.models import Payment, PaymentEvent
from enrollpay.reconciliation.repository import RECONCILE_REFERENCE
from enrollpay.refunds.models import Dispute, Refund
from enrollpay.webhooks.models import WebhookEvent
from tests.conftest import TEST_PASSWORD
from tests.courses.factories import add_enrollment, create_course

OPERATIONS_PAGES = (
    "/admin/webhook-events",
    "/admin/jobs",
    "/admin/refunds",
    "/admin/reconciliation",
    "/admin/disputes",
    "/admin/audit-log",
)


def rows_of(html: str) -> list[str]:
    """The table body's rows, in page order."""
    body = html.split("<tbody>", 1)[1].split("</tbody>", 1)[0] if "<tbody>" in html else ""
    return re.findall(r"<tr>(.*?)</tr>", body, flags=re.S)


def inbox_row(status: str, body: bytes, **values: Any) -> WebhookEvent:
    now = utcnow()
    return WebhookEvent(
        id=new_id("whk"),
        event_id=f"Evt{status}",
        event_id_derived=False,
        raw_body=body.decode(),
        body_encoding="utf-8",
        body_sha256=hashlib.sha256(body).hexdigest(),
        headers={"x-razorpay-event-id": f"Evt{status}", "user-agent": "Razorpay-Webhook/v1"},
        received_at=now,
        deliveries=1,
        attempts=0 if status == "pending" else 1,
        replays=0,
        status=status,
        processed_at=None if status == "pending" else now,
        **values,
    )


async def test_webhook_inbox_and_one_event(client, admin, db):
    envelope = {"event": "payment.captured", "payload": {"payment": {"entity": {"id": "pay_P1"}}}}
    processed = inbox_row(
        "processed",
        json.dumps(envelope, separators=(",", ":")).encode(),
        event="payment.captured",
        outcome="applied",
        razorpay_payment_id="pay_P1",
        razorpay_order_id="order_O1",
    )
    failed = inbox_row(
        "failed", b"<not json>", outcome="unusable body", last_error="not a JSON object"
    )
    pending = inbox_row("pending", b'{"event":"order.paid"}', event="order.paid")
    async with db.transaction() as session:
        session.add_all([processed, failed, pending])

    html = (await client.get("/admin/webhook-events")).text
    rows = rows_of(html)
    assert [pending.id in rows[0], failed.id in rows[1], processed.id in rows[2]] == [True] * 3
    assert '<span class="tag ok">processed</span>' in rows[2]
    assert '<span class="tag bad">failed</span>' in rows[1] and "not a JSON object" in rows[1]
    assert f'href="/admin/webhook-events/{processed.id}"' in rows[2]
    assert 'href="/admin/enrollments?q=pay_P1"' in rows[2]
    assert 'href="/admin/enrollments?q=order_O1"' in rows[2]
    filtered = rows_of((await client.get("/admin/webhook-events?status=failed")).text)
    assert len(filtered) == 1 and failed.id in filtered[0]
    assert (
        '<option value="failed" selected>'
        in (await client.get("/admin/webhook-events?status=failed")).text
    )
    # A filter or cursor the API would refuse (422) is ignored by the page.
    lenient = await client.get("/admin/webhook-events?status=bogus&cursor=nonsense")
    assert lenient.status_code == 200 and len(rows_of(lenient.text)) == 3

    page = await client.get(f"/admin/webhook-events/{processed.id}")
    assert page.status_code == 200
    assert "<h1>payment.captured" in page.text
    assert "&#34;event&#34;: &#34;payment.captured&#34;,\n  &#34;payload&#34;" in page.text
    assert "<code>x-razorpay-event-id</code></td><td><code>Evtprocessed</code>" in page.text
    assert f'data-api-url="/api/v1/admin/webhook-events/{processed.id}/replay"' in page.text
    assert "data-confirm=" in page.text
    failed_page = (await client.get(f"/admin/webhook-events/{failed.id}")).text
    assert '<pre tabindex="0">&lt;not json&gt;</pre>' in failed_page and "/replay" in failed_page
    pending_page = (await client.get(f"/admin/webhook-events/{pending.id}")).text
    assert "/replay" not in pending_page  # already queued for processing
    missing = await client.get("/admin/webhook-events/whk_nope")
    assert missing.status_code == 404 and "No such webhook event" in missing.text


async def test_jobs_list_and_one_job(client, admin, db):
    now, enrollment_id = utcnow(), new_id("enr")
    ids = {status: new_id("job") for status in ("done", "dead", "pending")}
    async with db.transaction() as session:
        for status, job_id in ids.items():
            session.add(
                Job(
                    id=job_id,
                    kind="payments.auto_refund",
                    payload={"payment_id": "pmt_1", "enrollment_id": enrollment_id, "amount": 100},
                    status=status,
                    attempts=3 if status == "dead" else 1,
                    max_attempts=3,
                    run_at=now - timedelta(minutes=1),
                    last_error="GatewayError: " + "x" * 300 if status == "dead" else None,
                )
            )

    html = (await client.get("/admin/jobs")).text  # dead ones by default
    rows = rows_of(html)
    assert len(rows) == 1 and ids["dead"] in rows[0]
    assert '<option value="dead" selected>' in html and 'href="/admin/jobs?status=all"' in html
    assert "3/3" in rows[0] and '<span class="tag bad">dead</span>' in rows[0]
    assert "GatewayError: " in rows[0] and "x" * 300 not in rows[0]  # an excerpt
    assert f'data-api-url="/api/v1/admin/jobs/{ids["dead"]}/retry"' in rows[0]
    everything = rows_of((await client.get("/admin/jobs?status=all")).text)
    assert [row for row in everything if "/retry" in row] == [rows[0]]
    assert len(everything) == 3 and ids["pending"] in everything[0]
    pending = rows_of(
        (await client.get("/admin/jobs?status=pending&kind=payments.auto_refund")).text
    )
    assert len(pending) == 1 and ids["pending"] in pending[0]
    assert rows_of((await client.get("/admin/jobs?status=all&kind=other.kind")).text) == []

    dead_page = (await client.get(f"/admin/jobs/{ids['dead']}")).text
    assert f'data-api-url="/api/v1/admin/jobs/{ids["dead"]}/retry"' in dead_page
    assert f"&#34;enrollment_id&#34;: &#34;{enrollment_id}&#34;" in dead_page  # as JSON
    assert f'<a class="id" href="/admin/enrollments/{enrollment_id}">{enrollment_id}</a>' in (
        dead_page
    )
    assert ">pmt_1</a>" not in dead_page  # only ids of pages are links
    assert "x" * 300 in dead_page  # the whole error
    done_page = (await client.get(f"/admin/jobs/{ids['done']}")).text
    assert ids["done"] in done_page and "/retry" not in done_page
    missing = await client.get("/admin/jobs/job_nope")
    assert missing.status_code == 404 and "No such job" in missing.text


async def test_refunds_reconciliation_and_disputes(client, admin, db, make_user):
    _, admin_headers = admin
    course = await create_course(client, admin_headers)
    learner, _ = await make_user(password=None)
    enrollment_id = await add_enrollment(db, user_id=learner.id, course_id=course["id"])
    payment_id, now = new_id("pmt"), utcnow()
    automatic_id, admin_refund_id, repair_id = new_id("rfd"), new_id("rfd"), new_id("evt")
    async with db.transaction() as session:
        session.add(
            Payment(
                id=payment_id,
                enrollment_id=enrollment_id,
                user_id=learner.id,
                amount=589882,
                currency="INR",
                status="captured",
                receipt=payment_id,
                razorpay_order_id="order_R1",
                amount_captured=589882,
            )
        )
        await session.flush()
        session.add_all(
            [
                PaymentEvent(
                    id=repair_id,
                    payment_id=payment_id,
                    razorpay_payment_id="pay_R1",
                    source="reconcile",
                    status="captured",
                    amount=589882,
                    currency="INR",
                    outcome="applied",
                    note="captured: enrolled",
                    reference=RECONCILE_REFERENCE,
                    actions=[{"action": "capture", "amount": 589882}],
                    created_at=now,
                ),
                Refund(
                    id=automatic_id,
                    payment_id=payment_id,
                    enrollment_id=enrollment_id,
                    razorpay_payment_id="pay_R1",
                    amount=589882,
                    currency="INR",
                    status="processed",
                    kind="automatic",
                    reason="second capture for an enrolled learner",
                    idempotency_key="auto-1",
                    processed_at=now,
                ),
                Refund(
                    id=admin_refund_id,
                    payment_id=payment_id,
                    enrollment_id=enrollment_id,
                    razorpay_payment_id="pay_R1",
                    amount=10000,
                    currency="INR",
                    status="failed",
                    kind="admin",
                    reason="goodwill",
                    failure_reason="insufficient balance",
                    idempotency_key="admin-1",
                ),
                Dispute(
                    id=new_id("dsp"),
                    razorpay_dispute_id="disp_D1",
                    razorpay_payment_id="pay_R1",
                    payment_id=payment_id,
                    enrollment_id=enrollment_id,
                    amount=589882,
                    amount_deducted=589882,
                    currency="INR",
                    reason_code="chargeback",
                    status="lost",
                    phase="chargeback",
                    last_event="payment.dispute.lost",
                    last_event_at=now,
                    note="Access revoked.",
                ),
            ]
        )
    enrollment_link = f'href="/admin/enrollments/{enrollment_id}"'

    refunds = rows_of((await client.get("/admin/refunds")).text)
    assert [admin_refund_id in refunds[0], automatic_id in refunds[1]] == [True, True]
    assert all(enrollment_link in row for row in refunds)
    assert "automatic" in refunds[1] and "₹5,898.82" in refunds[1]
    assert '<span class="tag ok">processed</span>' in refunds[1]
    assert "goodwill" in refunds[0] and "insufficient balance" in refunds[0]
    assert "₹100.00" in refunds[0] and 'href="/admin/enrollments?q=pay_R1"' in refunds[0]
    only_automatic = rows_of((await client.get("/admin/refunds?kind=automatic")).text)
    assert len(only_automatic) == 1 and automatic_id in only_automatic[0]
    failed = rows_of((await client.get("/admin/refunds?status=failed&kind=bogus")).text)
    assert len(failed) == 1 and admin_refund_id in failed[0]

    html = (await client.get("/admin/reconciliation")).text
    repairs_html, automatic_html = html.split("<h2>Automatic refunds</h2>")
    (repair,) = rows_of(repairs_html)
    assert repair_id in repair and enrollment_link in repair
    assert "captured: enrolled" in repair and "₹5,898.82" in repair
    assert "&#34;action&#34;: &#34;capture&#34;" in repair
    (automatic,) = rows_of(automatic_html)
    assert automatic_id in automatic and "second capture for an enrolled learner" in automatic
    assert admin_refund_id not in html

    (dispute,) = rows_of((await client.get("/admin/disputes")).text)
    assert "disp_D1" in dispute and enrollment_link in dispute
    assert '<span class="tag bad">lost</span>' in dispute and "Access revoked." in dispute
    assert "₹5,898.82" in dispute and "payment.dispute.lost" in dispute
    assert rows_of((await client.get("/admin/disputes?status=won")).text) == []


async def test_audit_trail_and_the_door(client, admin, db, make_user):
    admin_user, _ = admin
    job_id, course_id = new_id("job"), new_id("crs")
    async with db.transaction() as session:
        await record_admin_action(
            session,
            None,
            "course.update",
            target_type="course",
            target_id=course_id,
            details={"fields": ["price"]},
        )
        await record_admin_action(
            session,
            admin_user,
            "job.retry",
            target_type="job",
            target_id=job_id,
            enrollment_id="enr_A1",
            details={"kind": "payments.capture"},
        )

    rows = rows_of((await client.get("/admin/audit-log")).text)
    assert len(rows) == 2
    newest, oldest = rows
    assert admin_user.email in newest
    assert f'href="/admin/audit-log?actor_id={admin_user.id}"' in newest
    assert f'<a class="id" href="/admin/jobs/{job_id}">{job_id}</a>' in newest
    assert 'href="/admin/enrollments/enr_A1"' in newest
    assert "{&#34;kind&#34;: &#34;payments.capture&#34;}" in newest
    assert "command line" in oldest and f'href="/admin/courses/{course_id}"' in oldest
    (filtered,) = rows_of((await client.get("/admin/audit-log?action=job.retry")).text)
    assert job_id in filtered
    assert rows_of((await client.get(f"/admin/audit-log?actor_id={admin_user.id}")).text) == [
        newest
    ]

    learner, _ = await make_user(email="learner@example.com")
    await client.post("/login", data={"email": learner.email, "password": TEST_PASSWORD})
    for path in OPERATIONS_PAGES:
        response = await client.get(path)
        assert response.status_code == 403 and "This page is for admins" in response.text, path
    await client.post("/logout", data={"csrf_token": client.cookies.get("csrf", "")})
    client.cookies.clear()
    response = await client.get("/admin/jobs?status=all")
    assert response.status_code == 303
    assert response.headers["location"] == "/login?next=/admin/jobs%3Fstatus%3Dall"
