"""From a signed body to gateway facts (razorpay-facts.md §6).

Two steps, both pure:

- `parse_envelope(raw_body)`: the body as an event envelope `{"entity": "event", "account_id",
  "event", "contains", "payload": {<name>: {"entity": {...}}}, "created_at"}`, or
  `UnusableBody` when it is not JSON or not an envelope. `summarize` uses it at ingest to fill
  the inbox's search columns and never raises.
- `interpret(envelope, event_id)`: the payment facts an event carries, or the refund or dispute
  it describes, or why we ignore it, or `InvalidPayload` when an event we use does not validate.

Which events become payment facts is the `FACT_BUILDERS` table; `REFUND_EVENTS` and
`DISPUTE_EVENTS` go to the refunds package instead. Events we know but do not use are in
`DEFERRED` with the reason stored on the inbox row.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from enrollpay.payments.facts import FactSource, GatewayFact
from enrollpay.payments.gateway.entities import (
    RazorpayDispute,
    RazorpayOrder,
    RazorpayPayment,
    RazorpayRefund,
)

# Razorpay's names are like `payment.dispute.created`; any such token is stored (unknown ones
# are ignored after processing), anything else makes the body unusable.
EVENT_NAME = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.\-]{0,99}$")
ACCOUNT_ID = re.compile(r"^acc_[A-Za-z0-9]{1,40}$")
# Razorpay ids are a prefix and 14 alphanumerics; anything longer or stranger is refused.
PAYMENT_ID = re.compile(r"^pay_[A-Za-z0-9]{1,32}$")
ORDER_ID = re.compile(r"^order_[A-Za-z0-9]{1,32}$")
REFUND_ID = re.compile(r"^rfnd_[A-Za-z0-9]{1,32}$")
DISPUTE_ID = re.compile(r"^disp_[A-Za-z0-9]{1,32}$")
CURRENCY = re.compile(r"^[A-Z]{3}$")
# Unix seconds between 2000 and 2100: outside that, created_at is not a timestamp.
_UNIX_MIN, _UNIX_MAX = 946_684_800, 4_102_444_800
ERROR_MAX_CHARS = 1000


class UnusableBody(ValueError):
    """The signed body is not JSON or not a Razorpay event envelope."""


class InvalidPayload(ValueError):
    """An event we process whose entities do not validate."""


@dataclass(frozen=True)
class Envelope:
    event: str
    payload: dict[str, Any]
    account_id: str | None = None
    contains: tuple[str, ...] = ()
    created_at: datetime | None = None


@dataclass(frozen=True)
class Summary:
    """What ingest stores next to the raw body; `problem` set when the body is unusable."""

    event: str | None = None
    account_id: str | None = None
    created_at: datetime | None = None
    razorpay_payment_id: str | None = None
    razorpay_order_id: str | None = None
    problem: str | None = None


@dataclass(frozen=True)
class RefundEvent:
    """refund.created / .processed / .failed: what Razorpay says one refund is now."""

    event: str
    refund: RazorpayRefund


@dataclass(frozen=True)
class DisputeEvent:
    """payment.dispute.*: one dispute as of `occurred_at` (the envelope's created_at)."""

    event: str
    dispute: RazorpayDispute
    occurred_at: datetime | None


@dataclass(frozen=True)
class Interpretation:
    facts: list[GatewayFact] = field(default_factory=list)
    refund: RefundEvent | None = None
    dispute: DisputeEvent | None = None
    ignored_reason: str | None = None  # set: store as `ignored` with this reason


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_envelope(raw_body: bytes) -> Envelope:
    try:
        text = raw_body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise UnusableBody(f"the body is not UTF-8 text (byte {exc.start})") from None
    try:
        document = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise UnusableBody(f"the body is not JSON: {_short(str(exc))}") from None
    if not isinstance(document, dict):
        raise UnusableBody("the body is not a JSON object")
    if document.get("entity", "event") != "event":
        raise UnusableBody("the body's entity is not 'event'")
    event = document.get("event")
    if not isinstance(event, str) or not EVENT_NAME.fullmatch(event):
        raise UnusableBody("the body has no valid 'event' name")
    payload = document.get("payload")
    if not isinstance(payload, dict):
        raise UnusableBody("the body's 'payload' is not an object")
    contains = document.get("contains")
    return Envelope(
        event=event,
        payload=payload,
        account_id=_matching(document.get("account_id"), ACCOUNT_ID),
        contains=tuple(c for c in contains if isinstance(c, str))
        if isinstance(contains, list)
        else (),
        created_at=_unix(document.get("created_at")),
    )


def summarize(raw_body: bytes) -> Summary:
    """Best effort, never raises: the search columns of an inbox row."""
    try:
        envelope = parse_envelope(raw_body)
    except UnusableBody as exc:
        return Summary(problem=str(exc))
    payment = _raw_entity(envelope, "payment") or {}
    order = _raw_entity(envelope, "order") or {}
    refund = _raw_entity(envelope, "refund") or {}
    dispute = _raw_entity(envelope, "dispute") or {}
    return Summary(
        event=envelope.event,
        account_id=envelope.account_id,
        created_at=envelope.created_at,
        razorpay_payment_id=_matching(payment.get("id"), PAYMENT_ID)
        or _matching(refund.get("payment_id"), PAYMENT_ID)
        or _matching(dispute.get("payment_id"), PAYMENT_ID),
        razorpay_order_id=_matching(order.get("id"), ORDER_ID)
        or _matching(payment.get("order_id"), ORDER_ID),
    )


# ---- events → facts -----------------------------------------------------------------------------

FactBuilder = Callable[[Envelope, str], list[GatewayFact]]


def _payment_facts(envelope: Envelope, event_id: str) -> list[GatewayFact]:
    """payment.authorized / .captured / .failed carry the payment only, never the order
    (SPEC §7): our payment is found by `payment.order_id` downstream."""
    payment = _payment(envelope)
    return [GatewayFact.from_payment(payment, FactSource.webhook, reference=event_id)]


def _order_paid_facts(envelope: Envelope, event_id: str) -> list[GatewayFact]:
    """order.paid carries both; the payment is the fact, the order must be the payment's."""
    payment = _payment(envelope)
    order = _validated(RazorpayOrder, envelope, "order")
    if payment.order_id != order.id:
        raise InvalidPayload(
            f"payload.payment.entity.order_id {payment.order_id!r} is not "
            f"payload.order.entity.id {order.id!r}"
        )
    return [GatewayFact.from_payment(payment, FactSource.webhook, reference=event_id)]


FACT_BUILDERS: dict[str, FactBuilder] = {
    "payment.authorized": _payment_facts,
    "payment.captured": _payment_facts,
    "payment.failed": _payment_facts,
    "order.paid": _order_paid_facts,
}

REFUND_EVENTS = frozenset({"refund.created", "refund.processed", "refund.failed"})
DISPUTE_EVENTS = frozenset(
    f"payment.dispute.{name}"
    for name in ("created", "under_review", "action_required", "won", "lost", "closed")
)

# Known events we store but do not act on, by name prefix.
DEFERRED: dict[str, str] = {
    "refund.": "only refund.created, refund.processed and refund.failed change refunds",
    "payment.dispute.": "not a dispute event enrollpay knows",
    "payment_link.": "payment links are not used by enrollpay",
}


def interpret(envelope: Envelope, event_id: str) -> Interpretation:
    if envelope.event in REFUND_EVENTS:
        return Interpretation(refund=RefundEvent(envelope.event, _refund(envelope)))
    if envelope.event in DISPUTE_EVENTS:
        dispute = DisputeEvent(envelope.event, _dispute(envelope), envelope.created_at)
        return Interpretation(dispute=dispute)
    builder = FACT_BUILDERS.get(envelope.event)
    if builder is None:
        for prefix, reason in DEFERRED.items():
            if envelope.event.startswith(prefix):
                return Interpretation(ignored_reason=f"{envelope.event}: {reason}")
        return Interpretation(ignored_reason=f"{envelope.event}: not an event enrollpay uses")
    return Interpretation(facts=builder(envelope, event_id))


# ---- helpers ------------------------------------------------------------------------------------


def _raw_entity(envelope: Envelope, name: str) -> dict[str, Any] | None:
    wrapper = envelope.payload.get(name)
    entity = wrapper.get("entity") if isinstance(wrapper, dict) else None
    return entity if isinstance(entity, dict) else None


def _validated(model: type[Any], envelope: Envelope, name: str) -> Any:
    entity = _raw_entity(envelope, name)
    if entity is None:
        raise InvalidPayload(f"{envelope.event}: payload.{name}.entity is missing")
    try:
        return model.model_validate(entity)
    except ValidationError as exc:
        # Field locations and messages only: the input (e-mail, phone) stays out of last_error.
        problems = "; ".join(
            f"{'.'.join(str(part) for part in error['loc']) or '(entity)'}: {error['msg']}"
            for error in exc.errors(include_url=False, include_input=False)
        )
        raise InvalidPayload(_short(f"payload.{name}.entity: {problems}")) from None


def _payment(envelope: Envelope) -> RazorpayPayment:
    payment: RazorpayPayment = _validated(RazorpayPayment, envelope, "payment")
    if not PAYMENT_ID.fullmatch(payment.id):
        raise InvalidPayload("payload.payment.entity.id is not a Razorpay payment id")
    if payment.order_id is not None and not ORDER_ID.fullmatch(payment.order_id):
        raise InvalidPayload("payload.payment.entity.order_id is not a Razorpay order id")
    if payment.amount < 0 or not CURRENCY.fullmatch(payment.currency):
        raise InvalidPayload("payload.payment.entity has an invalid amount or currency")
    return payment


def _refund(envelope: Envelope) -> RazorpayRefund:
    refund: RazorpayRefund = _validated(RazorpayRefund, envelope, "refund")
    if not REFUND_ID.fullmatch(refund.id) or not PAYMENT_ID.fullmatch(refund.payment_id):
        raise InvalidPayload("payload.refund.entity has an invalid id or payment_id")
    if refund.amount <= 0 or not CURRENCY.fullmatch(refund.currency):
        raise InvalidPayload("payload.refund.entity has an invalid amount or currency")
    return refund


def _dispute(envelope: Envelope) -> RazorpayDispute:
    dispute: RazorpayDispute = _validated(RazorpayDispute, envelope, "dispute")
    if not DISPUTE_ID.fullmatch(dispute.id) or not PAYMENT_ID.fullmatch(dispute.payment_id):
        raise InvalidPayload("payload.dispute.entity has an invalid id or payment_id")
    if dispute.amount < 0 or not CURRENCY.fullmatch(dispute.currency):
        raise InvalidPayload("payload.dispute.entity has an invalid amount or currency")
    too_long = max(len(dispute.status), len(dispute.phase or "")) > 32
    if too_long or len(dispute.reason_code or "") > 100:
        raise InvalidPayload("payload.dispute.entity has an over-long status, phase or reason_code")
    return dispute


def _matching(value: Any, pattern: re.Pattern[str]) -> str | None:
    return value if isinstance(value, str) and pattern.fullmatch(value) else None


def _unix(value: Any) -> datetime | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    if not _UNIX_MIN <= value <= _UNIX_MAX:
        return None
    return datetime.fromtimestamp(value, UTC)


def _short(text: str) -> str:
    return text if len(text) <= ERROR_MAX_CHARS else text[: ERROR_MAX_CHARS - 1] + "…"
