"""The learner's checkout page (/checkout/{id}) in Chromium: Enroll on the course page opens the
sandbox's Checkout; the page verifies, polls with visible progress and ends on "You're enrolled"
with the course's access link. Failures and dismissals come back with a retry button; the result
is the same whether the browser's verify or the webhook reaches the server first."""

from __future__ import annotations

import re
import secrets
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import LiveServer, Sandbox, horizontal_overflow
from tests.e2e.test_hosted_payment_page import (
    API,
    LANDING_PAGE,
    NAVIGATION_TIMEOUT_MS,
    _admin_token,
    _in_thread,
    checkout_dialog,
    expect,
    pay_by_card,
    save_screenshot,
)

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page, Route

CHECKOUT_URL = re.compile(r"/checkout/enr_[A-Za-z0-9]+$")


def create_course(live_server: LiveServer, **fields: Any) -> dict[str, Any]:
    """A published course whose access_url is a page of the live server saying "course content"."""
    admin = {"Authorization": f"Bearer {_in_thread(_admin_token(live_server.settings))}"}
    body = {
        "title": f"Course {secrets.token_hex(3)}",
        "price": 4999,
        "status": "published",
        "access_url": live_server.pages.add(LANDING_PAGE.format(name="course content")),
        **fields,
    }
    response = httpx.post(
        f"{live_server.url}{API}/admin/courses", json=body, headers=admin, timeout=10
    )
    assert response.status_code == 201, response.text
    course: dict[str, Any] = response.json()
    return course


def sign_up(page: Page) -> str:
    """Signs a new learner up through the form; returns the email."""
    email = f"learner-{secrets.token_hex(4)}@example.com"
    page.goto("/signup")
    page.get_by_label("Full name").fill("Asha Learner")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_label("Phone (optional)").fill("+919000090000")  # Checkout asks for it
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    return email


def enroll_from_course_page(page: Page, course: dict[str, Any]) -> str:
    """Clicks Enroll on the course page; returns the enrollment id the checkout page is for."""
    page.goto(f"/courses/{course['id']}")
    page.get_by_role("button", name="Enroll").click()
    page.wait_for_url(CHECKOUT_URL, timeout=NAVIGATION_TIMEOUT_MS)
    return page.url.rsplit("/", 1)[1]


def payment_status(page: Page, enrollment_id: str) -> dict[str, Any]:
    """The payment-status API, read with the page's own session cookie."""
    response = page.request.get(f"{API}/enrollments/{enrollment_id}/payment-status")
    assert response.status == 200, response.text()
    body: dict[str, Any] = response.json()
    return body


def checkout_status(page: Page) -> Locator:
    return page.locator("#checkout-status")  # the page's aria-live region (Checkout has its own)


def expect_enrolled(page: Page) -> None:
    expect(checkout_status(page)).to_have_text(
        "Payment confirmed. You're enrolled.", timeout=NAVIGATION_TIMEOUT_MS
    )
    expect(page.get_by_role("link", name="Open the course")).to_be_focused()


def test_sign_up_coupon_pay_and_open_the_course_on_a_phone(
    mobile_page: Page, live_server: LiveServer, tmp_path: Path
):
    page = mobile_page
    suffix = secrets.token_hex(3).upper()
    course = create_course(live_server, title=f"Data Science {suffix}", instructor="Asha Rao")
    code = f"SAVE10{suffix}"
    admin = {"Authorization": f"Bearer {_in_thread(_admin_token(live_server.settings))}"}
    coupon = httpx.post(
        f"{live_server.url}{API}/admin/coupons",
        json={"code": code, "discount_type": "percent", "discount_value": 10},
        headers=admin,
        timeout=10,
    )
    assert coupon.status_code == 201, coupon.text

    page.goto("/signup")
    save_screenshot(page, tmp_path, "signup-360.png")
    sign_up(page)
    expect(page.get_by_role("heading", name="Courses")).to_be_visible()
    save_screenshot(page, tmp_path, "catalog-360.png")

    page.get_by_role("link", name=course["title"]).click()
    total = page.locator('[data-field="total_payable"]')
    expect(total).to_have_text("₹5,898.82")
    page.get_by_label("Coupon code").fill(code)
    page.get_by_role("button", name="Apply").click()
    expect(total).to_have_text("₹5,308.94")  # 4,999 - 10% = 4,499.10, + 18% GST
    assert horizontal_overflow(page) == 0
    save_screenshot(page, tmp_path, "course-360.png")

    page.get_by_role("button", name="Enroll").click()
    page.wait_for_url(CHECKOUT_URL, timeout=NAVIGATION_TIMEOUT_MS)
    enrollment_id = page.url.rsplit("/", 1)[1]
    dialog = checkout_dialog(page)  # opened by itself (start=1), then dropped from the URL
    assert "start" not in page.url
    expect(dialog.get_by_text("₹5,308.94").first).to_be_visible()
    expect(dialog.get_by_label("Email")).to_have_value(re.compile(r"^learner-"))
    save_screenshot(page, tmp_path, "checkout-360.png")

    pay_by_card(page, otp="123456")
    expect_enrolled(page)
    assert horizontal_overflow(page) == 0
    save_screenshot(page, tmp_path, "enrolled-360.png")
    status = payment_status(page, enrollment_id)
    assert status["enrollment_status"] == "enrolled"
    assert status["payment_status"] == "completed"
    assert status["amount"] == 5308.94

    page.get_by_role("link", name="Open the course").click()
    expect(page.locator("#landing")).to_have_text("course content")

    # Back on the course page the learner is told they are enrolled, with the same link.
    page.goto(f"/courses/{course['id']}")
    expect(page.get_by_text("You're already enrolled in this course.")).to_be_visible()


def test_a_failed_payment_then_try_again(page: Page, live_server: LiveServer, tmp_path: Path):
    course = create_course(live_server)
    sign_up(page)
    enrollment_id = enroll_from_course_page(page, course)
    pay_by_card(page, otp="12")  # fewer than 4 digits: authentication fails

    alert = page.get_by_role("alert").filter(has_text="Your payment did not go through")
    expect(alert).to_be_visible(timeout=NAVIGATION_TIMEOUT_MS)
    assert page.get_by_role("dialog").count() == 0  # our retry button, not Checkout's
    retry = page.get_by_role("button", name="Try again")
    expect(retry).to_be_focused()
    save_screenshot(page, tmp_path, "checkout-failed.png")

    retry.click()
    pay_by_card(page, otp="4321")
    expect_enrolled(page)
    assert payment_status(page, enrollment_id)["enrollment_status"] == "enrolled"

    # Reloaded, the page shows the same outcome from the server.
    page.reload()
    expect(page.get_by_role("link", name="Open the course")).to_be_visible()
    expect(page.get_by_role("button", name=re.compile(r"^Pay"))).to_be_hidden()


def test_a_failure_confirmed_by_the_webhook_renders_with_its_reason(
    page: Page, live_server: LiveServer
):
    course = create_course(live_server)
    sign_up(page)
    enrollment_id = enroll_from_course_page(page, course)
    pay_by_card(page, otp="12")
    expect(page.get_by_role("button", name="Try again")).to_be_visible()
    _wait_for(lambda: payment_status(page, enrollment_id)["enrollment_status"] == "failed")

    page.goto(f"/checkout/{enrollment_id}")  # what "My courses" links to
    expect(page.get_by_role("alert")).to_contain_text("Your payment did not go through")
    page.get_by_role("button", name="Try again").click()  # retry-payment: a new order
    pay_by_card(page, otp="123456")
    expect_enrolled(page)
    status = payment_status(page, enrollment_id)
    assert status["enrollment_status"] == "enrolled"


def test_closing_checkout_offers_to_pay_again(page: Page, live_server: LiveServer):
    course = create_course(live_server)
    sign_up(page)
    enroll_from_course_page(page, course)
    checkout_dialog(page).get_by_role("button", name="Close checkout").click()
    expect(checkout_status(page)).to_have_text(
        "Payment not completed — try again when you are ready."
    )
    pay_button = page.get_by_role("button", name="Pay ₹5,898.82")
    expect(pay_button).to_be_focused()
    page.keyboard.press("Enter")  # keyboard alone reopens it
    checkout_dialog(page)


def test_a_free_course_enrolls_without_checkout(
    mobile_page: Page, live_server: LiveServer, tmp_path: Path
):
    page = mobile_page
    course = create_course(live_server, price=0)
    sign_up(page)
    page.goto(f"/courses/{course['id']}")
    expect(page.get_by_role("term").filter(has_text="Total (incl. GST)")).to_be_visible()
    page.get_by_role("button", name="Enroll").click()
    page.wait_for_url(CHECKOUT_URL, timeout=NAVIGATION_TIMEOUT_MS)
    assert page.get_by_role("dialog").count() == 0
    expect(page.get_by_text("You're enrolled in")).to_be_visible()
    page.get_by_role("link", name="Open the course").click()
    expect(page.locator("#landing")).to_have_text("course content")


def test_webhook_first_then_the_browser_verify(page: Page, live_server: LiveServer):
    """The browser's verify is held back until the webhook has enrolled the learner."""
    course = create_course(live_server)
    sign_up(page)
    enrollment_id = enroll_from_course_page(page, course)
    verify_calls: list[int] = []

    def after_the_webhook(route: Route) -> None:
        _wait_for(lambda: payment_status(page, enrollment_id)["enrollment_status"] == "enrolled")
        response = route.fetch()
        verify_calls.append(response.status)
        route.fulfill(response=response)

    page.route("**/verify-payment", after_the_webhook)
    pay_by_card(page, otp="123456")
    expect_enrolled(page)
    assert verify_calls == [200]


def test_browser_verify_alone_enrolls_when_webhooks_are_lost(
    page: Page, live_server: LiveServer, sandbox: Sandbox
):
    course = create_course(live_server)
    sign_up(page)
    enrollment_id = enroll_from_course_page(page, course)
    dropped = sandbox.request("POST", "/_sandbox/webhooks", json={"drop": True})
    assert dropped.status_code == 200, dropped.text
    try:
        pay_by_card(page, otp="123456")
        expect_enrolled(page)
    finally:
        sandbox.request("POST", "/_sandbox/webhooks", json={})
    assert payment_status(page, enrollment_id)["payment_status"] == "completed"


def test_other_learners_enrollments_and_signed_out_visits(page: Page, live_server: LiveServer):
    course = create_course(live_server)
    sign_up(page)
    enrollment_id = enroll_from_course_page(page, course)

    page.context.clear_cookies()
    page.goto(f"/checkout/{enrollment_id}")
    expect(page).to_have_url(re.compile(r"/login\?next=/checkout/enr_"))

    sign_up(page)  # someone else
    response = page.goto(f"/checkout/{enrollment_id}")
    assert response is not None and response.status == 404


def _wait_for(condition: Any, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.1)
