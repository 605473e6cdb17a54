"""The transition function: explicit cases for every rule, and hypothesis checking that any order
and repetition of the same gateway facts ends in the same state."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from enrollpay.enrollments.models import EnrollmentStatus
from enrollpay.payments.facts import FactSource, FactStatus, GatewayFact
from enrollpay.payments.state import (
    AutoRefund,
    AutoRefundReason,
    Capture,
    EnrollmentSnapshot,
    Outcome,
    PaymentSnapshot,
    PaymentStatus,
    transition,
)

E = EnrollmentStatus
F = FactStatus


def fact(status: FactStatus, pay_id: str = "pay_A", order: str = "order_1", amount: int = 353882):
    return GatewayFact(pay_id, order, status, amount, "INR", FactSource.webhook)


def payment(status: PaymentStatus = PaymentStatus.created, current: bool = True, amount=353882):
    return PaymentSnapshot(amount=amount, currency="INR", status=status, is_current=current)


def enrollment(
    status: EnrollmentStatus = E.pending, enrolled_by=None, can_revive=False, total=353882
):
    return EnrollmentSnapshot(
        status=status, enrolled_by=enrolled_by, can_revive=can_revive, total_payable=total
    )


def test_capture_enrolls_a_pending_enrollment():
    t = transition(
        fact(F.captured), attempt_status=None, payment=payment(), enrollment=enrollment()
    )
    assert (t.outcome, t.attempt_status, t.payment_status) == (
        Outcome.applied,
        F.captured,
        PaymentStatus.captured,
    )
    assert (t.enrollment_status, t.enrolled_by, t.actions) == (E.enrolled, "pay_A", ())


def test_repeated_and_weaker_facts_change_nothing():
    enrolled = enrollment(E.enrolled, enrolled_by="pay_A")
    paid = payment(PaymentStatus.captured)
    again = transition(
        fact(F.captured), attempt_status=F.captured, payment=paid, enrollment=enrolled
    )
    assert again.outcome == Outcome.duplicate and again.actions == ()
    late_failure = transition(
        fact(F.failed), attempt_status=F.captured, payment=paid, enrollment=enrolled
    )
    assert late_failure.outcome == Outcome.stale
    assert (late_failure.enrollment_status, late_failure.payment_status) == (
        E.enrolled,
        PaymentStatus.captured,
    )


@pytest.mark.parametrize(("amount", "currency"), [(353881, "INR"), (353882, "USD"), (1, "INR")])
def test_capture_for_the_wrong_amount_or_currency_never_enrolls_and_is_refunded(amount, currency):
    wrong = GatewayFact("pay_A", "order_1", F.captured, amount, currency, FactSource.webhook)
    t = transition(wrong, attempt_status=None, payment=payment(), enrollment=enrollment())
    assert t.enrollment_status == E.pending and t.payment_status == PaymentStatus.created
    assert t.actions == (AutoRefund("pay_A", amount, AutoRefundReason.amount_mismatch),)
    authorized = GatewayFact("pay_B", "order_1", F.authorized, amount, currency, FactSource.verify)
    t = transition(authorized, attempt_status=None, payment=payment(), enrollment=enrollment())
    assert t.actions == () and t.payment_status == PaymentStatus.created


def test_failure_fails_only_the_current_payment_of_a_pending_enrollment():
    t = transition(fact(F.failed), attempt_status=None, payment=payment(), enrollment=enrollment())
    assert (t.enrollment_status, t.payment_status) == (E.failed, PaymentStatus.failed)
    superseded = transition(
        fact(F.failed), attempt_status=None, payment=payment(current=False), enrollment=enrollment()
    )
    assert superseded.enrollment_status == E.pending
    # Another attempt of the same order is already authorized: money may still come.
    in_flight = transition(
        fact(F.failed, pay_id="pay_B"),
        attempt_status=None,
        payment=payment(PaymentStatus.authorized),
        enrollment=enrollment(),
    )
    assert (in_flight.enrollment_status, in_flight.payment_status) == (
        E.pending,
        PaymentStatus.authorized,
    )


def test_late_authorization_after_a_failure_is_captured_and_enrolls():
    t = transition(
        fact(F.authorized),
        attempt_status=F.failed,
        payment=payment(PaymentStatus.failed),
        enrollment=enrollment(E.failed),
    )
    assert t.enrollment_status == E.pending and t.payment_status == PaymentStatus.authorized
    assert t.actions == (Capture("pay_A", 353882, "INR"),)
    t = transition(
        fact(F.captured),
        attempt_status=F.authorized,
        payment=payment(PaymentStatus.authorized),
        enrollment=enrollment(E.pending),
    )
    assert t.enrollment_status == E.enrolled


def test_a_superseded_orders_capture_still_enrolls_a_live_enrollment():
    t = transition(
        fact(F.captured, order="order_old"),
        attempt_status=None,
        payment=payment(current=False),
        enrollment=enrollment(E.failed),
    )
    assert t.enrollment_status == E.enrolled and t.actions == ()


def test_a_superseded_order_at_another_price_is_refunded_not_enrolled():
    """The learner switched coupons: the old, cheaper order paid late must not enroll at a
    price (and with a coupon hold) the enrollment no longer has."""
    captured = transition(
        fact(F.captured, order="order_old", amount=300000),
        attempt_status=None,
        payment=payment(current=False, amount=300000),
        enrollment=enrollment(E.pending, total=353882),
    )
    assert captured.enrollment_status == E.pending
    assert captured.actions == (AutoRefund("pay_A", 300000, AutoRefundReason.superseded_price),)
    authorized = transition(
        fact(F.authorized, order="order_old", amount=300000),
        attempt_status=None,
        payment=payment(current=False, amount=300000),
        enrollment=enrollment(E.pending, total=353882),
    )
    assert authorized.actions == ()  # left uncaptured: Razorpay returns it to the learner


@pytest.mark.parametrize(
    ("status", "can_revive", "reason"),
    [
        (E.enrolled, False, AutoRefundReason.already_enrolled),
        (E.cancelled, False, AutoRefundReason.enrollment_cancelled),
        (E.refunded, False, AutoRefundReason.enrollment_refunded),
        (E.expired, False, AutoRefundReason.expired_not_revivable),
    ],
)
def test_captures_that_cannot_enroll_are_refunded(status, can_revive, reason):
    t = transition(
        fact(F.captured, pay_id="pay_B"),
        attempt_status=None,
        payment=payment(),
        enrollment=enrollment(status, enrolled_by="pay_A" if status == E.enrolled else None),
    )
    assert t.enrollment_status == status
    assert t.actions == (AutoRefund("pay_B", 353882, reason),)
    assert t.payment_status == PaymentStatus.captured  # the money did arrive


def test_expired_enrollment_is_revived_when_possible():
    t = transition(
        fact(F.captured),
        attempt_status=None,
        payment=payment(),
        enrollment=enrollment(E.expired, can_revive=True),
    )
    assert (t.enrollment_status, t.actions) == (E.enrolled, ())


def test_authorized_payments_of_unpayable_enrollments_are_left_uncaptured():
    for status in (E.cancelled, E.refunded, E.enrolled):
        t = transition(
            fact(F.authorized),
            attempt_status=None,
            payment=payment(),
            enrollment=enrollment(status),
        )
        assert t.actions == () and t.enrollment_status == status


# ---- convergence ---------------------------------------------------------------------------

ORDERS = {"order_old": (1000, False), "order_new": (1000, True)}  # amount, is_current


@dataclass
class World:
    """Applies facts the way the service will: one attempt row per Razorpay payment id."""

    enrollment: EnrollmentSnapshot
    payments: dict[str, PaymentStatus] = field(
        default_factory=lambda: dict.fromkeys(ORDERS, PaymentStatus.created)
    )
    attempts: dict[str, FactStatus] = field(default_factory=dict)
    refunds: Counter = field(default_factory=Counter)

    def apply(self, f: GatewayFact) -> None:
        amount, current = ORDERS[f.razorpay_order_id or ""]
        t = transition(
            f,
            attempt_status=self.attempts.get(f.razorpay_payment_id),
            payment=PaymentSnapshot(amount, "INR", self.payments[f.razorpay_order_id], current),
            enrollment=self.enrollment,
        )
        self.attempts[f.razorpay_payment_id] = t.attempt_status
        self.payments[f.razorpay_order_id] = t.payment_status
        self.enrollment = EnrollmentSnapshot(
            t.enrollment_status, t.enrolled_by, self.enrollment.can_revive
        )
        for action in t.actions:
            if isinstance(action, AutoRefund):
                self.refunds[(action.reason, action.amount)] += 1

    def end_state(self) -> tuple:
        # Which of two valid captures enrolled may depend on arrival order; that one did not.
        return (
            self.enrollment.status,
            self.enrollment.enrolled_by is not None,
            tuple(sorted(self.payments.items())),
            tuple(sorted(self.attempts.items())),
            tuple(sorted(self.refunds.items())),
        )


# Each attempt's true history at the gateway: what it went through, in order.
HISTORIES = [
    [F.failed],
    [F.authorized],
    [F.authorized, F.captured],
    [F.failed, F.authorized, F.captured],  # late authorization
    [F.captured],  # only the capture was ever reported
]


@st.composite
def scenarios(draw):
    start = draw(st.sampled_from([E.pending, E.failed, E.expired, E.cancelled, E.enrolled]))
    can_revive = draw(st.booleans())
    facts = []
    for index in range(draw(st.integers(min_value=1, max_value=4))):
        order = draw(st.sampled_from(sorted(ORDERS)))
        wrong_amount = draw(st.booleans()) and draw(st.booleans())  # ~25 %
        for status in draw(st.sampled_from(HISTORIES)):
            facts.append(
                GatewayFact(
                    f"pay_{index}",
                    order,
                    status,
                    999 if wrong_amount else ORDERS[order][0],
                    "INR",
                    FactSource.webhook,
                )
            )
    delivered = draw(st.lists(st.sampled_from(facts), max_size=len(facts) * 2))  # repeats
    arrival = draw(st.permutations(facts + delivered))
    enrolled_by = "pay_earlier" if start == E.enrolled else None
    return EnrollmentSnapshot(start, enrolled_by, can_revive), facts, arrival


@settings(max_examples=400, deadline=None)
@given(scenarios())
def test_any_order_and_repetition_of_the_same_facts_ends_in_the_same_state(scenario):
    start, facts, arrival = scenario
    in_order = World(start)
    for f in facts:
        in_order.apply(f)
    shuffled = World(start)
    for f in arrival:
        shuffled.apply(f)
    assert shuffled.end_state() == in_order.end_state()


@settings(max_examples=300, deadline=None)
@given(scenarios())
def test_money_is_never_kept_without_access_nor_twice(scenario):
    start, _, arrival = scenario
    world = World(start)
    for f in arrival:
        world.apply(f)
    valid_captures = {
        f.razorpay_payment_id
        for f in arrival
        if f.status == F.captured and f.amount == ORDERS[f.razorpay_order_id][0]
    }
    all_captures = {f.razorpay_payment_id for f in arrival if f.status == F.captured}
    refunded = sum(world.refunds.values())
    kept = len(all_captures) - refunded
    # Every captured payment is either the one that enrolled, or refunded — never neither.
    if world.enrollment.status == E.enrolled and world.enrollment.enrolled_by != "pay_earlier":
        assert kept == 1 and world.enrollment.enrolled_by in valid_captures
    else:
        assert kept == 0
