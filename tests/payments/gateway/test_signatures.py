"""Signature helpers against Razorpay's published test vectors (razorpay-facts.md §5)."""

from __future__ import annotations

from pathlib import Path

from enrollpay.payments.gateway.signatures import (
    payment_signature,
    verify_payment_signature,
    verify_webhook_signature,
    webhook_signature,
)

VECTORS = Path(__file__).parent / "vectors"
WEBHOOK_BYTES = (VECTORS / "razorpay-python-fake_payment_authorized_webhook.json").read_bytes()
WEBHOOK_SIGNATURE = "d60e67fd884556c045e9be7dad57903e33efc7172c17c6e3ef77db42d2b366e9"


def test_payment_signature_vectors():
    assert (
        payment_signature("fake_order_id", "fake_payment_id", "key_secret")
        == "b2335e3b0801106b84a7faff035df56ecffde06918c9ddd1f0fafbb37a51cc89"
    )
    docs = "0d4e745a1838664ad6c9c9902212a32d627d68e917290b0ad5f08ff4561bc50f"
    assert verify_payment_signature(
        "order_IEIaMR65cu6nz3", "pay_IH4NVgf4Dreq1l", docs, "EnLs21M47BllR3X8PSFtjtbd"
    )


def test_payment_signature_rejects_swaps_and_other_secrets():
    good = payment_signature("order_A", "pay_B", "secret")
    assert verify_payment_signature("order_A", "pay_B", good.upper(), "secret")
    assert not verify_payment_signature("order_B", "pay_A", good, "secret")
    assert not verify_payment_signature("order_A", "pay_B", good, "other-secret")
    assert not verify_payment_signature("order_A", "pay_B", "", "secret")
    assert not verify_payment_signature("order_A", "pay_B", good[:-1], "secret")


def test_webhook_vector_over_raw_bytes():
    assert webhook_signature(WEBHOOK_BYTES, "key_secret") == WEBHOOK_SIGNATURE
    assert verify_webhook_signature(WEBHOOK_BYTES, WEBHOOK_SIGNATURE, ["key_secret"])
    # One changed byte (here: the trailing newline dropped) breaks it: never re-serialise.
    assert not verify_webhook_signature(WEBHOOK_BYTES.rstrip(), WEBHOOK_SIGNATURE, ["key_secret"])


def test_webhook_secret_rotation_accepts_any_configured_secret():
    assert verify_webhook_signature(WEBHOOK_BYTES, WEBHOOK_SIGNATURE, ["new", "key_secret"])
    assert not verify_webhook_signature(WEBHOOK_BYTES, WEBHOOK_SIGNATURE, ["new", "newer"])
    assert not verify_webhook_signature(WEBHOOK_BYTES, WEBHOOK_SIGNATURE, [])
