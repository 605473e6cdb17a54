"""The hosted payment page `/pay/{id}?t=…` and Checkout's callback (SPEC §4.1), against the
real app and its sandbox on both databases: the token guards everything, the page carries the
right Checkout options, and a callback changes state only by the gateway's word."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import stamina
from sqlalchemy import func, select, update

from enrollpay.abuse.models import PaymentAttemptLog
from enrollpay.auth.ratelimit import VERIFY_PER_LEARNER
from enrollpay.enrollments import paylink
from enrollpay.enrollments.checkout import BUSINESS_NAME
from enrollpay.enrollments.models import Enrollment
from enrollpay.kit.clock import utcnow
from enrollpay.payments.models import Payment, PaymentAttempt
from enrollpay.users.models import User
from tests.courses.factories import create_course
from tests.enrollments.helpers import SANDBOX, initialize, pay, payment_status

SUCCESS_URL = "http://127.0.0.1/learn/welcome?from=pay#top"
CANCEL_URL = "http://127.0.0.1/learn/checkout"
INVALID = "This payment link is invalid or has expired"
CONFIG = re.compile(r'<script type="application/json" id="pay-config">(.*?)</script>', re.S)


@pytest.fixture(autouse=True)
def _no_backoff_waits() -> Iterator[None]:
    # The gateway client keeps its attempt counts but does not sleep between them.
    with stamina.set_testing(True, attempts=10, cap=True):
        yield


@pytest.fixture
async def course(client, admin_headers) -> dict[str, Any]:
    return await create_course(
        client,
        admin_headers,
        title="Full Stack Web",
        price=4999,
        refund_window_days=10,
        access_url="https://learn.example.com/full-stack",
    )


@dataclass
class Started:
    """A learner's pending enrollment with a real sandbox order."""

    user: User
    headers: dict[str, str]
    enrollment_id: str
    order_id: str
    page: str  # the payment_url's path and query, for the test client
    token: str

    @property
    def callback(self) -> str:
        return f"/pay/{self.enrollment_id}/callback?t={self.token}"


def local(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}"


async def start(client, make_user, course, **body: Any) -> Started:
    user, headers = await make_user()
    response = await initialize(client, headers, course["id"], **body)
    assert response.status_code == 201, response.text
    created = response.json()
    session = created["payment_session"]
    page = local(session["payment_url"])
    return Started(
        user,
        headers,
        created["enrollment_id"],
        session["razorpay_order_id"],
        page,
        parse_qs(urlsplit(page).query)["t"][0],
    )


def page_config(response: httpx.Response) -> dict[str, Any]:
    match = CONFIG.search(response.text)
    assert match, response.text
    config: dict[str, Any] = json.loads(match.group(1))
    return config


def success_form(paid: dict[str, Any]) -> dict[str, str]:
    return {
        name: paid[name]
        for name in ("razorpay_payment_id", "razorpay_order_id", "razorpay_signature")
    }


def failure_form(paid: dict[str, Any]) -> dict[str, str]:
    """What checkout.js posts to callback_url for a failure with redirect: true."""
    error = paid["error"]
    form = {
        f"error[{name}]": error[name] or ""
        for name in ("code", "description", "source", "step", "reason")
    }
    form["error[metadata]"] = json.dumps(
        {"order_id": paid["razorpay_order_id"], "payment_id": paid["razorpay_payment_id"]}
    )
    return form


def query_of(location: str) -> dict[str, list[str]]:
    return parse_qs(urlsplit(location).query)


async def set_rows(db, model: Any, row_id: str, **values: Any) -> None:
    async with db.transaction() as session:
        await session.execute(update(model).where(model.id == row_id).values(**values))


async def attempts(db) -> int:
    async with db.transaction() as session:
        return (await session.execute(select(func.count()).select_from(PaymentAttempt))).scalar()


def assert_private(response: httpx.Response) -> None:
    assert response.headers["cache-control"] == "no-store"
    assert response.headers["referrer-policy"] == "no-referrer"


# ---- the token ------------------------------------------------------------------------------


async def test_bad_tokens_get_a_bare_404(client, make_user, course, settings):
    started = await start(client, make_user, course)
    other = await start(client, make_user, course)
    enr = started.enrollment_id
    token = started.token
    tampered = token[:-2] + ("AA" if not token.endswith("AA") else "BB")
    expired = paylink.payment_token(settings, enr, utcnow() - paylink.GRACE - timedelta(seconds=5))
    for query in ("", "?t=", f"?t={tampered}", f"?t={expired}", f"?t={other.token}", "?t=x.y.z"):
        response = await client.get(f"/pay/{enr}{query}")
        assert response.status_code == 404, query
        assert INVALID in response.text
        assert_private(response)
        for secret in (course["title"], started.order_id, started.user.email, "pay-config"):
            assert secret not in response.text

        callback = await client.post(f"/pay/{enr}/callback{query}", data={"x": "y"})
        assert callback.status_code == 404 and INVALID in callback.text
        status = await client.get(f"/pay/{enr}/status{query}")
        assert status.status_code == 404 and status.json()["error"]["code"] == "not_found"
    # A valid token for a missing enrollment reveals nothing either.
    ghost = paylink.payment_token(settings, "enr_missing", utcnow() + timedelta(minutes=5))
    assert (await client.get(f"/pay/enr_missing?t={ghost}")).status_code == 404


# ---- the page -------------------------------------------------------------------------------


async def test_the_page_carries_the_checkout_options(app, client, db, make_user, course, settings):
    started = await start(client, make_user, course, cancel_url=CANCEL_URL)
    await set_rows(db, User, started.user.id, phone="+919000090000")
    response = await client.get(started.page)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert_private(response)
    assert '<meta name="referrer" content="no-referrer">' in response.text

    config = page_config(response)
    options = config["options"]
    assert options.pop("timeout") in range(1700, 1801)
    assert options == {
        "key": app.state.sandbox_config.key_id,
        "order_id": started.order_id,
        "amount": 589882,
        "currency": "INR",
        "name": BUSINESS_NAME,
        "description": "Enrollment: Full Stack Web",
        "prefill": {
            "name": started.user.full_name,
            "email": started.user.email,
            "contact": "+919000090000",
        },
        "theme": {"color": "#0b57d0"},
        "callback_url": f"{settings.PUBLIC_BASE_URL}{started.callback}",
        "redirect": True,
    }
    assert config["mode"] == "checkout" and config["auto_open"] is True
    assert (
        config["cancel_url"] == f"{CANCEL_URL}?enrollment_id={started.enrollment_id}&status=pending"
    )

    html = response.text
    assert f'<script src="{app.state.sandbox_config.checkout_js_url}" defer>' in html
    assert "Full Stack Web" in html
    assert "₹4,999.00" in html and "₹899.82" in html  # price and GST
    assert "Pay ₹5,898.82" in html
    assert "Secure payment by Razorpay" in html
    assert "full refund within 10 days of enrolling" in html
    assert 'role="status" aria-live="polite"' in html
    assert 'name="viewport" content="width=device-width, initial-scale=1"' in html

    script = await client.get(re.search(r'src="(/static/pay\.js[^"]*)"', html).group(1))
    assert script.status_code == 200 and "new window.Razorpay(options)" in script.text


async def test_options_are_json_that_cannot_break_out_of_the_script(
    client, admin_headers, make_user
):
    title = "</script><script>alert(1)</script> & <b>bold</b>"
    course = await create_course(client, admin_headers, title=title, price=4999)
    started = await start(client, make_user, course)
    response = await client.get(started.page)
    assert "<script>alert(1)" not in response.text
    assert "<b>bold</b>" not in response.text
    assert page_config(response)["options"]["description"] == f"Enrollment: {title}"


# ---- the success callback -------------------------------------------------------------------


async def test_a_paid_checkout_redirects_to_success_url_and_enrolls(client, make_user, course):
    started = await start(client, make_user, course, success_url=SUCCESS_URL)
    paid = await pay(client, started.order_id, method="card")
    response = await client.post(started.callback, data=success_form(paid))

    assert response.status_code == 303
    assert_private(response)
    location = response.headers["location"]
    assert location.startswith("http://127.0.0.1/learn/welcome?") and location.endswith("#top")
    assert query_of(location) == {
        "from": ["pay"],
        "enrollment_id": [started.enrollment_id],
        "status": ["enrolled"],
    }
    status = await payment_status(client, started.headers, started.enrollment_id)
    assert status["enrollment_status"] == "enrolled"
    assert status["payment_status"] == "completed"
    assert status["razorpay_payment_id"] == paid["razorpay_payment_id"]

    # Repeating the callback (a reload) is harmless; the page itself now sends to success_url.
    again = await client.post(started.callback, data=success_form(paid))
    assert again.status_code == 303 and again.headers["location"] == location
    page = await client.get(started.page)
    assert page.status_code == 303 and page.headers["location"] == location


async def test_without_success_url_the_page_says_enrolled(client, make_user, course):
    started = await start(client, make_user, course)
    paid = await pay(client, started.order_id)
    response = await client.post(started.callback, data=success_form(paid))
    assert response.status_code == 303
    assert response.headers["location"] == started.page

    page = await client.get(started.page)
    assert page.status_code == 200
    assert "You're enrolled" in page.text
    assert 'href="https://learn.example.com/full-stack"' in page.text
    status = await client.get(f"/pay/{started.enrollment_id}/status?t={started.token}")
    assert status.json() == {
        "status": "enrolled",
        "access_url": "https://learn.example.com/full-stack",
    }


async def test_a_forged_signature_is_400_and_changes_nothing(client, db, make_user, course):
    started = await start(client, make_user, course, success_url=SUCCESS_URL)
    paid = await pay(client, started.order_id, method="card")
    forged = {**success_form(paid), "razorpay_signature": "0" * 64}
    response = await client.post(started.callback, data=forged)

    assert response.status_code == 400
    assert "We could not verify this payment" in response.text
    assert_private(response)
    status = await payment_status(client, started.headers, started.enrollment_id)
    assert status["enrollment_status"] == "pending"
    assert status["payment_status"] == "pending" and status["razorpay_payment_id"] is None
    assert await attempts(db) == 0

    # The genuine result still goes through afterwards.
    genuine = await client.post(started.callback, data=success_form(paid))
    assert query_of(genuine.headers["location"])["status"] == ["enrolled"]


async def test_a_callback_naming_another_enrollments_order_is_refused(
    client, db, make_user, course
):
    mine = await start(client, make_user, course, success_url=SUCCESS_URL)
    theirs = await start(client, make_user, course)
    paid = await pay(client, theirs.order_id)  # validly signed, for their order

    response = await client.post(mine.callback, data=success_form(paid))
    assert response.status_code == 400
    for started in (mine, theirs):
        status = await payment_status(client, started.headers, started.enrollment_id)
        assert status["enrollment_status"] == "pending"
    assert await attempts(db) == 0

    # An order that is not ours at all: the same.
    response = await client.post(
        mine.callback, data={**success_form(paid), "razorpay_order_id": "order_NotOurs0000000"}
    )
    assert response.status_code == 400


async def test_a_callback_without_a_result_is_refused(client, make_user, course):
    started = await start(client, make_user, course)
    response = await client.post(started.callback, data={"razorpay_payment_id": "pay_x"})
    assert response.status_code == 400
    assert (await payment_status(client, started.headers, started.enrollment_id))[
        "enrollment_status"
    ] == "pending"


async def test_callbacks_are_logged_and_count_against_the_verify_limit(
    app, client, db, make_user, course
):
    started = await start(client, make_user, course)
    paid = await pay(client, started.order_id)
    forged = {**success_form(paid), "razorpay_signature": "0" * 64}
    assert (await client.post(started.callback, data=forged)).status_code == 400
    assert (await client.post(started.callback, data=success_form(paid))).status_code == 303
    async with db.transaction() as session:
        rows = (
            await session.scalars(
                select(PaymentAttemptLog)
                .where(PaymentAttemptLog.action == "callback")
                .order_by(PaymentAttemptLog.id)
            )
        ).all()
    assert [(r.outcome, r.user_id, r.enrollment_id) for r in rows] == [
        ("invalid_signature", started.user.id, started.enrollment_id),
        ("success", started.user.id, started.enrollment_id),
    ]
    assert rows[0].amount == 589882 and rows[0].client_ip  # ₹4,999 + 18 % GST, in paise

    # The learner's verify allowance, shared with the API's verify-payment, runs out.
    limiter = app.state.rate_limiter
    while await limiter.hit(VERIFY_PER_LEARNER, "verify-learner", started.user.id):
        pass
    throttled = await client.post(started.callback, data=success_form(paid))
    assert throttled.status_code == 429
    assert int(throttled.headers["retry-after"]) >= 1
    assert "Too many attempts" in throttled.text


async def test_gateway_down_is_503_and_the_payment_is_confirmed_later(client, make_user, course):
    started = await start(client, make_user, course, success_url=SUCCESS_URL)
    paid = await pay(client, started.order_id)
    fault = {"path_prefix": "/v1/payments", "status": 503, "count": 50}
    assert (await client.post(f"{SANDBOX}/faults", json=fault)).status_code == 200

    response = await client.post(started.callback, data=success_form(paid))
    assert response.status_code == 503
    assert "Your payment is being confirmed" in response.text
    assert "You do not need to pay again" in response.text
    status = await payment_status(client, started.headers, started.enrollment_id)
    assert status["enrollment_status"] == "pending"

    assert (await client.delete(f"{SANDBOX}/faults")).status_code == 200
    response = await client.post(started.callback, data=success_form(paid))
    assert query_of(response.headers["location"])["status"] == ["enrolled"]


# ---- the failure callback -------------------------------------------------------------------


async def test_a_failed_payment_is_recorded_and_goes_to_cancel_url(client, make_user, course):
    started = await start(client, make_user, course, success_url=SUCCESS_URL, cancel_url=CANCEL_URL)
    failed = await pay(client, started.order_id, outcome="failure", method="card")
    response = await client.post(started.callback, data=failure_form(failed))

    assert response.status_code == 303
    location = response.headers["location"]
    assert location.startswith(CANCEL_URL + "?")
    assert query_of(location) == {
        "enrollment_id": [started.enrollment_id],
        "status": ["failed"],
    }
    status = await payment_status(client, started.headers, started.enrollment_id)
    assert status["enrollment_status"] == "failed"
    assert status["failure_reason"] == failed["error"]["description"]


async def test_nested_failure_metadata_fields_are_understood_too(client, make_user, course):
    started = await start(client, make_user, course, cancel_url=CANCEL_URL)
    failed = await pay(client, started.order_id, outcome="failure", method="card")
    form = failure_form(failed)
    del form["error[metadata]"]
    form["error[metadata][order_id]"] = started.order_id
    form["error[metadata][payment_id]"] = failed["razorpay_payment_id"]
    response = await client.post(started.callback, data=form)
    assert query_of(response.headers["location"])["status"] == ["failed"]


async def test_without_cancel_url_the_page_offers_try_again(client, make_user, course):
    started = await start(client, make_user, course)
    failed = await pay(client, started.order_id, outcome="failure", method="card")
    response = await client.post(started.callback, data=failure_form(failed))
    assert response.status_code == 303 and response.headers["location"] == started.page

    page = await client.get(started.page)
    assert page.status_code == 200
    assert failed["error"]["description"] in page.text
    assert "Try again" in page.text
    config = page_config(page)
    assert config["auto_open"] is False  # the learner decides when to try again
    assert config["options"]["order_id"] == started.order_id  # the same order takes a retry

    # Razorpay allows another attempt on the order while the hold lasts.
    paid = await pay(client, started.order_id)
    response = await client.post(started.callback, data=success_form(paid))
    assert response.headers["location"] == started.page
    assert "You're enrolled" in (await client.get(started.page)).text


async def test_a_posted_failure_is_not_taken_as_fact(client, make_user, course):
    """The gateway says the payment was captured: that is what counts, not the posted error."""
    started = await start(client, make_user, course, success_url=SUCCESS_URL, cancel_url=CANCEL_URL)
    paid = await pay(client, started.order_id)
    lie = failure_form(
        {
            **paid,
            "error": dict.fromkeys(("code", "description", "source", "step", "reason"), "forged"),
        }
    )
    response = await client.post(started.callback, data=lie)
    assert query_of(response.headers["location"])["status"] == ["enrolled"]
    assert response.headers["location"].startswith("http://127.0.0.1/learn/welcome?")

    # Without metadata nothing is asked of the gateway and nothing changes.
    other = await start(client, make_user, course, cancel_url=CANCEL_URL)
    response = await client.post(other.callback, data={"error[code]": "BAD_REQUEST_ERROR"})
    assert query_of(response.headers["location"])["status"] == ["pending"]


async def test_a_failure_naming_another_enrollments_order_changes_nothing(
    client, db, make_user, course
):
    mine = await start(client, make_user, course, cancel_url=CANCEL_URL)
    theirs = await start(client, make_user, course)
    failed = await pay(client, theirs.order_id, outcome="failure", method="card")
    response = await client.post(mine.callback, data=failure_form(failed))

    assert query_of(response.headers["location"])["status"] == ["pending"]
    for started in (mine, theirs):
        status = await payment_status(client, started.headers, started.enrollment_id)
        assert status["enrollment_status"] == "pending"
    assert await attempts(db) == 0

    # Our order, but a payment of another order: the gateway's record gives it away.
    lie = json.loads(failure_form(failed)["error[metadata]"])
    lie["order_id"] = mine.order_id
    form = {**failure_form(failed), "error[metadata]": json.dumps(lie)}
    await client.post(mine.callback, data=form)
    status = await payment_status(client, mine.headers, mine.enrollment_id)
    assert status["enrollment_status"] == "pending"
    assert await attempts(db) == 0


# ---- other states ---------------------------------------------------------------------------


async def test_money_on_its_way_shows_a_polling_page(client, db, make_user, course):
    started = await start(client, make_user, course)
    async with db.transaction() as session:
        payment_id = (await session.get(Enrollment, started.enrollment_id)).current_payment_id
    await set_rows(db, Payment, payment_id, status="authorized")

    page = await client.get(started.page)
    assert page.status_code == 200
    assert "Confirming your payment…" in page.text
    assert "pay-button" not in page.text  # no second Checkout
    config = page_config(page)
    assert config == {
        "mode": "confirm",
        "status_url": f"/pay/{started.enrollment_id}/status?t={started.token}",
    }
    status = await client.get(config["status_url"])
    assert status.json() == {"status": "pending", "access_url": None}
    assert_private(status)


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        ({"status": "expired"}, "The time to pay for this enrollment ran out"),
        ({"expires_at": utcnow() - timedelta(seconds=1)}, "The time to pay"),
        ({"status": "refunded"}, "This enrollment was refunded"),
    ],
)
async def test_a_link_that_can_no_longer_be_used_says_why(
    client, db, make_user, course, change, reason
):
    started = await start(client, make_user, course, success_url=SUCCESS_URL)
    await set_rows(db, Enrollment, started.enrollment_id, **change)
    page = await client.get(started.page)
    assert page.status_code == 410
    assert "This payment link can no longer be used" in page.text and reason in page.text
    assert "pay-config" not in page.text


async def test_a_cancelled_enrollment_gets_an_explanation(client, make_user, course):
    started = await start(client, make_user, course)
    cancelled = await client.post(
        f"/api/v1/enrollments/{started.enrollment_id}/cancel", json={}, headers=started.headers
    )
    assert cancelled.status_code == 200, cancelled.text
    page = await client.get(started.page)
    assert page.status_code == 410
    assert "This enrollment was cancelled" in page.text
    assert "pay-config" not in page.text


async def test_a_callback_just_after_the_hold_ended_is_still_confirmed(
    client, db, settings, make_user, course
):
    """A bank page finished at the last minute: the link's grace lets the callback confirm."""
    started = await start(client, make_user, course)
    ended = utcnow() - timedelta(minutes=5)
    await set_rows(db, Enrollment, started.enrollment_id, expires_at=ended)
    late = paylink.payment_token(settings, started.enrollment_id, ended)
    paid = await pay(client, started.order_id)
    response = await client.post(
        f"/pay/{started.enrollment_id}/callback?t={late}", data=success_form(paid)
    )
    assert response.status_code == 303, response.text
    status = await payment_status(client, started.headers, started.enrollment_id)
    assert status["enrollment_status"] == "enrolled"
