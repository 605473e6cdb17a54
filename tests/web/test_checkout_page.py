"""The learner's checkout page `/checkout/{id}` over HTTP on both databases: who may see it, and
which panel and Checkout options it starts with for each state of the enrollment."""

from __future__ import annotations

import json
import re
from typing import Any

from sqlalchemy import update

from enrollpay.enrollments.models import Enrollment
from enrollpay.kit.clock import utcnow
from tests.conftest import TEST_PASSWORD
from tests.courses.factories import create_course
from tests.enrollments.helpers import API, initialize, pay, verify
from tests.web.test_pages import sign_in

CONFIG = re.compile(r'<script type="application/json" id="checkout-config">(.*?)</script>', re.S)
ACCESS_URL = "https://learn.example.com/full-stack"


def page_config(html: str) -> dict[str, Any]:
    match = CONFIG.search(html)
    assert match, "no checkout config on the page"
    config: dict[str, Any] = json.loads(match.group(1))
    return config


def visible_panel(html: str) -> str:
    """The one panel the server shows (the others carry `hidden`)."""
    shown = re.findall(r'<div id="panel-(\w+)" class="panel">', html)
    assert len(shown) == 1, shown
    return shown[0]


async def learner(client, make_user, email: str = "checkout@example.com") -> dict[str, str]:
    """Signs in with the cookie (for the page) and returns Bearer headers (for arranging)."""
    await sign_in(client, make_user, email)
    login = await client.post(f"{API}/auth/login", json={"email": email, "password": TEST_PASSWORD})
    return {"Authorization": f"Bearer {login.json()['access_token']}"}


async def paid_course(client, admin_headers, **fields: Any) -> dict[str, Any]:
    return await create_course(
        client,
        admin_headers,
        title="Full <Stack> Web",
        price=4999,
        access_url=ACCESS_URL,
        refund_window_days=7,
        **fields,
    )


async def test_signed_out_goes_to_login_and_others_get_a_404(client, make_user, admin_headers):
    course = await paid_course(client, admin_headers)
    headers = await learner(client, make_user)
    started = await initialize(client, headers, course["id"])
    enrollment_id = started.json()["enrollment_id"]

    client.cookies.clear()
    response = await client.get(f"/checkout/{enrollment_id}")
    assert response.status_code == 303
    assert response.headers["location"] == f"/login?next=/checkout/{enrollment_id}"

    await sign_in(client, make_user, "someone-else@example.com")
    for path in (f"/checkout/{enrollment_id}", "/checkout/enr_nope", "/checkout/not-an-id"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert "Enrollment not found" in response.text


async def test_pending_page_carries_the_checkout_session(client, make_user, admin_headers):
    course = await paid_course(client, admin_headers)
    headers = await learner(client, make_user)
    started = (await initialize(client, headers, course["id"])).json()
    session = started["payment_session"]

    response = await client.get(f"/checkout/{started['enrollment_id']}?start=1")
    assert response.status_code == 200
    assert response.headers["cache-control"] == "no-store"
    html = response.text
    assert visible_panel(html) == "pay"
    assert "Full &lt;Stack&gt; Web" in html and "<Stack>" not in html
    assert "Total (incl. GST)" in html and "₹5,898.82" in html
    assert "Pay ₹5,898.82" in html
    assert "refund within 7 days" in html and "Razorpay" in html
    assert f'<script src="{session["checkout_js_url"]}" defer></script>' in html

    config = page_config(html)
    assert config["state"] == "pay" and config["start"] is True
    checkout = config["session"]
    assert checkout["razorpay_order_id"] == session["razorpay_order_id"]
    assert checkout["razorpay_key_id"] == session["razorpay_key_id"]
    assert checkout["amount"] == 589882
    assert checkout["prefill"]["email"] == "checkout@example.com"
    assert 0 < checkout["timeout"] <= session["timeout"]
    base = f"/api/v1/enrollments/{started['enrollment_id']}"
    assert config["verify_url"] == f"{base}/verify-payment"
    assert config["status_url"] == f"{base}/payment-status"
    assert config["retry_url"] == f"{base}/retry-payment"

    without_start = await client.get(f"/checkout/{started['enrollment_id']}")
    assert page_config(without_start.text)["start"] is False


async def test_paid_page_shows_the_access_link(client, make_user, admin_headers):
    course = await paid_course(client, admin_headers)
    headers = await learner(client, make_user)
    started = (await initialize(client, headers, course["id"])).json()
    paid = await pay(client, started["payment_session"]["razorpay_order_id"])
    assert (await verify(client, headers, started["enrollment_id"], paid)).status_code == 200

    html = (await client.get(f"/checkout/{started['enrollment_id']}?start=1")).text
    assert visible_panel(html) == "enrolled"
    assert f'href="{ACCESS_URL}">Open the course</a>' in html
    config = page_config(html)
    assert config["state"] == "enrolled" and config["start"] is False
    assert config["session"] is None
    assert "checkout.js" not in html  # no Checkout to load


async def test_free_enrollment_links_to_the_course_page_without_access_url(
    client, make_user, admin_headers
):
    course = await create_course(client, admin_headers, title="Basics", price=0)
    headers = await learner(client, make_user)
    started = (await initialize(client, headers, course["id"])).json()
    assert started["status"] == "enrolled"
    html = (await client.get(f"/checkout/{started['enrollment_id']}")).text
    assert visible_panel(html) == "enrolled"
    assert f'href="/courses/{course["id"]}">Open the course</a>' in html
    assert "receipt" not in html  # nothing was paid


async def test_failed_payment_offers_a_retry_with_the_reason(client, make_user, admin_headers):
    course = await paid_course(client, admin_headers)
    headers = await learner(client, make_user)
    started = (await initialize(client, headers, course["id"])).json()
    failed = await pay(
        client,
        started["payment_session"]["razorpay_order_id"],
        outcome="failure",
        method="card",
        webhooks=False,
    )
    await client.post(
        f"/pay/{started['enrollment_id']}/callback?t="
        + started["payment_session"]["payment_url"].split("t=", 1)[1],
        data={
            "error[code]": "BAD_REQUEST_ERROR",
            "error[description]": "declined",
            "error[metadata]": json.dumps(
                {
                    "order_id": failed["razorpay_order_id"],
                    "payment_id": failed["razorpay_payment_id"],
                }
            ),
        },
    )  # the hosted page's callback applies the gateway's record of the failure

    html = (await client.get(f"/checkout/{started['enrollment_id']}")).text
    assert visible_panel(html) == "retry"
    assert "Your payment did not go through." in html
    assert page_config(html)["state"] == "retry"
    reason = re.search(r'<p id="retry-reason">(.*?)</p>', html)
    assert reason and reason.group(1).strip()


async def test_hold_that_ran_out_offers_to_start_again(client, db, make_user, admin_headers):
    course = await paid_course(client, admin_headers)
    headers = await learner(client, make_user)
    started = (await initialize(client, headers, course["id"])).json()
    async with db.transaction() as session:
        await session.execute(
            update(Enrollment)
            .where(Enrollment.id == started["enrollment_id"])
            .values(expires_at=utcnow())
        )
    html = (await client.get(f"/checkout/{started['enrollment_id']}?start=1")).text
    assert visible_panel(html) == "retry"
    assert "The time to pay ran out." in html
    config = page_config(html)
    assert config["session"] is None and config["start"] is False


async def test_cancelled_enrollment_cannot_be_paid(client, make_user, admin_headers):
    course = await paid_course(client, admin_headers)
    headers = await learner(client, make_user)
    started = (await initialize(client, headers, course["id"])).json()
    cancelled = await client.post(
        f"{API}/enrollments/{started['enrollment_id']}/cancel", json={}, headers=headers
    )
    assert cancelled.status_code == 200, cancelled.text
    html = (await client.get(f"/checkout/{started['enrollment_id']}")).text
    assert visible_panel(html) == "closed"
    assert "This enrollment was cancelled, so nothing is due." in html
    assert f'href="/courses/{course["id"]}">Go to the course page</a>' in html
    assert page_config(html)["session"] is None
