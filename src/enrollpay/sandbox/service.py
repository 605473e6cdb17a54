"""The sandbox's rules: orders, payments, refunds and what Checkout does, as Razorpay behaves in
test mode (facts §2-§4, §7). Functions take the caller's session and never commit, except
`create_refund`, which runs its own phases for `X-Refund-Idempotency`.

Choices where Razorpay's behaviour is unconfirmed (each picked to be the stricter one for an
integrator, or the one that follows from the documented fields):
- A repeated `receipt` is refused: 400 "An order with the same receipt value has already been
  created".
- Orders accept only INR; integer fields must be JSON integers.
- A full refund moves the payment to `status: refunded` (`refund_status: full`); a partial one
  leaves it `captured` (`partial`). The order stays `paid`.
- Every refund starts `pending` (`speed_processed` is `instant` for `optimum`, else `normal`) and
  becomes `processed`/`failed` when settled (POST /_sandbox/refunds/{id}/settle, or after
  `SandboxConfig.refund_settle_seconds` when set). A failed refund gives the amount back to the
  payment's refundable balance.
- `fee` is 2% of the amount plus 18% GST on that fee (`tax`), set at capture.
- Partial-payment orders become `paid` when `amount_paid` reaches `amount`; any capture pays a
  non-partial order (even a control-API amount override that differs from the order).
- A payment authorized late, or captured, on an order another payment already paid is still
  captured (money moved twice: the integrator must refund one); the order stays `paid`.
- Uncaptured authorized payments are not auto-refunded after the capture window.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.db.engine import Database
from enrollpay.jobs import enqueue
from enrollpay.kit.clock import utcnow
from enrollpay.payments.gateway.signatures import payment_signature
from enrollpay.sandbox import repository
from enrollpay.sandbox.config import SandboxConfig
from enrollpay.sandbox.entities import collection, order_entity, payment_entity, refund_entity
from enrollpay.sandbox.errors import (
    BAD_REQUEST_ERROR,
    GATEWAY_ERROR,
    ID_DOES_NOT_EXIST,
    ORDER_ALREADY_PAID,
    SandboxError,
    invalid_id,
    not_found,
    validation_error,
)
from enrollpay.sandbox.ids import is_valid_id, new_id, random_digits
from enrollpay.sandbox.models import SandboxOrder, SandboxPayment, SandboxRefund
from enrollpay.sandbox.repository import Page
from enrollpay.sandbox.validation import Payload, nested, to_boolean, to_integer
from enrollpay.sandbox.webhooks import NewEvent, emit

Method = Literal["card", "upi", "netbanking", "wallet"]
Outcome = Literal["success", "failure"]
METHODS = ("card", "upi", "netbanking", "wallet")
MIN_AMOUNT = 100
SETTLE_REFUND_JOB = "sandbox.settle_refund"
# A claimed idempotency key whose request never finished may be taken over after this long.
IDEMPOTENCY_IN_FLIGHT_SECONDS = 30
_IDEMPOTENCY_KEY = re.compile(r"^[A-Za-z0-9_-]{10,255}$")
# Razorpay rejects `from` before 2000-01-01.
MIN_FROM_TIMESTAMP = 946684800


# ---- failure reasons (facts §1, §7) -------------------------------------------------------------


@dataclass(frozen=True)
class FailureReason:
    code: str
    description: str
    source: str
    step: str


FAILURE_REASONS: dict[str, FailureReason] = {
    # BAD_REQUEST_ERROR reasons of Razorpay's test cards.
    "payment_cancelled": FailureReason(
        BAD_REQUEST_ERROR,
        "Your payment has been cancelled. Try again or complete the payment later.",
        "customer",
        "payment_authentication",
    ),
    "payment_timed_out": FailureReason(
        BAD_REQUEST_ERROR,
        "Your payment could not be completed on time. Try again later.",
        "customer",
        "payment_authentication",
    ),
    "insufficient_fund": FailureReason(
        BAD_REQUEST_ERROR,
        "Your payment could not be completed due to insufficient account balance. "
        "Try again with another account.",
        "customer",
        "payment_authorization",
    ),
    "card_declined": FailureReason(
        BAD_REQUEST_ERROR,
        "Your payment has been declined by your bank. Try again with another card.",
        "issuer_bank",
        "payment_authorization",
    ),
    "card_disabled_for_online_payments": FailureReason(
        BAD_REQUEST_ERROR,
        "Your card is not enabled for online payments. Try again with another card.",
        "customer",
        "payment_authorization",
    ),
    "card_number_invalid": FailureReason(
        BAD_REQUEST_ERROR,
        "Your payment could not be completed as the card number is invalid. "
        "Try again with another card.",
        "customer",
        "payment_initiation",
    ),
    "invalid_otp": FailureReason(
        BAD_REQUEST_ERROR,
        "Authentication failed due to incorrect otp",
        "customer",
        "payment_authentication",
    ),
    # The UPI failure sample of the payment.failed webhook.
    "payment_failed": FailureReason(
        BAD_REQUEST_ERROR, "Payment failed", "issuer", "payment_authorization"
    ),
    # GATEWAY_ERROR reasons.
    "gateway_technical_error": FailureReason(
        GATEWAY_ERROR,
        "Your payment could not be completed due to a technical error at the bank. "
        "Try again after some time.",
        "gateway",
        "payment_authorization",
    ),
    "authentication_failed": FailureReason(
        GATEWAY_ERROR,
        "Your payment could not be completed as the authentication failed. Try again.",
        "issuer_bank",
        "payment_authentication",
    ),
}

DEFAULT_FAILURE_REASON: dict[str, str] = {
    "card": "card_declined",
    "upi": "payment_failed",
    "netbanking": "payment_failed",
    "wallet": "payment_failed",
}


@dataclass(frozen=True)
class PaymentAttemptResult:
    """What one payment attempt produced.

    `handler_response` is what Checkout's `handler` gets on success (None on failure); `error`
    is what `on('payment.failed')` gets as `response.error` (None on success)."""

    payment: dict[str, Any]
    handler_response: dict[str, str] | None
    error: dict[str, Any] | None


# ---- helpers ------------------------------------------------------------------------------------


def check_id(value: str, prefix: str) -> None:
    if not is_valid_id(value, prefix):
        raise invalid_id(value)


def fee_and_tax(amount: int) -> tuple[int, int]:
    """2% fee plus 18% GST on the fee; `fee` includes the GST (facts §3)."""
    base = (amount * 2 + 50) // 100
    tax = (base * 18 + 50) // 100
    return base + tax, tax


def _request_hash(data: dict[str, Any]) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, default=str).encode()).hexdigest()


def _timestamp(value: int) -> datetime:
    return datetime.fromtimestamp(value, UTC)


def parse_page(query: Payload, *, max_count: int = 100) -> Page:
    count = query.integer("count")
    skip = query.integer("skip")
    from_ = query.integer("from")
    to = query.integer("to")
    if count is not None:
        if count < 1:
            raise validation_error("The count must be at least 1.", "count")
        if count > max_count:
            raise validation_error(f"The count may not be greater than {max_count}.", "count")
    if skip is not None and skip < 0:
        raise validation_error("The skip must be at least 0.", "skip")
    for name, value in (("from", from_), ("to", to)):
        if value is not None and value < MIN_FROM_TIMESTAMP:
            raise validation_error(f"The {name} must be at least {MIN_FROM_TIMESTAMP}.", name)
    if from_ is not None and to is not None and to < from_:
        raise validation_error("The to must be greater than or equal to from.", "to")
    return Page(
        count=10 if count is None else count,
        skip=skip or 0,
        from_time=_timestamp(from_) if from_ is not None else None,
        # `to` is inclusive of its whole second.
        to_time=_timestamp(to + 1) if to is not None else None,
    )


async def _order(
    session: AsyncSession, config: SandboxConfig, order_id: str, *, lock: bool = False
) -> SandboxOrder:
    check_id(order_id, "order")
    order = await repository.get_order(session, config.key_id, order_id, lock=lock)
    if order is None:
        raise not_found()
    return order


async def _payment(
    session: AsyncSession, config: SandboxConfig, payment_id: str, *, lock: bool = False
) -> SandboxPayment:
    check_id(payment_id, "pay")
    payment = await repository.get_payment(session, config.key_id, payment_id, lock=lock)
    if payment is None:
        raise not_found()
    return payment


async def _refund(
    session: AsyncSession, config: SandboxConfig, refund_id: str, *, lock: bool = False
) -> SandboxRefund:
    check_id(refund_id, "rfnd")
    refund = await repository.get_refund(session, config.key_id, refund_id, lock=lock)
    if refund is None:
        raise not_found()
    return refund


# ---- orders -------------------------------------------------------------------------------------

ORDER_FIELDS = (
    "amount",
    "currency",
    "receipt",
    "notes",
    "partial_payment",
    "first_payment_min_amount",
    "payment",
    "payment_capture",
)


def _capture_settings(body: Payload) -> tuple[str, dict[str, Any] | None]:
    """`payment.capture` (+ `capture_options`), else the legacy `payment_capture` 0/1."""
    if body.present("payment"):
        payment = nested(body.data["payment"], "payment")
        unknown = [k for k in payment.data if k not in ("capture", "capture_options")]
        if unknown:
            names = ", ".join(f"payment.{k}" for k in unknown)
            raise validation_error(
                f"{names} is/are not required and should not be sent.", f"payment.{unknown[0]}"
            )
        capture = payment.data.get("capture")
        if capture is None:
            raise validation_error("The payment.capture field is required.", "payment.capture")
        if capture not in ("automatic", "manual"):
            raise validation_error("The selected payment.capture is invalid.", "payment.capture")
        options = _capture_options(payment.data.get("capture_options"), strings=body.strings)
        return capture, options
    if body.present("payment_capture"):
        automatic = to_boolean(body.data["payment_capture"], "payment_capture")
        return ("automatic" if automatic else "manual"), None
    return "automatic", None


def _capture_options(value: Any, *, strings: bool) -> dict[str, Any] | None:
    if value is None:
        return None
    prefix = "payment.capture_options"
    options = nested(value, prefix)
    allowed = ("automatic_expiry_period", "manual_expiry_period", "refund_speed")
    unknown = [k for k in options.data if k not in allowed]
    if unknown:
        names = ", ".join(f"{prefix}.{k}" for k in unknown)
        raise validation_error(
            f"{names} is/are not required and should not be sent.", f"{prefix}.{unknown[0]}"
        )
    result: dict[str, Any] = {}
    for name in ("automatic_expiry_period", "manual_expiry_period"):
        if options.data.get(name) is None:
            continue
        field = f"{prefix}.{name}"
        minutes = to_integer(options.data[name], field, strings=strings)
        if minutes < 12:
            raise validation_error(f"The {field} must be at least 12.", field)
        if name == "manual_expiry_period" and minutes > 7200:
            raise validation_error(f"The {field} may not be greater than 7200.", field)
        result[name] = minutes
    speed = options.data.get("refund_speed")
    if speed is not None:
        if speed not in ("normal", "optimum"):
            field = f"{prefix}.refund_speed"
            raise validation_error(f"The selected {field} is invalid.", field)
        result["refund_speed"] = speed
    return result


async def create_order(
    session: AsyncSession, config: SandboxConfig, body: Payload
) -> dict[str, Any]:
    body.reject_unknown(ORDER_FIELDS)
    amount = body.integer("amount", required=True)
    assert amount is not None
    if amount < MIN_AMOUNT:
        raise validation_error("The amount must be at least INR 1.00", "amount")
    currency = body.string("currency", required=True)
    if currency != "INR":
        raise validation_error("The selected currency is invalid.", "currency")
    receipt = body.string("receipt", max_length=40)
    notes = body.notes()
    partial = body.boolean("partial_payment") or False
    first_minimum = body.integer("first_payment_min_amount")
    if first_minimum is not None:
        if not partial:
            raise validation_error(
                "first_payment_min_amount is/are not required and should not be sent.",
                "first_payment_min_amount",
            )
        if first_minimum < MIN_AMOUNT:
            raise validation_error(
                "The first payment min amount must be at least INR 1.00",
                "first_payment_min_amount",
            )
        if first_minimum > amount:
            raise validation_error(
                "The first payment min amount may not be greater than the order amount.",
                "first_payment_min_amount",
            )
    capture, capture_options = _capture_settings(body)
    now = utcnow()
    order_id = new_id("order")
    inserted = await repository.insert_order(
        session,
        {
            "id": order_id,
            "key_id": config.key_id,
            "amount": amount,
            "amount_paid": 0,
            "currency": currency,
            "receipt": receipt,
            "status": "created",
            "attempts": 0,
            "notes": notes,
            "partial_payment": partial,
            "first_payment_min_amount": first_minimum,
            "capture": capture,
            "capture_options": capture_options,
            "created": now,
            "updated": now,
        },
    )
    if not inserted:
        raise validation_error(
            "An order with the same receipt value has already been created", "receipt"
        )
    return order_entity(await _order(session, config, order_id))


def _expansions(values: list[str], allowed: tuple[str, ...]) -> set[str]:
    for value in values:
        if value not in allowed:
            raise validation_error("The selected expand is invalid.", "expand")
    return set(values)


async def fetch_order(
    session: AsyncSession, config: SandboxConfig, order_id: str, expand: list[str] | None = None
) -> dict[str, Any]:
    expansions = _expansions(expand or [], ("payments", "payments.card"))
    order = await _order(session, config, order_id)
    entity = order_entity(order)
    if expansions:
        payments = await repository.list_payments(
            session, config.key_id, Page(count=1000), order_id=order.id
        )
        entity["payments"] = collection([payment_entity(p) for p in payments])
    return entity


async def list_orders(
    session: AsyncSession, config: SandboxConfig, query: Payload, expand: list[str] | None = None
) -> dict[str, Any]:
    query.reject_unknown(("from", "to", "count", "skip", "receipt", "authorized", "expand[]"))
    page = parse_page(query)
    receipt = query.string("receipt")
    authorized = query.boolean("authorized")
    expansions = _expansions(expand or [], ("payments", "payments.card"))
    orders = await repository.list_orders(
        session, config.key_id, page, receipt=receipt, authorized=authorized
    )
    items = []
    for order in orders:
        entity = order_entity(order)
        if expansions:
            payments = await repository.list_payments(
                session, config.key_id, Page(count=1000), order_id=order.id
            )
            entity["payments"] = collection([payment_entity(p) for p in payments])
        items.append(entity)
    return collection(items)


async def order_payments(
    session: AsyncSession, config: SandboxConfig, order_id: str
) -> dict[str, Any]:
    order = await _order(session, config, order_id)
    payments = await repository.list_payments(
        session, config.key_id, Page(count=1000), order_id=order.id
    )
    return collection([payment_entity(p) for p in payments])


async def update_notes(
    session: AsyncSession, config: SandboxConfig, kind: str, entity_id: str, body: Payload
) -> dict[str, Any]:
    """PATCH /v1/{orders|payments|refunds}/:id — only `notes` may change (it is replaced)."""
    body.reject_unknown(("notes",))
    if not body.present("notes"):
        raise validation_error("The notes field is required.", "notes")
    notes = body.notes()
    now = utcnow()
    if kind == "order":
        order = await _order(session, config, entity_id, lock=True)
        order.notes, order.updated = notes, now
        return order_entity(order)
    if kind == "payment":
        payment = await _payment(session, config, entity_id, lock=True)
        payment.notes, payment.updated = notes, now
        return payment_entity(payment)
    refund = await _refund(session, config, entity_id, lock=True)
    refund.notes, refund.updated = notes, now
    return refund_entity(refund)


# ---- payments -----------------------------------------------------------------------------------


async def fetch_payment(
    session: AsyncSession, config: SandboxConfig, payment_id: str, expand: list[str] | None = None
) -> dict[str, Any]:
    expansions = _expansions(
        expand or [], ("card", "emi", "offers", "refunds", "transaction", "upi")
    )
    payment = await _payment(session, config, payment_id)
    entity = payment_entity(payment)
    if "refunds" in expansions:
        refunds = await repository.list_refunds(
            session, config.key_id, Page(count=1000), payment_id=payment.id
        )
        entity["refunds"] = collection([refund_entity(r) for r in refunds])
    return entity


async def list_payments(
    session: AsyncSession, config: SandboxConfig, query: Payload
) -> dict[str, Any]:
    query.reject_unknown(("from", "to", "count", "skip", "expand[]"))
    payments = await repository.list_payments(session, config.key_id, parse_page(query))
    return collection([payment_entity(p) for p in payments])


def _capture_events(payment: SandboxPayment, order: SandboxOrder, now: datetime) -> list[NewEvent]:
    """Capture an authorized payment (row locked by the caller) and pay its order."""
    payment.status = "captured"
    payment.captured = True
    payment.fee, payment.tax = fee_and_tax(payment.amount)
    payment.captured_at = payment.updated = now
    events = [NewEvent("payment.captured", {"payment": payment_entity(payment)})]
    was_paid = order.status == "paid"
    order.amount_paid += payment.amount
    order.updated = now
    if not order.partial_payment or order.amount_paid >= order.amount:
        order.status = "paid"
    if order.status == "paid" and not was_paid:
        snapshot = {"payment": payment_entity(payment), "order": order_entity(order)}
        events.append(NewEvent("order.paid", snapshot))
    return events


CAPTURE_FIELDS = ("amount", "currency")


async def capture_payment(
    session: AsyncSession, config: SandboxConfig, payment_id: str, body: Payload
) -> dict[str, Any]:
    """POST /v1/payments/:id/capture. Two concurrent captures: the payment row lock makes the
    second see the first's result ("already captured")."""
    check_id(payment_id, "pay")
    body.reject_unknown(CAPTURE_FIELDS)
    amount = body.integer("amount", required=True)
    currency = body.string("currency", required=True)
    payment = await _payment(session, config, payment_id, lock=True)
    if payment.captured:
        raise SandboxError("This payment has already been captured")
    if payment.status != "authorized":
        raise SandboxError(
            "Only payments which have been authorized and not yet captured can be captured"
        )
    if amount != payment.amount:
        raise validation_error("Capture amount must be equal to the amount authorized", "amount")
    if currency != payment.currency:
        raise validation_error("The currency should be same as the payment currency", "currency")
    order = await _order(session, config, payment.order_id, lock=True)
    events = _capture_events(payment, order, utcnow())
    await session.flush()
    await emit(session, config, events)
    return payment_entity(payment)


# ---- Checkout: payment attempts ----------------------------------------------------------------


def _validate_text(value: str | None, name: str, max_length: int) -> None:
    if value is not None and (not isinstance(value, str) or not value or len(value) > max_length):
        raise validation_error(
            f"The {name} must be a string of at most {max_length} characters.", name
        )


def _method_details(
    method: str,
    success: bool,
    *,
    card_last4: str | None,
    card_network: str | None,
    vpa: str | None,
    bank: str | None,
    wallet: str | None,
) -> dict[str, Any]:
    """The method-specific fields of a payment (values a test-mode payment would show)."""
    details: dict[str, Any] = {
        "card_id": None,
        "card": None,
        "bank": None,
        "wallet": None,
        "vpa": None,
        "upi": None,
    }
    if method == "card":
        if card_last4 is not None and not re.fullmatch(r"[0-9]{4}", card_last4):
            raise validation_error("The card last4 must be 4 digits.", "card_last4")
        _validate_text(card_network, "card_network", 32)
        card_id = new_id("card")
        details["card_id"] = card_id
        details["card"] = {
            "id": card_id,
            "entity": "card",
            "name": "",
            "last4": card_last4 or "1007",  # Visa 4100 2800 0000 1007, a test success card
            "network": card_network or "Visa",
            "type": "debit",
            "issuer": None,
            "international": False,
            "emi": False,
            "sub_type": "consumer",
            "token_iin": None,
        }
        details["acquirer_data"] = {"auth_code": random_digits(6) if success else None}
    elif method == "upi":
        chosen = vpa or ("success@razorpay" if success else "failure@razorpay")
        if "@" not in chosen or len(chosen) > 255:
            raise validation_error("The vpa must look like name@bank.", "vpa")
        details["vpa"] = chosen
        details["upi"] = {"payer_account_type": "bank_account", "vpa": chosen, "flow": "collect"}
        details["acquirer_data"] = {
            "rrn": random_digits(12) if success else None,
            "upi_transaction_id": None,
        }
    elif method == "netbanking":
        _validate_text(bank, "bank", 32)
        details["bank"] = bank or "HDFC"
        details["acquirer_data"] = {"bank_transaction_id": random_digits(7) if success else None}
    else:
        _validate_text(wallet, "wallet", 32)
        details["wallet"] = wallet or "freecharge"
        details["acquirer_data"] = {"transaction_id": None}
    return details


def _checkout_error(payment: SandboxPayment) -> dict[str, Any]:
    """Checkout's `response.error` for `payment.failed` (facts §7)."""
    return {
        "code": payment.error_code,
        "description": payment.error_description,
        "source": payment.error_source,
        "step": payment.error_step,
        "reason": payment.error_reason,
        "metadata": {"order_id": payment.order_id, "payment_id": payment.id},
    }


async def find_order_for_checkout(
    session: AsyncSession, config: SandboxConfig, *, key_id: str, order_id: str
) -> dict[str, Any]:
    """The order Checkout was opened for; a `key` other than the order's answers, as Razorpay
    does, "The id provided does not exist"."""
    if key_id != config.key_id:
        raise SandboxError(ID_DOES_NOT_EXIST)
    return order_entity(await _order(session, config, order_id))


async def attempt_payment(
    session: AsyncSession,
    config: SandboxConfig,
    *,
    order_id: str,
    method: Literal["card", "upi", "netbanking", "wallet"],
    outcome: Literal["success", "failure"],
    error_reason: str | None = None,
    amount: int | None = None,
    email: str | None = None,
    contact: str | None = None,
    card_last4: str | None = None,
    card_network: str | None = None,
    vpa: str | None = None,
    bank: str | None = None,
    wallet: str | None = None,
    send_webhooks: bool = True,
) -> PaymentAttemptResult:
    """One payment attempt on an order, as Checkout makes it.

    Success: the payment is authorized (`payment.authorized`) and, when the order captures
    automatically (the default), captured at once (`payment.captured`, then `order.paid`).
    Failure: the payment fails with the reason's code/description/source/step
    (`payment.failed`). Either way the order counts the attempt and leaves `created`.
    Fields that do not apply to `method` (e.g. `vpa` for a card) are ignored.
    """
    if method not in METHODS:
        raise validation_error("The selected method is invalid.", "method")
    if outcome not in ("success", "failure"):
        raise validation_error("The selected outcome is invalid.", "outcome")
    if outcome == "success" and error_reason is not None:
        raise validation_error(
            "error_reason is/are not required and should not be sent.", "error_reason"
        )
    reason_name = error_reason or DEFAULT_FAILURE_REASON[method]
    if outcome == "failure" and reason_name not in FAILURE_REASONS:
        raise validation_error("The selected error reason is invalid.", "error_reason")
    _validate_text(email, "email", 320)
    _validate_text(contact, "contact", 32)
    success = outcome == "success"
    details = _method_details(
        method,
        success,
        card_last4=card_last4,
        card_network=card_network,
        vpa=vpa,
        bank=bank,
        wallet=wallet,
    )

    order = await _order(session, config, order_id, lock=True)
    if order.status == "paid":
        raise SandboxError(ORDER_ALREADY_PAID, metadata={"order_id": order.id})
    amount_due = order.amount - order.amount_paid
    if amount is None:
        amount = amount_due
    elif isinstance(amount, bool) or not isinstance(amount, int):
        raise validation_error("The amount must be an integer.", "amount")
    if amount < MIN_AMOUNT:
        raise validation_error("The amount must be at least INR 1.00", "amount")
    if order.partial_payment:
        if amount > amount_due:
            raise validation_error("The amount may not be greater than the amount due.", "amount")
        minimum = order.first_payment_min_amount
        if order.amount_paid == 0 and minimum is not None and amount < minimum:
            raise validation_error(
                "The amount must be at least the order's first payment min amount.", "amount"
            )

    now = utcnow()
    order.attempts += 1
    if order.status == "created":
        order.status = "attempted"
    order.updated = now
    payment = SandboxPayment(
        id=new_id("pay"),
        key_id=config.key_id,
        order_id=order.id,
        amount=amount,
        currency=order.currency,
        status="authorized" if success else "failed",
        method=method,
        captured=False,
        amount_refunded=0,
        refund_status=None,
        description=None,
        email=email or "void@razorpay.com",
        contact=contact or "+919000090000",
        notes={},
        fee=None,
        tax=None,
        created=now,
        authorized_at=now if success else None,
        updated=now,
        **details,
    )
    if not success:
        reason = FAILURE_REASONS[reason_name]
        payment.error_code = reason.code
        payment.error_description = reason.description
        payment.error_source = reason.source
        payment.error_step = reason.step
        payment.error_reason = reason_name
    session.add(payment)

    if success:
        events = [NewEvent("payment.authorized", {"payment": payment_entity(payment)})]
        if order.capture == "automatic":
            events += _capture_events(payment, order, now)
    else:
        events = [NewEvent("payment.failed", {"payment": payment_entity(payment)})]
    await session.flush()
    if send_webhooks:
        await emit(session, config, events)

    if not success:
        return PaymentAttemptResult(payment_entity(payment), None, _checkout_error(payment))
    handler_response = {
        "razorpay_payment_id": payment.id,
        "razorpay_order_id": order.id,
        "razorpay_signature": payment_signature(order.id, payment.id, config.key_secret),
    }
    return PaymentAttemptResult(payment_entity(payment), handler_response, None)


async def capture_late(
    session: AsyncSession, config: SandboxConfig, payment_id: str, *, send_webhooks: bool = True
) -> dict[str, Any]:
    """Late authorization: a failed payment is authorized after all (`payment.authorized`) and,
    when its order captures automatically, captured (`payment.captured`, `order.paid`)."""
    payment = await _payment(session, config, payment_id, lock=True)
    if payment.status != "failed":
        raise SandboxError(
            f"Only a failed payment can be authorized late; this payment is {payment.status}."
        )
    order = await _order(session, config, payment.order_id, lock=True)
    now = utcnow()
    details = _method_details(
        payment.method,
        True,
        card_last4=(payment.card or {}).get("last4"),
        card_network=(payment.card or {}).get("network"),
        vpa=payment.vpa if payment.vpa != "failure@razorpay" else None,
        bank=payment.bank,
        wallet=payment.wallet,
    )
    payment.status = "authorized"
    payment.acquirer_data = details["acquirer_data"]
    payment.error_code = payment.error_description = payment.error_source = None
    payment.error_step = payment.error_reason = None
    payment.authorized_at = payment.updated = now
    events = [NewEvent("payment.authorized", {"payment": payment_entity(payment)})]
    if order.capture == "automatic":
        events += _capture_events(payment, order, now)
    await session.flush()
    if send_webhooks:
        await emit(session, config, events)
    return {"payment": payment_entity(payment), "order": order_entity(order)}


# ---- refunds ------------------------------------------------------------------------------------

REFUND_FIELDS = ("amount", "speed", "notes", "receipt")
IN_FLIGHT = "A request with the same idempotency key is in progress. Retry after some time."


def check_idempotency_key(key: str | None) -> None:
    if key is not None and not _IDEMPOTENCY_KEY.match(key):
        raise SandboxError(
            "The X-Refund-Idempotency header must be 10 to 255 characters of letters, digits, "
            "hyphens and underscores.",
            field="X-Refund-Idempotency",
        )


async def create_refund(
    db: Database,
    config: SandboxConfig,
    payment_id: str,
    body: Payload,
    idempotency_key: str | None,
) -> dict[str, Any]:
    """POST /v1/payments/:id/refund, in phases so `X-Refund-Idempotency` behaves as documented:
    the same key and body give the same refund; the same key with another body gives 409
    "Different request…"; a repeat while the first is still in flight gives 409 too.
    A request that fails frees its key, so a corrected retry can use it."""
    check_id(payment_id, "pay")
    check_idempotency_key(idempotency_key)
    body.reject_unknown(REFUND_FIELDS)
    amount = body.integer("amount")
    if amount is not None and amount < MIN_AMOUNT:
        raise validation_error("The amount must be at least INR 1.00.", "amount")
    speed = body.choice("speed", ("normal", "optimum")) or "normal"
    notes = body.notes()
    receipt = body.string("receipt", max_length=40)
    request_hash = _request_hash({"payment_id": payment_id, "body": body.data})

    if idempotency_key is not None:
        async with db.transaction() as session:
            existing = await _claim_idempotency_key(session, config, idempotency_key, request_hash)
            if existing is not None:
                return existing
    try:
        async with db.transaction() as session:
            refund = await _create_refund(
                session,
                config,
                payment_id,
                amount=amount,
                speed=speed,
                notes=notes,
                receipt=receipt,
            )
            if idempotency_key is not None:
                record = await repository.get_idempotency_key(
                    session, config.key_id, idempotency_key, lock=True
                )
                assert record is not None
                record.refund_id = refund["id"]
            return refund
    except BaseException:
        if idempotency_key is not None:
            async with db.transaction() as session:
                await repository.release_idempotency_key(session, config.key_id, idempotency_key)
        raise


async def _claim_idempotency_key(
    session: AsyncSession, config: SandboxConfig, key: str, request_hash: str
) -> dict[str, Any] | None:
    """None when this request may go ahead; the earlier refund when it is a repeat."""
    now = utcnow()
    if await repository.claim_idempotency_key(session, config.key_id, key, request_hash, now):
        return None
    record = await repository.get_idempotency_key(session, config.key_id, key, lock=True)
    if record is None:  # released between our insert and read: claim again
        if await repository.claim_idempotency_key(session, config.key_id, key, request_hash, now):
            return None
        raise SandboxError(IN_FLIGHT, status=409)
    if record.request_hash != request_hash:
        raise SandboxError(
            "Different request with the same idempotency key has already been processed.",
            status=409,
        )
    if record.refund_id is not None:
        return refund_entity(await _refund(session, config, record.refund_id))
    stale_before = now - timedelta(seconds=IDEMPOTENCY_IN_FLIGHT_SECONDS)
    if await repository.retake_stale_idempotency_key(
        session, config.key_id, key, older_than=stale_before, now=now
    ):
        return None
    raise SandboxError(IN_FLIGHT, status=409)


async def _create_refund(
    session: AsyncSession,
    config: SandboxConfig,
    payment_id: str,
    *,
    amount: int | None,
    speed: str,
    notes: dict[str, Any],
    receipt: str | None,
) -> dict[str, Any]:
    payment = await _payment(session, config, payment_id, lock=True)
    if not payment.captured:
        raise SandboxError("The payment status should be captured for action to be taken")
    refundable = payment.amount - payment.amount_refunded
    if refundable <= 0:
        raise SandboxError("The payment has been fully refunded already.")
    if amount is None:
        amount = refundable
    elif amount > refundable:
        raise validation_error(
            "The refund amount provided is greater than amount captured.", "amount"
        )
    now = utcnow()
    refund = SandboxRefund(
        id=new_id("rfnd"),
        key_id=config.key_id,
        payment_id=payment.id,
        amount=amount,
        currency=payment.currency,
        notes=notes,
        receipt=receipt,
        status="pending",
        speed_requested=speed,
        speed_processed="instant" if speed == "optimum" else "normal",
        acquirer_data={"arn": None},
        created=now,
        updated=now,
    )
    session.add(refund)
    payment.amount_refunded += amount
    _set_refund_status(payment)
    payment.updated = now
    await session.flush()
    snapshot = {"refund": refund_entity(refund), "payment": payment_entity(payment)}
    await emit(session, config, [NewEvent("refund.created", snapshot)])
    if config.refund_settle_seconds is not None:
        await enqueue(
            session,
            SETTLE_REFUND_JOB,
            {"key_id": config.key_id, "refund_id": refund.id},
            delay=config.refund_settle_seconds,
        )
    return refund_entity(refund)


def _set_refund_status(payment: SandboxPayment) -> None:
    if payment.amount_refunded <= 0:
        payment.refund_status = None
        payment.status = "captured"
    elif payment.amount_refunded >= payment.amount:
        payment.refund_status = "full"
        payment.status = "refunded"
    else:
        payment.refund_status = "partial"
        payment.status = "captured"


async def fetch_refund(
    session: AsyncSession, config: SandboxConfig, refund_id: str
) -> dict[str, Any]:
    return refund_entity(await _refund(session, config, refund_id))


async def fetch_payment_refund(
    session: AsyncSession, config: SandboxConfig, payment_id: str, refund_id: str
) -> dict[str, Any]:
    payment = await _payment(session, config, payment_id)
    refund = await _refund(session, config, refund_id)
    if refund.payment_id != payment.id:
        raise not_found()
    return refund_entity(refund)


async def list_refunds(
    session: AsyncSession, config: SandboxConfig, query: Payload, payment_id: str | None = None
) -> dict[str, Any]:
    query.reject_unknown(("from", "to", "count", "skip"))
    page = parse_page(query)
    if payment_id is not None:
        await _payment(session, config, payment_id)
    refunds = await repository.list_refunds(session, config.key_id, page, payment_id=payment_id)
    return collection([refund_entity(r) for r in refunds])


async def settle_refund(
    session: AsyncSession,
    config: SandboxConfig,
    refund_id: str,
    *,
    outcome: Literal["processed", "failed"],
    send_webhooks: bool = True,
) -> dict[str, Any]:
    """A pending refund is processed (`refund.processed`) or fails (`refund.failed`, and the
    amount is refundable again)."""
    if outcome not in ("processed", "failed"):
        raise validation_error("The selected outcome is invalid.", "outcome")
    refund = await _refund(session, config, refund_id, lock=True)
    if refund.status != "pending":
        raise SandboxError(f"The refund is already {refund.status}.")
    payment = await _payment(session, config, refund.payment_id, lock=True)
    now = utcnow()
    refund.status = outcome
    refund.settled_at = refund.updated = now
    if outcome == "processed":
        refund.acquirer_data = {"arn": random_digits(14)}
    else:
        payment.amount_refunded -= refund.amount
        _set_refund_status(payment)
        payment.updated = now
    await session.flush()
    if send_webhooks:
        snapshot = {"refund": refund_entity(refund), "payment": payment_entity(payment)}
        await emit(session, config, [NewEvent(f"refund.{outcome}", snapshot)])
    return {"refund": refund_entity(refund), "payment": payment_entity(payment)}
