"""Convergence on real databases (the pure version is in test_state.py): the facts the sandbox
really produces for one pending enrollment — a failed attempt; an authorized and captured one;
a capture for the wrong amount; as webhook envelopes and as a verify fetch — applied through
`record_gateway_fact` in any order, each any number of times, always end in the same state and
the same automatic refunds. Every example gets a fresh learner, enrollment, payment and order."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import select

from enrollpay.enrollments.models import Enrollment, EnrollmentStatus
from enrollpay.jobs.models import Job
from enrollpay.kit.clock import utcnow
from enrollpay.kit.ids import new_id
from enrollpay.payments.facts import FactSource, GatewayFact
from enrollpay.payments.models import Payment, PaymentAttempt
from enrollpay.payments.service import record_gateway_fact
from enrollpay.sandbox.models import SandboxEvent
from enrollpay.webhooks import parsing
from tests.courses.factories import create_course

SANDBOX = "/sandbox/razorpay/_sandbox"
AMOUNT = 353882  # 2999 + 18 % GST
WRONG = AMOUNT - 100
ROLES = ("failed", "good", "wrong")


@pytest.fixture
def events_without_deliveries(app: Any) -> Iterator[None]:
    """The sandbox records its webhook events but sends none: the test hands them over."""
    config = app.state.sandbox_app.state.config
    app.state.sandbox_app.state.config = dataclasses.replace(config, webhook_url=None)
    yield
    app.state.sandbox_app.state.config = config


@dataclass(frozen=True)
class Scenario:
    enrollment_id: str
    payment_ids: tuple[str, str]  # the current payment, the superseded one
    pay_ids: dict[str, str]  # role → Razorpay payment id
    facts: list[GatewayFact]


async def _pay(client: Any, order_id: str, **body: Any) -> str:
    response = await client.post(
        f"{SANDBOX}/orders/{order_id}/pay",
        json={"method": "card", "webhooks": True, **body},
    )
    assert response.status_code == 200, response.text
    pay_id: str = response.json()["razorpay_payment_id"]
    return pay_id


async def fresh_scenario(app: Any, client: Any, db: Any, course_id: str, make_user) -> Scenario:
    """A new learner's pending enrollment with two real orders — the current one and an older,
    superseded one — paid three times in the sandbox: a failure and a success on the current
    order, a capture for the wrong amount on the old one. The facts are what the webhook
    envelopes say, plus a verify-style fetch of the good capture."""
    user, _ = await make_user(password=None)
    enrollment_id, payment_id, old_payment_id = new_id("enr"), new_id("pmt"), new_id("pmt")
    orders = {}
    for pmt in (old_payment_id, payment_id):
        orders[pmt] = await app.state.gateway.create_order(
            amount=AMOUNT, currency="INR", receipt=pmt, notes={"enrollment_id": enrollment_id}
        )
    async with db.transaction() as session:
        session.add(
            Enrollment(
                id=enrollment_id,
                user_id=user.id,
                course_id=course_id,
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
        for pmt, order in orders.items():
            session.add(
                Payment(
                    id=pmt,
                    enrollment_id=enrollment_id,
                    user_id=user.id,
                    amount=AMOUNT,
                    currency="INR",
                    receipt=pmt,
                    razorpay_order_id=order.id,
                    superseded_at=utcnow() if pmt == old_payment_id else None,
                )
            )
    current, old = orders[payment_id].id, orders[old_payment_id].id
    pay_ids = {
        "failed": await _pay(client, current, outcome="failure"),
        "good": await _pay(client, current, outcome="success"),
        "wrong": await _pay(client, old, outcome="success", amount=WRONG),
    }
    async with db.sessionmaker() as session:
        rows = (
            await session.execute(
                select(SandboxEvent)
                .where(SandboxEvent.order_id.in_([current, old]))
                .order_by(SandboxEvent.created)
            )
        ).scalars()
        facts = [
            fact
            for row in rows
            for fact in parsing.interpret(parsing.parse_envelope(row.body), row.id).facts
        ]
    fetched = await app.state.gateway.fetch_payment(pay_ids["good"])
    facts.append(GatewayFact.from_payment(fetched, FactSource.verify, reference="checkout"))
    seen = {(f.razorpay_payment_id, f.status, f.amount) for f in facts}
    # The sandbox really reported each kind of fact this test is about.
    assert (pay_ids["failed"], "failed", AMOUNT) in seen
    assert (pay_ids["good"], "authorized", AMOUNT) in seen
    assert (pay_ids["good"], "captured", AMOUNT) in seen
    assert (pay_ids["wrong"], "captured", WRONG) in seen
    return Scenario(enrollment_id, (payment_id, old_payment_id), pay_ids, facts)


async def end_state(db: Any, scenario: Scenario) -> tuple[Any, ...]:
    roles = {pay_id: role for role, pay_id in scenario.pay_ids.items()}
    async with db.sessionmaker() as session:
        enrollment = await session.get(Enrollment, scenario.enrollment_id)
        current = await session.get(Payment, scenario.payment_ids[0])
        old = await session.get(Payment, scenario.payment_ids[1])
        assert enrollment is not None and current is not None and old is not None
        attempts = (
            await session.execute(
                select(PaymentAttempt).where(PaymentAttempt.payment_id.in_(scenario.payment_ids))
            )
        ).scalars()
        refunds = [
            job.payload
            for job in (
                await session.execute(select(Job).where(Job.kind == "payments.auto_refund"))
            ).scalars()
            if job.payload["payment_id"] in scenario.payment_ids
        ]
        return (
            enrollment.status,
            roles.get(enrollment.enrolled_by or ""),
            enrollment.failure_reason,
            (current.status, current.amount_captured),
            (old.status, old.amount_captured),
            tuple(sorted((roles[a.razorpay_payment_id], a.status) for a in attempts)),
            tuple(
                sorted((roles[r["razorpay_payment_id"]], r["reason"], r["amount"]) for r in refunds)
            ),
        )


EXPECTED = (
    "enrolled",
    "good",
    None,
    ("captured", AMOUNT),
    ("created", 0),  # a wrong amount never moves our payment
    (("failed", "failed"), ("good", "captured"), ("wrong", "captured")),
    (("wrong", "amount_mismatch", WRONG),),
)


@pytest.fixture
async def course_id(client: Any, admin_headers: dict[str, str]) -> str:
    course: dict[str, Any] = await create_course(client, admin_headers, price=2999)
    return str(course["id"])


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(data=st.data())
async def test_any_order_and_repetition_of_real_facts_converges(
    app, client, db, course_id, make_user, events_without_deliveries, data
):
    scenario = await fresh_scenario(app, client, db, course_id, make_user)
    facts = scenario.facts
    repeats = data.draw(st.lists(st.sampled_from(facts), max_size=len(facts)), label="repeats")
    arrival = data.draw(st.permutations(facts + repeats), label="arrival")

    outcomes = []
    for fact in arrival:
        async with db.transaction() as session:
            outcomes.append(await record_gateway_fact(session, fact))

    assert await end_state(db, scenario) == EXPECTED
    # Every fact was ours; a fact applies at most once, a repeat never applies.
    assert len(outcomes) == len(arrival) and "not_ours" not in outcomes
    distinct = {(f.razorpay_payment_id, f.status) for f in facts}
    assert outcomes.count("applied") <= len(distinct)
    assert len(outcomes) - outcomes.count("applied") >= len(repeats)
