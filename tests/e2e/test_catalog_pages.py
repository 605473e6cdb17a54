"""The web UI in Chromium on a phone: sign up, find a course in the catalog, re-quote it with a
coupon, enroll with the session cookie and land on the hosted payment page."""

from __future__ import annotations

import re
import secrets
from pathlib import Path
from typing import TYPE_CHECKING

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
    from playwright.sync_api import Page


def test_sign_up_quote_with_a_coupon_and_enroll(
    mobile_page: Page, live_server: LiveServer, tmp_path: Path
):
    page = mobile_page
    suffix = secrets.token_hex(3)
    title = f"Data Science {suffix}"
    code = f"SAVE10{suffix.upper()}"
    admin = {"Authorization": f"Bearer {_in_thread(_admin_token(live_server.settings))}"}
    with httpx.Client(base_url=live_server.url + API, timeout=10) as api:
        course = api.post(
            "/admin/courses",
            json={"title": title, "instructor": "Asha Rao", "price": 4999, "status": "published"},
            headers=admin,
        )
        assert course.status_code == 201, course.text
        coupon = api.post(
            "/admin/coupons",
            json={"code": code, "discount_type": "percent", "discount_value": 10},
            headers=admin,
        )
        assert coupon.status_code == 201, coupon.text

    page.goto("/signup")
    page.get_by_label("Full name").fill("Asha Learner")
    page.get_by_label("Email").fill(f"asha-{suffix}@example.com")
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("heading", name="Courses")).to_be_visible()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()
    assert horizontal_overflow(page) == 0
    save_screenshot(page, tmp_path, "catalog-360.png")

    page.get_by_role("link", name=title).click()
    expect(page.get_by_role("heading", name=title)).to_be_visible()
    total = page.locator('[data-field="total_payable"]')
    expect(total).to_have_text("₹5,898.82")
    page.get_by_label("Coupon code").fill("NOPE-" + suffix)
    page.get_by_role("button", name="Apply").click()
    expect(page.get_by_role("status")).not_to_be_empty()
    expect(total).to_have_text("₹5,898.82")

    page.get_by_label("Coupon code").fill(code)
    page.get_by_role("button", name="Apply").click()
    # 4,999 - 10% = 4,499.10, + 18% GST = 5,308.94
    expect(total).to_have_text("₹5,308.94")
    expect(page.get_by_role("status")).to_contain_text("Coupon applied")
    assert horizontal_overflow(page) == 0
    save_screenshot(page, tmp_path, "course-360.png")

    page.get_by_role("button", name="Enroll").click()
    page.wait_for_url(re.compile(r"/pay/enr_[^?]+\?t="), timeout=NAVIGATION_TIMEOUT_MS)
    expect(page.get_by_text("₹5,308.94").first).to_be_visible()
