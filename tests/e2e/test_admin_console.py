"""The admin console in Chromium: an operator finds out why a learner is not enrolled and what
converted, from the console alone, and acts through its forms (refund, grant, replay); every
console page passes axe at 360 px without sideways scrolling (screenshots saved).

The data is real: learners pay (or fail to) in the live server's sandbox, whose webhooks the
embedded worker processes."""

from __future__ import annotations

import re
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from enrollpay.db.engine import Database
from enrollpay.users.models import Role
from enrollpay.users.service import create_user
from tests.conftest import TEST_PASSWORD
from tests.e2e.conftest import LiveServer, Sandbox
from tests.e2e.test_accessibility import check_page
from tests.e2e.test_hosted_payment_page import (
    API,
    NAVIGATION_TIMEOUT_MS,
    _in_thread,
    expect,
    save_screenshot,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page

SETTLE_SECONDS = 20  # the embedded worker processes sandbox webhooks within a poll or two


@dataclass
class Shop:
    """What the console is about: a course, a learner whose payment failed, one who paid."""

    admin_email: str
    admin: dict[str, str]  # Bearer headers
    course: dict[str, Any]
    failed_email: str
    failed_user_id: str
    failed_enrollment: str
    paid_enrollment: str


async def _create_admin(live_server: LiveServer, email: str) -> None:
    db = Database(live_server.settings)
    try:
        async with db.transaction() as session:
            await create_user(
                session, email=email, password=TEST_PASSWORD, full_name="Ops", role=Role.admin
            )
    finally:
        await db.dispose()


def _learner_pays(
    api: httpx.Client, sandbox: Sandbox, course_id: str, outcome: str
) -> tuple[str, str, str]:
    """(email, user id, enrollment id) of a new learner who paid with `outcome`."""
    email = f"learner-{secrets.token_hex(4)}@example.com"
    signup = api.post(
        "/auth/signup",
        json={"email": email, "password": TEST_PASSWORD, "full_name": "Asha Rao"},
    )
    assert signup.status_code == 201, signup.text
    learner = {"Authorization": f"Bearer {signup.json()['access_token']}"}
    started = api.post("/enrollments/initialize", json={"course_id": course_id}, headers=learner)
    assert started.status_code == 201, started.text
    order_id = started.json()["payment_session"]["razorpay_order_id"]
    paid = httpx.post(
        f"{sandbox.base_url}/_sandbox/orders/{order_id}/pay",
        json={"outcome": outcome, "method": "card", "webhooks": True},
        timeout=10,
    )
    assert paid.status_code == 200, paid.text
    enrollment_id = started.json()["enrollment_id"]
    wanted = "enrolled" if outcome == "success" else "failed"
    deadline = time.monotonic() + SETTLE_SECONDS
    while True:  # the webhook, processed by the embedded worker, settles it
        status = api.get(f"/enrollments/{enrollment_id}/payment-status", headers=learner)
        if status.json()["enrollment_status"] == wanted:
            break
        assert time.monotonic() < deadline, status.text
        time.sleep(0.2)
    return email, signup.json()["user"]["id"], enrollment_id


@pytest.fixture(scope="module")
def shop(live_server: LiveServer, sandbox: Sandbox) -> Shop:
    admin_email = f"ops-{secrets.token_hex(4)}@example.com"
    _in_thread(_create_admin(live_server, admin_email))
    with httpx.Client(base_url=live_server.url + API, timeout=10) as api:
        token = api.post("/auth/login", json={"email": admin_email, "password": TEST_PASSWORD})
        assert token.status_code == 200, token.text
        admin = {"Authorization": f"Bearer {token.json()['access_token']}"}
        course = api.post(
            "/admin/courses",
            json={"title": f"Console Course {secrets.token_hex(3)}", "price": 4999},
            headers=admin,
        )
        assert course.status_code == 201, course.text
        published = api.patch(
            f"/admin/courses/{course.json()['id']}", json={"status": "published"}, headers=admin
        )
        assert published.status_code == 200, published.text
        course_id = course.json()["id"]
        failed_email, failed_user, failed = _learner_pays(api, sandbox, course_id, "failure")
        _, _, paid = _learner_pays(api, sandbox, course_id, "success")
    return Shop(admin_email, admin, course.json(), failed_email, failed_user, failed, paid)


def log_in(page: Page, email: str, path: str) -> None:
    """Through the login form, sent back to `path` (the console's own redirect)."""
    page.goto(path)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(TEST_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.wait_for_url(re.compile(re.escape(path) + "$"), timeout=NAVIGATION_TIMEOUT_MS)


def test_why_is_this_learner_not_enrolled_and_what_converted(
    page: Page, live_server: LiveServer, shop: Shop, tmp_path: Path
):
    page.on("dialog", lambda dialog: dialog.accept())  # the forms' confirm() questions
    log_in(page, shop.admin_email, "/admin")

    # Find the learner by email from the overview; their enrollment says why it failed.
    page.get_by_label("Find an enrollment").fill(shop.failed_email)
    page.get_by_role("button", name="Search").click()
    page.get_by_role("link", name=shop.failed_enrollment).click()
    expect(page.get_by_role("heading", level=1)).to_contain_text(shop.failed_enrollment)
    timeline = page.locator(".timeline")
    expect(timeline).to_contain_text("failed")
    expect(timeline).to_contain_text("payment.failed")  # the webhook that said so
    # The gateway's own reason, as Razorpay's error description gave it.
    expect(page.locator("main")).to_contain_text("Your payment has been declined by your bank")
    save_screenshot(page, tmp_path, "admin-enrollment-failed.png")

    # Grant access without payment: the failed attempt is replaced by an enrollment.
    page.goto("/admin/enrollments")
    page.get_by_label("Learner id", exact=True).last.fill(shop.failed_user_id)
    page.get_by_label("Course", exact=True).last.select_option(shop.course["id"])
    page.get_by_label("Reason").fill("Scholarship")
    page.get_by_role("button", name="Grant access").click()
    page.wait_for_url(re.compile(r"/admin/enrollments/enr_\w+$"), timeout=NAVIGATION_TIMEOUT_MS)
    granted = page.url.rsplit("/", 1)[1]
    assert granted != shop.failed_enrollment
    expect(page.locator("main")).to_contain_text("enrolled")
    expect(page.locator(".timeline")).to_contain_text("Scholarship")

    # A partial refund of the paid enrollment, from its page.
    page.goto(f"/admin/enrollments/{shop.paid_enrollment}")
    page.get_by_label("Amount in rupees (optional)").fill("100")
    page.get_by_label("Reason").fill("Goodwill")
    page.get_by_role("button", name="Refund", exact=True).click()
    expect(page.locator(".timeline")).to_contain_text("Goodwill", timeout=NAVIGATION_TIMEOUT_MS)
    refunds = httpx.get(
        f"{live_server.url}{API}/admin/refunds", headers=shop.admin, timeout=10
    ).json()["items"]
    assert [(r["enrollment_id"], r["amount"]) for r in refunds] == [(shop.paid_enrollment, 100)]

    # Replay a processed webhook from the inbox: it is processed again and changes nothing.
    page.goto("/admin/webhook-events?status=processed")
    page.locator("a[href^='/admin/webhook-events/whk_']").first.click()
    page.get_by_role("button", name="Replay").click()
    expect(page.locator("main")).to_contain_text("Replays", timeout=NAVIGATION_TIMEOUT_MS)
    status = httpx.get(
        f"{live_server.url}{API}/admin/enrollments/{shop.paid_enrollment}",
        headers=shop.admin,
        timeout=10,
    ).json()["status"]
    assert status == "enrolled"

    # What converted: the funnel counts the paid learner (and the grant is not a sale).
    page.goto(f"/admin/analytics?course_id={shop.course['id']}")
    chart = page.locator("svg[role=img]").first
    expect(chart).to_be_visible()
    expect(page.locator("main")).to_contain_text("Download CSV")
    save_screenshot(page, tmp_path, "admin-funnel.png")
    audit = httpx.get(f"{live_server.url}{API}/admin/audit-log", headers=shop.admin, timeout=10)
    actions = {item["action"] for item in audit.json()["items"]}
    assert {"enrollment.grant", "enrollment.refund", "webhook_event.replay"} <= actions


def test_every_console_page_passes_axe_on_a_phone(
    mobile_page: Page, live_server: LiveServer, shop: Shop, tmp_path: Path
):
    with httpx.Client(base_url=live_server.url + API, headers=shop.admin, timeout=10) as api:
        coupon = api.post(
            "/admin/coupons",
            json={
                "code": f"AXE{secrets.token_hex(2)}",
                "discount_type": "percent",
                "discount_value": 10,
            },
        )
        assert coupon.status_code == 201, coupon.text
        platform = api.post("/admin/platforms", json={"name": "Axe Academy"})
        assert platform.status_code == 201, platform.text
        endpoint = api.post(
            "/admin/webhook-endpoints",
            json={
                "url": "https://platform.example.com/hooks",
                "platform_id": platform.json()["id"],
            },
        )
        assert endpoint.status_code == 201, endpoint.text
        event = api.get("/admin/webhook-events").json()["items"][0]["id"]
        job = api.get("/admin/jobs").json()["items"][0]["id"]
    page = mobile_page
    log_in(page, shop.admin_email, "/admin")
    pages = {
        "overview": "/admin",
        "enrollments": "/admin/enrollments",
        "enrollment": f"/admin/enrollments/{shop.failed_enrollment}",
        "courses": "/admin/courses",
        "course": f"/admin/courses/{shop.course['id']}",
        "coupons": "/admin/coupons",
        "coupon": f"/admin/coupons/{coupon.json()['id']}",
        "refunds": "/admin/refunds",
        "disputes": "/admin/disputes",
        "webhook-events": "/admin/webhook-events",
        "webhook-event": f"/admin/webhook-events/{event}",
        "jobs": "/admin/jobs?status=all",
        "job": f"/admin/jobs/{job}",
        "reconciliation": "/admin/reconciliation",
        "funnel": "/admin/analytics",
        "platforms": "/admin/platforms",
        "platform": f"/admin/platforms/{platform.json()['id']}",
        "webhook-endpoints": "/admin/webhook-endpoints",
        "webhook-endpoint": f"/admin/webhook-endpoints/{endpoint.json()['id']}",
        "risk": "/admin/risk",
        "audit-log": "/admin/audit-log",
        "not-found": "/admin/enrollments/enr_doesnotexist0000000000000",
    }
    for name, path in pages.items():
        response = page.goto(path)
        assert response is not None
        assert response.status == (404 if name == "not-found" else 200), (name, response.status)
        check_page(page, tmp_path, f"admin-{name}")
