"""The hosted payment page in Chromium: open `payment_session.payment_url`, pay through the
sandbox's Checkout (card + OTP) and land on the integrator's success_url; a failure comes back
to the page with "Try again"; closing Checkout goes to cancel_url or says so on the page."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs, urlsplit

import httpx

from enrollpay.auth.tokens import issue_access_token
from enrollpay.config import Settings
from enrollpay.db.engine import Database
from enrollpay.users.models import Role
from enrollpay.users.service import create_user
from tests.e2e.conftest import LiveServer, horizontal_overflow

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page

API = "/api/v1"
GOOD_CARD = "4100 2800 0000 1007"
LANDING_PAGE = "<!doctype html><title>Platform</title><h1 id=landing>{name}</h1>"
NAVIGATION_TIMEOUT_MS = 15_000


def expect(locator: Locator) -> Any:
    # Imported late: without Playwright the browser fixtures skip (or fail in CI) instead of
    # this module failing to import.
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


def save_screenshot(page: Page, tmp_path: Path, name: str) -> Path:
    """Into $E2E_SCREENSHOTS_DIR when set (as the sandbox tests do), else the test's tmp dir
    (where the conftest puts failure screenshots)."""
    directory = Path(os.environ.get("E2E_SCREENSHOTS_DIR") or tmp_path)
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / name
    page.screenshot(path=str(path), full_page=True, animations="disabled")
    return path


# ---- arranging through the live server's API ------------------------------------------------


def _in_thread(coro: Any) -> Any:
    # Playwright's sync API keeps an event loop running on this thread.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _admin_token(settings: Settings) -> str:
    db = Database(settings)
    try:
        async with db.transaction() as session:
            admin = await create_user(
                session,
                email=f"admin-{secrets.token_hex(4)}@example.com",
                password=secrets.token_urlsafe(12),
                full_name="Admin",
                role=Role.admin,
            )
        return issue_access_token(settings, admin.id).token
    finally:
        await db.dispose()


@dataclass
class Checkout:
    enrollment_id: str
    payment_url: str
    learner: dict[str, str]  # auth headers
    success_url: str | None
    cancel_url: str | None


def start_checkout(
    live_server: LiveServer, *, success: bool = True, cancel: bool = False
) -> Checkout:
    """A fresh course and learner, and an initialized enrollment with a sandbox order."""
    admin = {"Authorization": f"Bearer {_in_thread(_admin_token(live_server.settings))}"}
    with httpx.Client(base_url=live_server.url + API, timeout=10) as api:
        course = api.post(
            "/admin/courses",
            json={"title": "Python for Data Science", "price": 4999, "status": "published"},
            headers=admin,
        )
        assert course.status_code == 201, course.text
        signup = api.post(
            "/auth/signup",
            json={
                "email": f"asha-{secrets.token_hex(4)}@example.com",
                "password": "correct horse battery",
                "full_name": "Asha Rao",
                "phone": "+919000090000",
            },
        )
        assert signup.status_code == 201, signup.text
        learner = {"Authorization": f"Bearer {signup.json()['access_token']}"}
        urls = {
            "success_url": live_server.pages.add(LANDING_PAGE.format(name="success"))
            if success
            else None,
            "cancel_url": live_server.pages.add(LANDING_PAGE.format(name="cancel"))
            if cancel
            else None,
        }
        body = {"course_id": course.json()["id"], **{k: v for k, v in urls.items() if v}}
        started = api.post("/enrollments/initialize", json=body, headers=learner)
        assert started.status_code == 201, started.text
    created = started.json()
    return Checkout(
        created["enrollment_id"],
        created["payment_session"]["payment_url"],
        learner,
        urls["success_url"],
        urls["cancel_url"],
    )


def enrollment_status(live_server: LiveServer, checkout: Checkout) -> dict[str, Any]:
    response = httpx.get(
        f"{live_server.url}{API}/enrollments/{checkout.enrollment_id}/payment-status",
        headers=checkout.learner,
        timeout=10,
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


# ---- driving the page and Checkout ----------------------------------------------------------


def checkout_dialog(page: Page) -> Locator:
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    return dialog


def pay_by_card(page: Page, otp: str) -> None:
    dialog = checkout_dialog(page)
    dialog.get_by_role("radio", name="Card").check()
    dialog.get_by_label("Card number").fill(GOOD_CARD)
    dialog.get_by_label("Expiry (MM/YY)").fill("12/39")
    dialog.get_by_label("CVV").fill("123")
    dialog.get_by_role("button", name=re.compile(r"^Pay ")).click()
    dialog.get_by_label("One-time password (OTP)").fill(otp)
    dialog.get_by_role("button", name="Submit OTP").click()


def assert_landed(page: Page, url: str, checkout: Checkout, status: str) -> None:
    page.wait_for_url(lambda current: current.startswith(url + "?"), timeout=NAVIGATION_TIMEOUT_MS)
    assert parse_qs(urlsplit(page.url).query) == {
        "enrollment_id": [checkout.enrollment_id],
        "status": [status],
    }


# ---- tests -----------------------------------------------------------------------------------


def test_pay_on_the_hosted_page_and_land_on_success_url(
    page: Page, live_server: LiveServer, tmp_path: Path
):
    checkout = start_checkout(live_server)
    assert checkout.success_url is not None
    response = page.goto(checkout.payment_url)
    assert response is not None and response.status == 200
    assert response.headers["referrer-policy"] == "no-referrer"

    dialog = checkout_dialog(page)  # Checkout opens by itself
    assert dialog.get_by_role("heading", name="enrollpay").is_visible()
    assert dialog.get_by_text("₹5,898.82").first.is_visible()
    assert dialog.get_by_label("Email").input_value().startswith("asha-")
    assert dialog.get_by_label("Phone number").input_value() == "+919000090000"
    assert save_screenshot(page, tmp_path, "hosted-page-checkout.png").stat().st_size > 0

    pay_by_card(page, otp="123456")
    assert_landed(page, checkout.success_url, checkout, "enrolled")
    assert page.locator("#landing").inner_text() == "success"
    status = enrollment_status(live_server, checkout)
    assert status["enrollment_status"] == "enrolled"
    assert status["payment_status"] == "completed"


def test_a_failure_then_try_again_on_a_phone(
    mobile_page: Page, live_server: LiveServer, tmp_path: Path
):
    page = mobile_page
    checkout = start_checkout(live_server)  # no cancel_url: a failure comes back here
    assert checkout.success_url is not None
    page.goto(checkout.payment_url)
    pay_by_card(page, otp="12")  # fewer than 4 digits: authentication fails

    failed = page.get_by_role("alert").filter(has_text="Your payment did not go through")
    failed.wait_for(timeout=NAVIGATION_TIMEOUT_MS)
    assert page.get_by_role("dialog").count() == 0  # no Checkout until the learner asks
    assert page.get_by_role("heading", name="Python for Data Science").is_visible()
    assert page.get_by_text("₹5,898.82").first.is_visible()
    assert enrollment_status(live_server, checkout)["enrollment_status"] == "failed"
    assert horizontal_overflow(page) == 0
    retry = page.get_by_role("button", name="Try again")
    box = retry.bounding_box()
    assert box is not None and box["height"] >= 44 and box["x"] >= 0 and box["width"] <= 360
    save_screenshot(page, tmp_path, "hosted-page-360-failed.png")

    retry.click()
    pay_by_card(page, otp="4321")
    assert_landed(page, checkout.success_url, checkout, "enrolled")
    assert enrollment_status(live_server, checkout)["enrollment_status"] == "enrolled"


def test_closing_checkout_says_not_completed_or_goes_to_cancel_url(
    page: Page, live_server: LiveServer, tmp_path: Path
):
    checkout = start_checkout(live_server)
    page.goto(checkout.payment_url)
    checkout_dialog(page).get_by_role("button", name="Close checkout").click()
    expect(page.get_by_role("status")).to_have_text(
        "Payment not completed — try again when you are ready."
    )
    pay_button = page.get_by_role("button", name=re.compile(r"^Pay ₹"))
    assert page.evaluate("() => document.activeElement.id") == "pay-button"
    save_screenshot(page, tmp_path, "hosted-page-desktop.png")
    pay_button.click()  # opens again
    checkout_dialog(page)

    with_cancel = start_checkout(live_server, success=False, cancel=True)
    assert with_cancel.cancel_url is not None
    page.goto(with_cancel.payment_url)
    checkout_dialog(page).get_by_role("button", name="Close checkout").click()
    assert_landed(page, with_cancel.cancel_url, with_cancel, "pending")
