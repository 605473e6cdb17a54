"""Every main page of the web UI on a phone, checked with axe-core (labels, names, contrast,
landmarks, ARIA) and screenshotted; plus keyboard use of the course page.

Screenshots go to $E2E_SCREENSHOTS_DIR (CI keeps them as artifacts) or the test's tmp dir."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from tests.e2e.conftest import LiveServer, horizontal_overflow
from tests.e2e.test_hosted_payment_page import (
    API,
    NAVIGATION_TIMEOUT_MS,
    checkout_dialog,
    expect,
    pay_by_card,
    save_screenshot,
)
from tests.e2e.test_learner_checkout import create_course, enroll_from_course_page, sign_up

if TYPE_CHECKING:
    from playwright.sync_api import Page

# WCAG 2.1 A and AA, plus axe's best practices (one main landmark, one h1, region, ...).
AXE_OPTIONS = {
    "resultTypes": ["violations"],
    "runOnly": {
        "type": "tag",
        "values": ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "best-practice"],
    },
}


def check_page(page: Page, tmp_path: Path, name: str) -> None:
    """No axe violations, no sideways scrolling at 360 px; saves `{name}-360.png`."""
    from axe_playwright_python.sync_playwright import Axe

    results = Axe().run(page, options=AXE_OPTIONS)
    assert results.violations_count == 0, f"{name}: {results.generate_report()}"
    assert horizontal_overflow(page) == 0, name
    save_screenshot(page, tmp_path, f"{name}-360.png")


def test_main_pages_pass_axe_on_a_phone(mobile_page: Page, live_server: LiveServer, tmp_path: Path):
    page = mobile_page
    paid = create_course(
        live_server, title="Accessible Web", description="Build pages everyone can use."
    )
    free = create_course(live_server, title="Free Basics", price=0)

    for path, name in (
        ("/", "catalog"),
        (f"/courses/{paid['id']}", "course"),
        ("/login", "login"),
        ("/signup", "signup"),
        ("/forgot-password", "forgot-password"),
    ):
        page.goto(path)
        check_page(page, tmp_path, name)

    page.goto("/login")
    page.get_by_role("button", name="Log in").click()  # empty: the errors must be accessible
    check_page(page, tmp_path, "login-errors")

    sign_up(page)
    check_page(page, tmp_path, "catalog-signed-in")
    page.goto(f"/courses/{paid['id']}")
    page.get_by_label("Coupon code").fill("NO-SUCH-CODE")
    page.get_by_role("button", name="Apply").click()
    expect(page.locator("#enroll-status")).not_to_be_empty()
    check_page(page, tmp_path, "course-signed-in")

    enroll_from_course_page(page, paid)
    checkout_dialog(page).get_by_role("button", name="Close checkout").click()
    expect(page.locator("#checkout-status")).not_to_be_empty()
    check_page(page, tmp_path, "checkout")
    page.get_by_role("button", name="Pay ₹5,898.82").click()
    pay_by_card(page, otp="123456")
    expect(page.get_by_role("link", name="Open the course")).to_be_visible(
        timeout=NAVIGATION_TIMEOUT_MS
    )
    check_page(page, tmp_path, "enrolled")

    enroll_from_course_page(page, free)
    check_page(page, tmp_path, "enrolled-free")

    page.goto("/my/courses")
    page.get_by_role("button", name="Request a refund").click()  # opens its confirm step
    check_page(page, tmp_path, "my-courses")
    page.goto("/account")
    check_page(page, tmp_path, "account")


def test_the_course_page_works_with_the_keyboard_alone(page: Page, live_server: LiveServer):
    course = create_course(live_server)
    sign_up(page)
    page.goto(f"/courses/{course['id']}")

    page.keyboard.press("Tab")
    skip = page.get_by_role("link", name="Skip to content")
    expect(skip).to_be_focused()
    page.keyboard.press("Enter")
    # From the main content, Tab reaches the coupon field, Apply, then Enroll, in that order.
    order = []
    for _ in range(3):
        page.keyboard.press("Tab")
        order.append(
            page.evaluate(
                "() => document.activeElement.id || document.activeElement.textContent.trim()"
            )
        )
    assert order == ["coupon", "Apply", "enroll"]
    page.keyboard.press("Enter")  # Enroll
    checkout_dialog(page)


def test_pages_of_the_hosted_payment_link_pass_axe(
    mobile_page: Page, live_server: LiveServer, tmp_path: Path
):
    course = create_course(live_server)
    email = f"hosted-{secrets.token_hex(4)}@example.com"
    signup = httpx.post(
        f"{live_server.url}{API}/auth/signup",
        json={"email": email, "password": "correct horse battery", "full_name": "Asha Rao"},
        timeout=10,
    )
    assert signup.status_code == 201, signup.text
    started = httpx.post(
        f"{live_server.url}{API}/enrollments/initialize",
        json={"course_id": course["id"]},
        headers={"Authorization": f"Bearer {signup.json()['access_token']}"},
        timeout=10,
    )
    assert started.status_code == 201, started.text
    mobile_page.goto(started.json()["payment_session"]["payment_url"])
    checkout_dialog(mobile_page).get_by_role("button", name="Close checkout").click()
    expect(mobile_page.locator("#pay-status")).not_to_be_empty()
    check_page(mobile_page, tmp_path, "hosted-payment-page")
