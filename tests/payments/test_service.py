"""record_gateway_fact on real databases with the built-in sandbox: facts from any source apply
once, in any order, and follow-ups (capture, automatic refund) reach the gateway as jobs."""

from __future__ import annotations

import asyncio
from collections import Counter
from typing import Any

import pytest
import stamina
from sqlalchemy import func, select

from enrollpay.enrollments.models import Enrollment, EnrollmentStatus
from enrollpay.jobs.models import Job
from enrollpay.jobs.worker import Worker
from enrollpay.kit.ids import new_id
from enrollpay.payments.facts import FactSource, GatewayFact
from enrollpay.payments.models import Payment, PaymentAttempt, PaymentEvent
from enrollpay.payments.service import record_gateway_fact
from tests.courses.factories import create_course

SANDBOX = "/sandbox/razorpay"
AMOUNT = 353882  # 2999 + 18 % GST


@pytest.fixture(autouse=True)
def _no_backoff_waits():
    with stamina.set_testing(True, attempts=5, cap=True):
        yield


@pytest.fixture
async def pending(app: Any, client, db, make_user, admin_headers) -> dict[str, Any]:
    """A pending enrollment whose current payment has a real sandbox order."""
    user, _ = await make_user()
    course = await create_course(client, admin_headers, price=2999)
    enrollment_id, payment_id = new_id("enr"), new_id("pmt")
    order = await app.state.gateway.create_order(
        amount=AMOUNT, currency="INR", receipt=payment_id, notes={"enrollment_id": enrollment_id}
    )
    async with db.transaction() as session:
        session.add(
            Enrollment(
                id=enrollment_id,
                user_id=user.id,
                course_id=course["id"],
                status=EnrollmentStatus.pending,
                original_amount=299900,
                final_amount=299900,
                tax_amount=53982,
                total_payable=AMOUNT,
                currency="INR",
                current_payment_id=payment_id,
            )
        )
        await session.flush()
        session.add(
            Payment(
                id=payment_id,
                enrollment_id=enrollment_id,
                user_id=user.id,
                amount=AMOUNT,
                currency="INR",
                receipt=payment_id,
                razorpay_order_id=order.id,
            )
        )
    return {"enrollment_id": enrollment_id, "payment_id": payment_id, "order_id": order.id}


async def pay(client, order_id: str, **body: Any) -> dict[str, Any]:
    response = await client.post(
        f"{SANDBOX}/_sandbox/orders/{order_id}/pay",
        json={"outcome": "success", "method": "upi", "webhooks": False, **body},
    )
    assert response.status_code == 200, response.text
    return response.json()["payment"]


async def fact_for(app, razorpay_payment_id: str, source=FactSource.verify) -> GatewayFact:
    payment = await app.state.gateway.fetch_payment(razorpay_payment_id)
    return GatewayFact.from_payment(payment, source, reference="test")


async def apply(db, fact: GatewayFact) -> str:
    async with db.transaction() as session:
        return await record_gateway_fact(session, fact)


async def state(db, ids: dict[str, Any]) -> tuple[str, str, int, int]:
    async with db.transaction() as session:
        enrollment = await session.get(Enrollment, ids["enrollment_id"], populate_existing=True)
        payment = await session.get(Payment, ids["payment_id"], populate_existing=True)
        attempts = await session.scalar(select(func.count()).select_from(PaymentAttempt))
        events = await session.scalar(select(func.count()).select_from(PaymentEvent))
        return enrollment.status, payment.status, attempts, events


async def run_jobs(db, settings) -> None:
    worker = Worker(db, settings)
    for _ in range(10):
        if not await worker.run_once():
            return


async def test_capture_enrolls_once_however_often_it_is_reported(app, client, db, pending):
    paid = await pay(client, pending["order_id"])
    fact = await fact_for(app, paid["id"])
    assert await apply(db, fact) == "applied"
    assert await apply(db, await fact_for(app, paid["id"], FactSource.webhook)) == "duplicate"
    assert await state(db, pending) == ("enrolled", "captured", 1, 2)
    async with db.transaction() as session:
        enrollment = await session.get(Enrollment, pending["enrollment_id"])
        assert enrollment.enrolled_by == paid["id"] and enrollment.enrolled_at is not None


async def test_concurrent_reports_of_one_capture_apply_once(app, client, db, pending):
    paid = await pay(client, pending["order_id"])
    fact = await fact_for(app, paid["id"])
    outcomes = await asyncio.gather(*(apply(db, fact) for _ in range(10)))
    assert sorted(outcomes) == ["applied"] + ["duplicate"] * 9
    assert await state(db, pending) == ("enrolled", "captured", 1, 10)


async def test_failure_then_late_capture(app, client, db, pending):
    failed = await pay(client, pending["order_id"], outcome="failure", method="card")
    assert await apply(db, await fact_for(app, failed["id"])) == "applied"
    status, payment_status, *_ = await state(db, pending)
    assert (status, payment_status) == ("failed", "failed")
    async with db.transaction() as session:
        enrollment = await session.get(Enrollment, pending["enrollment_id"])
        assert enrollment.failure_reason
        attempt = (await session.execute(select(PaymentAttempt))).scalar_one()
        assert attempt.error_code and attempt.error_reason

    late = await client.post(f"{SANDBOX}/_sandbox/payments/{failed['id']}/capture-late", json={})
    assert late.status_code == 200, late.text
    assert await apply(db, await fact_for(app, failed["id"], FactSource.reconcile)) == "applied"
    assert (await state(db, pending))[:2] == ("enrolled", "captured")


async def test_wrong_amount_never_enrolls_and_is_refunded(app, client, db, settings, pending):
    paid = await pay(client, pending["order_id"], amount=AMOUNT - 1)
    assert await apply(db, await fact_for(app, paid["id"], FactSource.webhook)) == "applied"
    assert (await state(db, pending))[:2] == ("pending", "created")
    await run_jobs(db, settings)
    refunds = await app.state.gateway.payment_refunds(paid["id"])
    assert [r.amount for r in refunds] == [AMOUNT - 1]


async def test_capture_for_a_cancelled_enrollment_is_refunded_once(
    app, client, db, settings, pending
):
    async with db.transaction() as session:
        enrollment = await session.get(Enrollment, pending["enrollment_id"])
        enrollment.status = EnrollmentStatus.cancelled
    paid = await pay(client, pending["order_id"])
    for _ in range(3):
        await apply(db, await fact_for(app, paid["id"], FactSource.webhook))
    await run_jobs(db, settings)
    assert (await state(db, pending))[0] == "cancelled"
    assert len(await app.state.gateway.payment_refunds(paid["id"])) == 1
    async with db.transaction() as session:
        kinds = (await session.execute(select(Job.kind, Job.status))).all()
        assert [(k, s) for k, s in kinds if k == "payments.auto_refund"] == [
            ("payments.auto_refund", "done")
        ]


async def test_authorized_payment_is_captured_by_a_job(app, client, db, settings, pending):
    """An order with manual capture: the authorized fact makes us capture, then enroll."""
    config = app.state.sandbox_config
    manual = await client.post(
        f"{SANDBOX}/v1/orders",
        auth=(config.key_id, config.key_secret),
        json={"amount": AMOUNT, "currency": "INR", "payment": {"capture": "manual"}},
    )
    async with db.transaction() as session:
        payment = await session.get(Payment, pending["payment_id"])
        payment.razorpay_order_id = manual.json()["id"]
    authorized = await pay(client, manual.json()["id"], method="card")
    assert authorized["status"] == "authorized"
    assert await apply(db, await fact_for(app, authorized["id"])) == "applied"
    assert (await state(db, pending))[:2] == ("pending", "authorized")
    await run_jobs(db, settings)
    assert (await state(db, pending))[:2] == ("enrolled", "captured")


async def test_orders_of_other_products_are_not_ours(db):
    fact = GatewayFact(
        "pay_Other000000001", "order_Other00000001", "captured", 100, "INR", "webhook"
    )
    assert await apply(db, fact) == "not_ours"
    no_order = GatewayFact("pay_Other000000002", None, "captured", 100, "INR", "webhook")
    assert await apply(db, no_order) == "not_ours"
    async with db.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(PaymentEvent)) == 0


async def test_webhooks_alone_enroll_exactly_once(app, client, db, settings, pending):
    """The browser never reports back: the sandbox's signed webhooks (each delivered three
    times) reach our endpoint, go through the inbox and enroll the learner once."""
    behaviour = await client.post(f"{SANDBOX}/_sandbox/webhooks", json={"duplicate": 2})
    assert behaviour.status_code == 200, behaviour.text
    await pay(client, pending["order_id"], webhooks=True)
    await run_jobs(db, settings)
    deliveries = (await client.get(f"{SANDBOX}/_sandbox/deliveries")).json()["items"]
    assert deliveries and all(d["last_status_code"] == 200 for d in deliveries), deliveries
    per_event = Counter(d["event_id"] for d in deliveries)
    assert set(per_event.values()) == {3}  # every event really arrived three times
    status, payment_status, attempts, _ = await state(db, pending)
    assert (status, payment_status, attempts) == ("enrolled", "captured", 1)
