"""The one transition function (SPEC §3): what a gateway fact does to a payment attempt, our
payment and its enrollment. Pure — no I/O — so verify, webhooks and reconciliation share it and
hypothesis can check that any order and repetition of the same facts ends in the same state.

Rules, in short:
- Each Razorpay payment id (an *attempt*) only moves to a stronger status:
  created < failed < authorized < captured < refunded. A weaker or equal fact is recorded as
  stale or duplicate and changes nothing (a failed payment may still be authorized later; a
  captured one is never "un-captured" by a late `payment.failed`).
- Money must match: an attempt whose amount or currency differs from our order's never counts,
  whatever its status. A mismatched capture is refunded automatically.
- While the enrollment is live (pending/failed), a valid capture enrolls it — whichever of its
  orders was paid, as long as that order still charges the enrollment's current price. A
  superseded order priced otherwise (another coupon, a changed price) is refunded instead: the
  enrollment's price snapshot and its coupon hold must describe what actually paid for it, or a
  released coupon could be redeemed twice. A capture for an already-enrolled learner (another
  attempt or order), a cancelled or refunded enrollment, or an expired one that cannot be
  revived is refunded automatically. An expired enrollment is revived when the caller says it
  can be.
- A failure fails a pending enrollment only when it leaves the enrollment's current payment with
  nothing better than failed.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum

from enrollpay.enrollments.models import UNPAID_STATUSES, EnrollmentStatus
from enrollpay.payments.facts import FactStatus, GatewayFact


class PaymentStatus(StrEnum):
    """Our payment (one per gateway order); follows the strongest valid fact of its attempts."""

    created = "created"
    failed = "failed"
    authorized = "authorized"
    captured = "captured"
    partially_refunded = "partially_refunded"
    refunded = "refunded"
    not_required = "not_required"  # free enrollments


class Outcome(StrEnum):
    applied = "applied"
    duplicate = "duplicate"  # the attempt already had this status
    stale = "stale"  # the attempt already had a stronger status


class AutoRefundReason(StrEnum):
    amount_mismatch = "amount_mismatch"
    already_enrolled = "already_enrolled"
    superseded_price = "superseded_price"
    enrollment_cancelled = "enrollment_cancelled"
    enrollment_refunded = "enrollment_refunded"
    expired_not_revivable = "expired_not_revivable"


_ATTEMPT_RANK = {
    FactStatus.created: 0,
    FactStatus.failed: 1,
    FactStatus.authorized: 2,
    FactStatus.captured: 3,
    FactStatus.refunded: 4,
}
_PAYMENT_RANK = {
    PaymentStatus.created: 0,
    PaymentStatus.failed: 1,
    PaymentStatus.authorized: 2,
    PaymentStatus.captured: 3,
}


@dataclass(frozen=True)
class PaymentSnapshot:
    amount: int  # what our order asked for, paise
    currency: str
    status: PaymentStatus
    is_current: bool  # the enrollment's latest attempt (not superseded by a newer order)


@dataclass(frozen=True)
class EnrollmentSnapshot:
    status: EnrollmentStatus
    enrolled_by: str | None  # the Razorpay payment id whose capture enrolled it
    can_revive: bool = False  # only read when expired: no other live enrollment, seat, course open
    total_payable: int | None = None  # the current attempt's price, paise (None: any price)


@dataclass(frozen=True)
class Capture:
    """Capture an authorized payment (Razorpay also auto-captures; repeating is harmless)."""

    razorpay_payment_id: str
    amount: int
    currency: str


@dataclass(frozen=True)
class AutoRefund:
    razorpay_payment_id: str
    amount: int
    reason: AutoRefundReason


Action = Capture | AutoRefund


@dataclass(frozen=True)
class Transition:
    outcome: Outcome
    attempt_status: FactStatus
    payment_status: PaymentStatus
    enrollment_status: EnrollmentStatus
    enrolled_by: str | None
    actions: tuple[Action, ...] = field(default_factory=tuple)
    note: str = ""  # why, for the payment event log


def transition(
    fact: GatewayFact,
    *,
    attempt_status: FactStatus | None,
    payment: PaymentSnapshot,
    enrollment: EnrollmentSnapshot,
) -> Transition:
    """Apply one fact about one attempt (`attempt_status`: what we knew of it, None if new)."""
    unchanged = Transition(
        outcome=Outcome.applied,
        attempt_status=attempt_status or FactStatus.created,
        payment_status=payment.status,
        enrollment_status=enrollment.status,
        enrolled_by=enrollment.enrolled_by,
    )
    if attempt_status is not None and _ATTEMPT_RANK[fact.status] <= _ATTEMPT_RANK[attempt_status]:
        outcome = Outcome.duplicate if fact.status == attempt_status else Outcome.stale
        return _with(unchanged, outcome=outcome, note=f"attempt already {attempt_status}")

    moved = _with(unchanged, attempt_status=fact.status)
    money_matches = fact.amount == payment.amount and fact.currency == payment.currency

    if fact.status in (FactStatus.created, FactStatus.refunded):
        # Refund facts are handled by the refunds flow; here they only advance the attempt.
        return _with(moved, note=f"attempt {fact.status}")

    if not money_matches:
        # Whatever happens to such an attempt, it never moves our payment or enrollment.
        note = (
            f"{fact.status} {fact.amount} {fact.currency} but the order is for "
            f"{payment.amount} {payment.currency}: never counts"
        )
        if fact.status != FactStatus.captured:
            return _with(moved, note=note)  # Razorpay refunds uncaptured payments itself
        refund = AutoRefund(fact.razorpay_payment_id, fact.amount, AutoRefundReason.amount_mismatch)
        return _with(moved, actions=(refund,), note=note)

    payment_status = _stronger(payment.status, PaymentStatus(fact.status.value))
    moved = _with(moved, payment_status=payment_status)

    if fact.status == FactStatus.failed:
        if (
            enrollment.status == EnrollmentStatus.pending
            and payment.is_current
            and payment_status == PaymentStatus.failed
        ):
            return _with(moved, enrollment_status=EnrollmentStatus.failed, note="payment failed")
        return _with(moved, note="attempt failed")

    if fact.status == FactStatus.authorized:
        payable = _payable(enrollment) and _priced_now(payment, enrollment)
        if not payable:
            return _with(moved, note="authorized; the enrollment is not payable: left uncaptured")
        status = enrollment.status
        if status == EnrollmentStatus.failed and payment.is_current:
            status = EnrollmentStatus.pending  # money is on its way again (late authorization)
        capture = Capture(fact.razorpay_payment_id, fact.amount, fact.currency)
        return _with(moved, enrollment_status=status, actions=(capture,), note="authorized")

    # Captured, for the right amount.
    return _captured(moved, fact, payment, enrollment)


def _payable(enrollment: EnrollmentSnapshot) -> bool:
    return enrollment.status in UNPAID_STATUSES or (
        enrollment.status == EnrollmentStatus.expired and enrollment.can_revive
    )


def _priced_now(payment: PaymentSnapshot, enrollment: EnrollmentSnapshot) -> bool:
    """The order charges what the enrollment's current attempt charges."""
    return (
        payment.is_current
        or enrollment.total_payable is None
        or payment.amount == enrollment.total_payable
    )


def _captured(
    moved: Transition,
    fact: GatewayFact,
    payment: PaymentSnapshot,
    enrollment: EnrollmentSnapshot,
) -> Transition:
    def refund(reason: AutoRefundReason, note: str) -> Transition:
        action = AutoRefund(fact.razorpay_payment_id, fact.amount, reason)
        return _with(moved, actions=(action,), note=note)

    status = enrollment.status
    if _payable(enrollment) and not _priced_now(payment, enrollment):
        return refund(AutoRefundReason.superseded_price, "captured a superseded order's price")
    if _payable(enrollment):
        revived = status == EnrollmentStatus.expired
        return _with(
            moved,
            enrollment_status=EnrollmentStatus.enrolled,
            enrolled_by=fact.razorpay_payment_id,
            note="captured: enrolled (revived after expiry)" if revived else "captured: enrolled",
        )
    if status == EnrollmentStatus.enrolled:
        return refund(AutoRefundReason.already_enrolled, "captured, but already enrolled")
    if status == EnrollmentStatus.expired:
        return refund(AutoRefundReason.expired_not_revivable, "captured after expiry")
    if status == EnrollmentStatus.cancelled:
        return refund(AutoRefundReason.enrollment_cancelled, "captured after cancellation")
    return refund(AutoRefundReason.enrollment_refunded, "captured after a refund")


def _stronger(current: PaymentStatus, candidate: PaymentStatus) -> PaymentStatus:
    if current not in _PAYMENT_RANK:  # refunded states and not_required are owned elsewhere
        return current
    return candidate if _PAYMENT_RANK[candidate] > _PAYMENT_RANK[current] else current


def _with(base: Transition, **changes: object) -> Transition:
    return replace(base, **changes)  # type: ignore[arg-type]
