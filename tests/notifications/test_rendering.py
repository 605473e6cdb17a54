"""Templates: the receipt's numbers exactly, escaping, every kind's essentials, and context
mistakes caught at queue time."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from enrollpay.notifications.rendering import EMAIL_KINDS, TEMPLATES_DIR, render_email

PAID_AT = datetime(2026, 11, 27, 5, 5, tzinfo=UTC)  # 10:35 in India


def receipt(**overrides: Any) -> dict[str, Any]:
    context: dict[str, Any] = {
        "learner_name": "Asha",
        "course_title": "Data Structures in Python",
        "original_amount": 349900,
        "course_discount": 50000,
        "coupon_discount": 29990,
        "coupon_code": "SAVE10",
        "tax_amount": 48584,
        "total_paid": 318494,
        "payment_id": "pay_QwErTy12345678",
        "paid_at": PAID_AT,
        "access_url": "https://lms.example.com/courses/dsa?start=1&ref=mail",
    }
    context.update(overrides)
    return context


def test_receipt_shows_every_amount_in_rupees():
    email = render_email("enrollment_confirmed", receipt())
    assert email.subject == "You're enrolled in Data Structures in Python"
    for body in (email.text_body, email.html_body):
        for shown in ("₹3,499.00", "₹500.00", "₹299.90", "SAVE10", "₹485.84", "₹3,184.94"):
            assert shown in body
        assert "pay_QwErTy12345678" in body
        assert "27 Nov 2026, 10:35 IST" in body
        assert "Hi Asha," in body
    assert "Total paid:        ₹3,184.94" in email.text_body
    assert "https://lms.example.com/courses/dsa?start=1&ref=mail" in email.text_body
    assert 'href="https://lms.example.com/courses/dsa?start=1&amp;ref=mail"' in email.html_body


def test_receipt_without_discounts_has_no_discount_lines():
    email = render_email(
        "enrollment_confirmed",
        receipt(
            course_discount=0,
            coupon_discount=0,
            coupon_code=None,
            tax_amount=45000,
            total_paid=295000,
            original_amount=250000,
        ),
    )
    for body in (email.text_body, email.html_body):
        assert "discount" not in body.lower() and "Coupon" not in body
        assert "₹2,500.00" in body and "₹450.00" in body and "₹2,950.00" in body


def test_html_escapes_values_and_text_keeps_them():
    title = 'Hacking <script>alert("x")</script> & more'
    email = render_email(
        "enrollment_confirmed", receipt(course_title=title, learner_name="<b>Eve</b>")
    )
    assert "<script>" not in email.html_body
    assert "&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt; &amp; more" in email.html_body
    assert "&lt;b&gt;Eve&lt;/b&gt;" in email.html_body
    assert title in email.text_body  # plain text is not HTML: no entities
    assert email.subject == f"You're enrolled in {title}"


def test_subject_is_one_line_whatever_the_title_holds():
    email = render_email(
        "refund_processed",
        {"course_title": "A\r\nBcc: x@evil", "amount": 100, "refund_id": "rfd_1"},
    )
    assert "\n" not in email.subject and "\r" not in email.subject
    assert email.subject == "Your refund for A Bcc: x@evil has been processed"


@pytest.mark.parametrize(
    ("kind", "context", "expected"),
    [
        (
            "payment_failed",
            {
                "course_title": "SQL Basics",
                "amount": 118000,
                "reason": "Card declined by the bank",
                "payment_url": "https://pay.example.com/pay/enr_1?t=abc",
            },
            ["SQL Basics", "₹1,180.00", "Card declined by the bank", "/pay/enr_1?t=abc"],
        ),
        (
            "refund_processed",
            {"course_title": "SQL Basics", "amount": 59000, "refund_id": "rfd_0123"},
            ["SQL Basics", "₹590.00", "rfd_0123"],
        ),
        (
            "abandoned_checkout",
            {
                "course_title": "SQL Basics",
                "amount": 118000,
                "payment_url": "https://pay.example.com/pay/enr_1?t=abc",
            },
            ["SQL Basics", "₹1,180.00", "/pay/enr_1?t=abc"],
        ),
        (
            "password_reset",
            {"reset_url": "https://pay.example.com/reset?t=r1", "expires_at": PAID_AT},
            ["https://pay.example.com/reset?t=r1", "27 Nov 2026, 10:35 IST"],
        ),
        (
            "email_verification",
            {"verify_url": "https://pay.example.com/verify?t=v1"},
            ["https://pay.example.com/verify?t=v1"],
        ),
    ],
)
def test_each_kind_says_what_it_is_for(kind, context, expected):
    email = render_email(kind, context)
    assert email.subject
    for body in (email.text_body, email.html_body):
        for shown in expected:
            assert shown in body, (kind, shown)
        assert "Hello," in body  # no learner_name given


def test_payment_failed_without_a_reason_still_links_the_retry():
    email = render_email(
        "payment_failed",
        {"course_title": "SQL", "amount": 100, "payment_url": "https://pay.example.com/pay/x"},
    )
    assert "Reason" not in email.text_body and "Reason" not in email.html_body
    assert "https://pay.example.com/pay/x" in email.text_body


def test_every_kind_has_its_three_templates():
    for kind in EMAIL_KINDS:
        for suffix in (".subject.txt", ".txt", ".html"):
            assert (TEMPLATES_DIR / f"{kind}{suffix}").is_file(), kind + suffix


@pytest.mark.parametrize(
    ("kind", "context", "message"),
    [
        ("welcome", {}, "unknown email kind"),
        ("enrollment_confirmed", receipt(total_paid=None), "total_paid must be"),
        (
            "enrollment_confirmed",
            {k: v for k, v in receipt().items() if k != "tax_amount"},
            "missing context ['tax_amount']",
        ),
        ("enrollment_confirmed", receipt(totl_paid=1), "unknown context ['totl_paid']"),
        ("enrollment_confirmed", receipt(total_paid=3184.94), "total_paid must be"),
        ("enrollment_confirmed", receipt(total_paid=True), "total_paid must be"),
        ("enrollment_confirmed", receipt(paid_at=datetime(2026, 1, 1)), "paid_at must be"),
        ("enrollment_confirmed", receipt(access_url="javascript:alert(1)"), "access_url must be"),
    ],
)
def test_context_mistakes_are_caught_before_queueing(kind, context, message):
    with pytest.raises(ValueError) as caught:
        render_email(kind, context)
    assert message in str(caught.value)
