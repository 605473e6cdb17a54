"""My courses and Account in Chromium on a phone: a free course shows as Enrolled with "Open the
course" and no refund; a pending paid enrollment is cancelled and a paid one refunded through
their confirm steps; the password is changed on /account, and only the new one logs in."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import LiveServer, horizontal_overflow
from tests.e2e.test_hosted_payment_page import (
    API,
    NAVIGATION_TIMEOUT_MS,
    _admin_token,
    _in_thread,
    expect,
    save_screenshot,
)

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

NEW_PASSWORD = "another long passphrase"


def create_courses(live_server: LiveServer, *titles_and_prices: tuple[str, int]) -> list[str]:
    admin = {"Authorization": f"Bearer {_in_thread(_admin_token(live_server.settings))}"}
    ids = []
    with httpx.Client(base_url=live_server.url + API, timeout=10) as api:
        for title, price in titles_and_prices:
            response = api.post(
                "/admin/courses",
                json={"title": title, "price": price, "status": "published"},
                headers=admin,
            )
            assert response.status_code == 201, response.text
            ids.append(response.json()["id"])
    return ids


def api_post(page: Page, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    """The JSON API as the page's JS calls it: the context's session cookie plus X-CSRF-Token."""
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrf")
    response = page.request.post(API + path, data=body or {}, headers={"X-CSRF-Token": csrf})
    assert response.ok, response.text()
    answer: dict[str, Any] = response.json()
    return answer


def card(page: Page, title: str) -> Locator:
    return page.locator("li.enrollment", has_text=title)


def test_my_courses_and_account_on_a_phone(
    mobile_page: Page, live_server: LiveServer, tmp_path: Path
):
    page = mobile_page
    suffix = secrets.token_hex(3)
    free_title, pending_title, paid_title = (
        f"Free basics {suffix}",
        f"Pending course {suffix}",
        f"Paid course {suffix}",
    )
    free_id, pending_id, paid_id = create_courses(
        live_server, (free_title, 0), (pending_title, 4999), (paid_title, 2999)
    )
    email = f"mine-{suffix}@example.com"
    page.goto("/signup")
    page.get_by_label("Full name").fill("Meera Learner")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("link", name="My courses")).to_be_visible()

    # A free course: Enroll on its page (which goes on to the checkout page), then My courses.
    page.goto(f"/courses/{free_id}")
    page.get_by_role("button", name="Enroll").click()
    page.wait_for_url("**/checkout/enr_*", timeout=NAVIGATION_TIMEOUT_MS)
    page.goto("/my/courses")
    expect(page.get_by_role("heading", name="My courses", level=1)).to_be_visible()
    free = card(page, free_title)
    expect(free.locator(".state")).to_have_text("Enrolled")
    expect(free.get_by_role("link", name="Open the course")).to_be_visible()
    expect(free.get_by_text("Free", exact=True)).to_be_visible()
    # Nothing was paid, so there is nothing to refund (the API says refund_not_allowed).
    expect(free.get_by_role("button", name="Request a refund")).to_have_count(0)

    # A pending paid enrollment, started with the learner's cookie; cancelled from the page.
    api_post(page, "/enrollments/initialize", {"course_id": pending_id})
    # A paid enrollment: paid in the sandbox as Checkout would, then verified.
    started = api_post(page, "/enrollments/initialize", {"course_id": paid_id})
    paid = httpx.post(
        f"{live_server.url}/sandbox/razorpay/_sandbox/orders/"
        f"{started['payment_session']['razorpay_order_id']}/pay",
        json={"outcome": "success", "method": "upi", "webhooks": False},
        timeout=10,
    ).json()
    verified = api_post(
        page,
        f"/enrollments/{started['enrollment_id']}/verify-payment",
        {k: paid[k] for k in ("razorpay_payment_id", "razorpay_order_id", "razorpay_signature")},
    )
    assert verified["enrollment_status"] == "enrolled"

    page.reload()
    pending = card(page, pending_title)
    expect(pending.locator(".state")).to_have_text("Pending payment")
    expect(pending.get_by_role("link", name="Continue payment")).to_be_visible()
    pending.get_by_role("button", name="Cancel", exact=True).click()
    expect(pending.get_by_text("Cancel this enrollment?")).to_be_visible()
    pending.get_by_role("button", name="Keep it").click()
    expect(pending.get_by_text("Cancel this enrollment?")).to_be_hidden()
    expect(pending.get_by_role("button", name="Cancel", exact=True)).to_be_focused()
    pending.get_by_role("button", name="Cancel", exact=True).click()
    pending.get_by_role("button", name="Yes, cancel").click()
    status = page.locator("#page-status")
    expect(status).to_have_text("Enrollment cancelled. Your seat is released.")
    expect(pending.locator(".state")).to_have_text("Cancelled")
    expect(pending.get_by_role("link", name="Enroll again")).to_be_visible()
    expect(pending.get_by_role("link", name="Continue payment")).to_have_count(0)

    refundable = card(page, paid_title)
    expect(refundable.locator(".state")).to_have_text("Enrolled")
    refundable.get_by_role("button", name="Request a refund").click()
    expect(refundable.get_by_text("You can ask until")).to_be_visible()
    refundable.get_by_label("Reason (optional)").fill("Not what I expected")
    assert horizontal_overflow(page) == 0
    refundable.get_by_role("button", name="Yes, refund").click()
    expect(status).to_contain_text("Refund requested")
    expect(status).to_contain_text("5 to 7 working days")
    expect(refundable.locator(".state")).to_have_text("Refunded")
    expect(refundable.get_by_role("link", name="Open the course")).to_have_count(0)
    assert horizontal_overflow(page) == 0
    save_screenshot(page, tmp_path, "my-courses-360.png")

    # Account: the details, a wrong current password, then the change.
    page.get_by_role("link", name="Account").click()
    expect(page.get_by_role("heading", name="Account", level=1)).to_be_visible()
    expect(page.get_by_text(email)).to_be_visible()
    expect(page.get_by_text("Not verified")).to_be_visible()
    page.get_by_role("button", name="Send verification email").click()
    expect(page.locator("#account-status")).to_contain_text("verification link is on its way")

    page.get_by_label("Current password").fill("not the password")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Repeat the new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_have_text("Your current password is incorrect.")
    expect(page.get_by_label("Current password")).to_be_focused()

    page.get_by_label("Current password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    expect(page.locator("#account-status")).to_have_text("Your password is changed.")
    expect(page.get_by_label("Current password")).to_have_value("")
    assert horizontal_overflow(page) == 0
    save_screenshot(page, tmp_path, "account-360.png")

    page.locator("main").get_by_role("button", name="Log out").click()
    expect(page.get_by_role("link", name="Log in")).to_be_visible()
    for password, signed_in in ((TEST_PASSWORD, False), (NEW_PASSWORD, True)):
        page.goto("/login?next=/my/courses")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password").fill(password)
        page.get_by_role("button", name="Log in").click()
        if signed_in:
            expect(page.get_by_role("heading", name="My courses", level=1)).to_be_visible()
            expect(card(page, free_title).locator(".state")).to_have_text("Enrolled")
        else:
            expect(page.get_by_text("The email or password is incorrect.")).to_be_visible()
