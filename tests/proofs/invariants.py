"""SPEC §1's money promises as checks on the rows themselves (ours and the sandbox's), read
straight from the database with a synchronous connection between two steps of the model.

`always`: must hold after every step, whatever is still in flight.
`at_rest`: must hold once nothing is in flight — every webhook delivered, every job run, a
reconciliation pass made (see `MoneyModel.quiesce`)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.engine import Connection

from enrollpay.courses.models import Course
from enrollpay.enrollments.models import LIVE_STATUSES, Enrollment, EnrollmentStatus
from enrollpay.jobs.models import Job, JobStatus
from enrollpay.payments.models import Payment, PaymentAttempt
from enrollpay.pricing.models import Coupon
from enrollpay.refunds.models import RESERVED_STATUSES, Refund, RefundStatus
from enrollpay.refunds.service import FAILED_ALERT_JOB
from enrollpay.sandbox.models import SandboxOrder, SandboxPayment, SandboxRefund

CAPTURED = ("captured", "refunded")  # an attempt that moved money (refunded: fully, later)


@dataclass
class Rows:
    enrollments: list[Any]
    payments: dict[str, Any]  # by our id
    attempts: dict[str, Any]  # by Razorpay payment id
    refunds: list[Any]
    courses: dict[str, Any]
    coupons: dict[str, Any]
    orders: dict[str, Any]  # the sandbox's, by order id
    gateway_payments: dict[str, Any]  # the sandbox's, by payment id
    gateway_refunds: dict[str, Any]  # the sandbox's, by refund id
    dead_jobs: list[Any]
    alerted_refunds: set[str]  # refunds whose failure alert to the admins was queued

    def reserved(self, razorpay_payment_id: str) -> int:
        """Our refunds that hold money of this capture: every one that has not failed."""
        return sum(
            r.amount
            for r in self.refunds
            if r.razorpay_payment_id == razorpay_payment_id and r.status in RESERVED_STATUSES
        )

    def enrollment(self, enrollment_id: str) -> Any:
        return next(e for e in self.enrollments if e.id == enrollment_id)


def read(conn: Connection) -> Rows:
    def rows(table: Any, *where: Any) -> list[Any]:
        return list(conn.execute(select(table.__table__).where(*where)))

    return Rows(
        enrollments=rows(Enrollment),
        payments={p.id: p for p in rows(Payment)},
        attempts={a.razorpay_payment_id: a for a in rows(PaymentAttempt)},
        refunds=rows(Refund),
        courses={c.id: c for c in rows(Course)},
        coupons={c.id: c for c in rows(Coupon)},
        orders={o.id: o for o in rows(SandboxOrder)},
        gateway_payments={p.id: p for p in rows(SandboxPayment)},
        gateway_refunds={r.id: r for r in rows(SandboxRefund)},
        dead_jobs=rows(Job, Job.__table__.c.status == JobStatus.dead),
        alerted_refunds={
            job.payload["refund_id"] for job in rows(Job, Job.__table__.c.kind == FAILED_ALERT_JOB)
        },
    )


def always(rows: Rows) -> None:
    _one_live_enrollment(rows)
    _seats_and_coupons(rows)
    _no_access_without_money(rows)
    _refunds_within_captures(rows)
    _agrees_with_gateway(rows)
    assert not rows.dead_jobs, [(j.kind, j.payload, j.last_error) for j in rows.dead_jobs]


def _one_live_enrollment(rows: Rows) -> None:
    live: dict[tuple[str, str], list[str]] = defaultdict(list)
    for e in rows.enrollments:
        if e.status in LIVE_STATUSES:
            live[(e.user_id, e.course_id)].append(e.id)
    doubled = {key: ids for key, ids in live.items() if len(ids) > 1}
    assert not doubled, f"two live enrollments for one learner and course: {doubled}"


def _seats_and_coupons(rows: Rows) -> None:
    seats: dict[str, int] = defaultdict(int)
    holds: dict[str, int] = defaultdict(int)
    holds_per_user: dict[tuple[str, str], int] = defaultdict(int)
    for e in rows.enrollments:
        if e.status not in LIVE_STATUSES:
            continue
        seats[e.course_id] += 1
        if e.coupon_id is not None:
            holds[e.coupon_id] += 1
            holds_per_user[(e.coupon_id, e.user_id)] += 1
    for course_id, taken in seats.items():
        capacity = rows.courses[course_id].capacity
        assert capacity is None or taken <= capacity, (
            f"course {course_id}: {taken} live enrollments, capacity {capacity}: "
            f"{[(e.id, e.user_id, e.status) for e in rows.enrollments if e.course_id == course_id]}"
        )
    for coupon_id, held in holds.items():
        limit = rows.coupons[coupon_id].max_redemptions
        assert limit is None or held <= limit, (
            f"coupon {coupon_id}: {held} live redemptions, max_redemptions {limit}: "
            f"{[(e.id, e.user_id, e.status) for e in rows.enrollments if e.coupon_id == coupon_id]}"
        )
    for (coupon_id, user_id), held in holds_per_user.items():
        limit = rows.coupons[coupon_id].per_user_limit
        assert limit is None or held <= limit, f"coupon {coupon_id}: {held} for {user_id}"


def _no_access_without_money(rows: Rows) -> None:
    """`enrolled` only on a capture of one of this enrollment's orders, for exactly the amount
    and currency of that order and of the enrollment's price, that the gateway shows captured
    and that is not refunded in full."""
    for e in rows.enrollments:
        if e.status != EnrollmentStatus.enrolled:
            continue
        assert e.enrolled_by is not None, f"{e.id} enrolled with no capture (no grants here)"
        attempt = rows.attempts.get(e.enrolled_by)
        assert attempt is not None and attempt.status in CAPTURED, (e.id, attempt)
        payment = rows.payments[attempt.payment_id]
        assert payment.enrollment_id == e.id, f"{e.id} enrolled by another enrollment's payment"
        assert (attempt.amount, attempt.currency) == (payment.amount, payment.currency), e.id
        assert (payment.amount, payment.currency) == (e.total_payable, e.currency), (
            f"{e.id} enrolled by an order for {payment.amount}, its price is {e.total_payable}"
        )
        gateway = rows.gateway_payments[e.enrolled_by]
        assert gateway.captured and gateway.order_id == payment.razorpay_order_id, e.id
        assert (gateway.amount, gateway.currency) == (payment.amount, payment.currency), e.id
        assert rows.reserved(e.enrolled_by) < attempt.amount, (
            f"{e.id} still enrolled, but its capture {e.enrolled_by} is refunded in full"
        )


def _refunds_within_captures(rows: Rows) -> None:
    by_capture: dict[str, int] = defaultdict(int)
    for r in rows.refunds:
        attempt = rows.attempts.get(r.razorpay_payment_id)
        assert attempt is not None and attempt.status in CAPTURED, (
            f"refund {r.id} of {r.razorpay_payment_id}, which we never saw captured"
        )
        assert r.payment_id == attempt.payment_id, r.id
        if r.status in RESERVED_STATUSES:
            by_capture[r.razorpay_payment_id] += r.amount
    for capture, refunded in by_capture.items():
        captured = rows.attempts[capture].amount
        assert refunded <= captured, f"{capture}: refunds of {refunded} exceed {captured}"


def _agrees_with_gateway(rows: Rows) -> None:
    """What we recorded is what the gateway did (while things are in flight, we may know less
    than the gateway, never something else)."""
    for payment in rows.payments.values():
        if payment.razorpay_order_id is not None:
            order = rows.orders[payment.razorpay_order_id]
            assert (order.amount, order.currency) == (payment.amount, payment.currency)
            assert order.notes.get("enrollment_id") == payment.enrollment_id
    for attempt in rows.attempts.values():
        gateway = rows.gateway_payments[attempt.razorpay_payment_id]
        assert (gateway.amount, gateway.currency) == (attempt.amount, attempt.currency)
        assert rows.payments[attempt.payment_id].razorpay_order_id == gateway.order_id
        if attempt.status in CAPTURED:
            assert gateway.captured, f"we think {attempt.razorpay_payment_id} is captured"
    ours_by_gateway_id = {r.razorpay_refund_id: r for r in rows.refunds if r.razorpay_refund_id}
    ours_by_id = {r.id: r for r in rows.refunds}
    for gateway_refund in rows.gateway_refunds.values():
        ours = ours_by_gateway_id.get(gateway_refund.id) or ours_by_id.get(
            gateway_refund.notes.get("refund_id", "")
        )
        assert ours is not None, f"the gateway refunded {gateway_refund.id} and we do not know"
        assert (ours.razorpay_payment_id, ours.amount) == (
            gateway_refund.payment_id,
            gateway_refund.amount,
        ), ours.id
        if ours.status == RefundStatus.processed:
            assert gateway_refund.status == "processed", ours.id
        if ours.status == RefundStatus.failed and ours.razorpay_refund_id is not None:
            assert gateway_refund.status == "failed", ours.id
    for r in rows.refunds:
        if r.razorpay_refund_id is not None:
            assert r.razorpay_refund_id in rows.gateway_refunds, r.id
    # Money the gateway gave back is money we count as given back.
    for payment_id, gateway in rows.gateway_payments.items():
        if gateway.amount_refunded:
            assert gateway.amount_refunded <= rows.reserved(payment_id), (
                f"{payment_id}: the gateway refunded {gateway.amount_refunded}, "
                f"we count {rows.reserved(payment_id)}"
            )


def at_rest(rows: Rows) -> list[str]:
    """Nothing in flight. For every payment the gateway captured on one of our orders:
    - we recorded it (its attempt is `captured` or `refunded`);
    - what we count refunded (our refunds that have not failed) is what the gateway refunded;
    - captured - refunded > 0 only for the capture that enrolled an `enrolled` enrollment
      (`enrolled_by`): every other capture is refunded in full ("exactly one enrollment or a
      refund"). The one exception: a refund of it failed and the admins were alerted (SPEC §3
      leaves that to a person); such captures are returned.
    And every refund reached the gateway and has the gateway's status."""
    kept_after_failed_refund: list[str] = []
    enrolled_by = {
        e.enrolled_by: e for e in rows.enrollments if e.status == EnrollmentStatus.enrolled
    }
    for payment_id, gateway in rows.gateway_payments.items():
        order = rows.orders[gateway.order_id]
        if "enrollment_id" not in order.notes or not gateway.captured:
            continue
        attempt = rows.attempts.get(payment_id)
        assert attempt is not None and attempt.status in CAPTURED, (
            f"the gateway captured {payment_id} (order {gateway.order_id}, enrollment "
            f"{order.notes['enrollment_id']}) and we never recorded it: money kept, no "
            f"enrollment, no refund"
        )
        reserved = rows.reserved(payment_id)
        assert reserved == gateway.amount_refunded, (
            f"{payment_id}: we count {reserved} refunded, the gateway {gateway.amount_refunded}"
        )
        kept = gateway.amount - gateway.amount_refunded
        if payment_id in enrolled_by:
            assert kept > 0, payment_id
            continue
        if kept > 0:
            failed = [
                r
                for r in rows.refunds
                if r.razorpay_payment_id == payment_id and r.status == RefundStatus.failed
            ]
            enrollment = rows.enrollment(order.notes["enrollment_id"])
            assert failed, (
                f"{payment_id} kept {kept} paise and enrolled nobody (its enrollment "
                f"{enrollment.id} is {enrollment.status}, enrolled by {enrollment.enrolled_by})"
            )
            kept_after_failed_refund.append(payment_id)
    for r in rows.refunds:
        assert r.status != RefundStatus.requested, f"refund {r.id} never reached the gateway"
        if r.status == RefundStatus.failed:
            assert r.id in rows.alerted_refunds, f"refund {r.id} failed and no admin was alerted"
        if r.razorpay_refund_id is not None:
            assert rows.gateway_refunds[r.razorpay_refund_id].status == r.status, r.id
    return kept_after_failed_refund
