"""HMAC-SHA256 signatures Razorpay uses (razorpay-facts.md §5, §6), compared in constant time."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Iterable


def _hmac_hex(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


def payment_signature(order_id: str, payment_id: str, key_secret: str) -> str:
    """What Checkout returns as `razorpay_signature`: HMAC(key_secret, order_id|payment_id)."""
    return _hmac_hex(key_secret, f"{order_id}|{payment_id}".encode())


def verify_payment_signature(
    order_id: str, payment_id: str, signature: str, key_secret: str
) -> bool:
    """`order_id` must come from our own database, never from the client's echo."""
    expected = payment_signature(order_id, payment_id, key_secret)
    return hmac.compare_digest(expected.encode(), signature.strip().lower().encode())


def webhook_signature(raw_body: bytes, webhook_secret: str) -> str:
    """`X-Razorpay-Signature`: HMAC(webhook_secret, the raw request body, byte for byte)."""
    return _hmac_hex(webhook_secret, raw_body)


def verify_webhook_signature(raw_body: bytes, signature: str, secrets: Iterable[str]) -> bool:
    """True when any configured secret matches: during a rotation, Razorpay's retries of older
    events still carry signatures made with the old secret. Every secret is checked, so the
    time taken does not reveal which one matched."""
    given = signature.strip().lower().encode()
    matched = False
    for secret in secrets:
        matched |= hmac.compare_digest(webhook_signature(raw_body, secret).encode(), given)
    return matched
