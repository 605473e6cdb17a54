"""Razorpay-style identifiers: a prefix plus 14 case-sensitive alphanumerics (facts §1)."""

from __future__ import annotations

import re
import secrets
import string

ID_BODY_LENGTH = 14
_ALPHANUMERIC = string.ascii_letters + string.digits
_ID = re.compile(r"^(?P<prefix>[a-z]+)_(?P<body>[A-Za-z0-9]{14})$")


def random_alphanumeric(length: int = ID_BODY_LENGTH) -> str:
    return "".join(secrets.choice(_ALPHANUMERIC) for _ in range(length))


def new_id(prefix: str) -> str:
    """`order_…`, `pay_…`, `rfnd_…`, `card_…`."""
    return f"{prefix}_{random_alphanumeric()}"


def new_event_id() -> str:
    """`X-Razorpay-Event-Id`: its real format is unpublished; we send 14 alphanumerics, the
    body of Razorpay's entity ids without a prefix (treat it as an opaque string)."""
    return random_alphanumeric()


def random_digits(length: int) -> str:
    return "".join(secrets.choice(string.digits) for _ in range(length))


def is_valid_id(value: str, prefix: str) -> bool:
    match = _ID.match(value)
    return match is not None and match.group("prefix") == prefix
