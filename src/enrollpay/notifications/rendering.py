"""Email templates: subject, plain text and HTML for each kind, rendered at queue time.

Each kind names the context it needs (`EMAIL_KINDS`); a missing, unknown or ill-typed value is
a programming error raised by `queue_email`, inside the caller's transaction, rather than a job
that fails later. Amounts are paise integers; times are aware datetimes, shown in IST.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from jinja2 import Environment, FileSystemLoader, StrictUndefined, select_autoescape

from enrollpay.kit.money import format_money

TEMPLATES_DIR = Path(__file__).parent / "templates"
# Learners are in India (INR only in version 1), which has no daylight saving time.
IST = timezone(timedelta(hours=5, minutes=30), "IST")


@dataclass(frozen=True)
class EmailKind:
    required: tuple[str, ...]
    optional: Mapping[str, Any] = field(default_factory=dict)  # name → default


# Every kind may greet the learner by name.
COMMON_OPTIONAL: Mapping[str, Any] = {"learner_name": None}

EMAIL_KINDS: dict[str, EmailKind] = {
    "enrollment_confirmed": EmailKind(
        required=(
            "course_title",
            "original_amount",
            "course_discount",
            "coupon_discount",
            "tax_amount",
            "total_paid",
            "payment_id",
            "paid_at",
            "access_url",
        ),
        optional={"coupon_code": None, "currency": "INR"},
    ),
    "payment_failed": EmailKind(
        required=("course_title", "amount", "payment_url"),
        optional={"reason": None, "currency": "INR"},
    ),
    "refund_processed": EmailKind(
        required=("course_title", "amount", "refund_id"), optional={"currency": "INR"}
    ),
    # To admins, when a refund failed (the learner was not paid back).
    "refund_failed_alert": EmailKind(
        required=(
            "course_title",
            "amount",
            "refund_id",
            "refund_kind",
            "failure_reason",
            "enrollment_id",
            "learner_email",
        ),
        optional={"razorpay_refund_id": None, "currency": "INR"},
    ),
    "abandoned_checkout": EmailKind(
        required=("course_title", "amount", "payment_url"), optional={"currency": "INR"}
    ),
    "password_reset": EmailKind(required=("reset_url", "expires_at")),
    "email_verification": EmailKind(required=("verify_url",)),
}

AMOUNT_FIELDS = frozenset(
    {
        "original_amount",
        "course_discount",
        "coupon_discount",
        "tax_amount",
        "total_paid",
        "amount",
    }
)
TIME_FIELDS = frozenset({"paid_at", "expires_at"})


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    text_body: str
    html_body: str


def format_time(value: datetime) -> str:
    """An aware datetime → "27 Nov 2026, 10:35 IST"."""
    return value.astimezone(IST).strftime("%d %b %Y, %H:%M IST")


# Also renders the dev mailbox pages (templates/mailbox/).
environment = Environment(
    loader=FileSystemLoader(TEMPLATES_DIR),
    # HTML templates escape every value (a course title is admin input); text ones must not.
    autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False),
    undefined=StrictUndefined,
    auto_reload=False,
    trim_blocks=True,
    lstrip_blocks=True,
)
environment.filters["money"] = format_money
environment.filters["time"] = format_time


def _checked_context(kind: str, context: Mapping[str, Any]) -> dict[str, Any]:
    spec = EMAIL_KINDS.get(kind)
    if spec is None:
        raise ValueError(f"unknown email kind {kind!r}; known: {', '.join(sorted(EMAIL_KINDS))}")
    allowed = {**COMMON_OPTIONAL, **spec.optional}
    missing = [name for name in spec.required if name not in context]
    unknown = [name for name in context if name not in allowed and name not in spec.required]
    if missing or unknown:
        raise ValueError(f"email {kind!r}: missing context {missing}, unknown context {unknown}")
    values = {**allowed, **context}
    for name, value in values.items():
        if name in AMOUNT_FIELDS and (type(value) is not int or value < 0):
            raise ValueError(f"email {kind!r}: {name} must be a non-negative integer of paise")
        if name in TIME_FIELDS and (not isinstance(value, datetime) or value.utcoffset() is None):
            raise ValueError(f"email {kind!r}: {name} must be a timezone-aware datetime")
        if name.endswith("_url") and urlsplit(str(value)).scheme not in ("http", "https"):
            raise ValueError(f"email {kind!r}: {name} must be an absolute http(s) URL")
    return values


def render_email(kind: str, context: Mapping[str, Any]) -> RenderedEmail:
    values = _checked_context(kind, context)
    subject = environment.get_template(f"{kind}.subject.txt").render(values)
    return RenderedEmail(
        # One line whatever the values hold: a header cannot carry a line break.
        subject=" ".join(subject.split()),
        text_body=environment.get_template(f"{kind}.txt").render(values),
        html_body=environment.get_template(f"{kind}.html").render(values),
    )
