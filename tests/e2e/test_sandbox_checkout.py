"""The sandbox's checkout.js in Chromium: the `new Razorpay(options).open()` contract end to end.

Each test opens a merchant page served by the live server (same origin as the embedded sandbox,
or `cross_origin=True` for a page elsewhere, as with a standalone sandbox), creates an order
through the sandbox REST API and pays it through the modal like a customer would.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from enrollpay.payments.gateway.signatures import verify_payment_signature
from tests.e2e.conftest import LiveServer, Sandbox, horizontal_overflow

if TYPE_CHECKING:
    from playwright.sync_api import Locator, Page


def expect(locator: Locator) -> Any:
    # Imported late: without Playwright the browser fixtures skip (or fail in CI) instead of
    # this module failing to import.
    from playwright.sync_api import expect as playwright_expect

    return playwright_expect(locator)


SCREENSHOTS = os.environ.get("E2E_SCREENSHOTS_DIR")  # set it to keep screenshots of the modal
GOOD_CARD = "4100 2800 0000 1007"

MERCHANT_PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="data:,"><title>Merchant</title></head>
<body><h1>Acme Academy</h1><button id="buy">Buy the course</button>
<script src="{checkout_js}"></script>
<script>
window.events = [];
window.openCheckout = function (options) {{
  options = Object.assign({{}}, options);
  options.handler = function (response) {{ events.push({{type: "handler", response: response}}); }};
  options.modal = Object.assign({{}}, options.modal || {{}}, {{
    ondismiss: function () {{ events.push({{type: "dismiss"}}); }}
  }});
  var rzp = new Razorpay(options);
  rzp.on("payment.failed", function (response) {{
    events.push({{type: "payment.failed", response: response}});
  }});
  window.rzp = rzp;
  rzp.open();
}};
</script></body></html>
"""


def merchant_page(live_server: LiveServer, sandbox: Sandbox, *, cross_origin: bool = False) -> str:
    return live_server.pages.add(
        MERCHANT_PAGE.format(checkout_js=sandbox.base_url + "/checkout.js"),
        cross_origin=cross_origin,
    )


def open_checkout(page: Page, url: str, sandbox: Sandbox, order: dict[str, Any], **extra: Any):
    options: dict[str, Any] = {
        "key": sandbox.key_id,
        "order_id": order["id"],
        "amount": order["amount"],
        "currency": "INR",
        "name": "Acme Academy",
        "description": "Python for Data Science",
        "prefill": {"name": "Asha Rao", "email": "asha@example.com", "contact": "9000090000"},
        "theme": {"color": "#0f766e"},
    }
    options.update(extra)
    page.goto(url)
    page.evaluate("options => openCheckout(options)", options)
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    return dialog


def events(page: Page) -> list[dict[str, Any]]:
    result: list[dict[str, Any]] = page.evaluate("() => window.events")
    return result


def wait_for_event(page: Page, kind: str, count: int = 1) -> dict[str, Any]:
    page.wait_for_function(
        "([kind, count]) => window.events.filter(e => e.type === kind).length >= count",
        arg=[kind, count],
    )
    return [e for e in events(page) if e["type"] == kind][count - 1]


def pay_by_card(page: Page, number: str = GOOD_CARD, otp: str | None = "123456") -> None:
    page.get_by_role("radio", name="Card").check()
    page.get_by_label("Card number").fill(number)
    page.get_by_label("Expiry (MM/YY)").fill("12/39")
    page.get_by_label("CVV").fill("123")
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()
    if otp is not None:
        page.get_by_label("One-time password (OTP)").fill(otp)
        page.get_by_role("button", name="Submit OTP").click()


def pay_by_upi(page: Page, vpa: str) -> None:
    page.get_by_role("radio", name="UPI").check()
    page.get_by_label("UPI ID").fill(vpa)
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()


def expect_closed(page: Page) -> None:
    page.get_by_role("dialog").wait_for(state="detached")


def assert_verified(sandbox: Sandbox, order: dict[str, Any], response: dict[str, str]) -> None:
    assert set(response) == {"razorpay_payment_id", "razorpay_order_id", "razorpay_signature"}
    assert response["razorpay_order_id"] == order["id"]
    assert response["razorpay_payment_id"].startswith("pay_")
    assert verify_payment_signature(
        order["id"],  # ours, not the echo
        response["razorpay_payment_id"],
        response["razorpay_signature"],
        sandbox.key_secret,
    )


def screenshot(page: Page | Locator, name: str) -> None:
    if SCREENSHOTS:
        Path(SCREENSHOTS).mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(Path(SCREENSHOTS) / name), animations="disabled")


# ---- cards ---------------------------------------------------------------------------------------


def test_card_with_a_good_otp_pays_and_handler_gets_a_verifiable_signature(
    page: Page, live_server: LiveServer, sandbox: Sandbox
):
    order = sandbox.create_order(49_900)
    dialog = open_checkout(page, merchant_page(live_server, sandbox), sandbox, order)

    assert dialog.get_attribute("aria-modal") == "true"
    assert dialog.get_by_text("SANDBOX — test mode, no real money").is_visible()
    assert dialog.get_by_role("heading", name="Acme Academy").is_visible()
    assert dialog.get_by_text("₹499.00").first.is_visible()
    screenshot(page, "checkout-desktop.png")

    pay_by_card(page, otp=None)
    bank = page.get_by_role("heading", name=re.compile("Sandbox Bank"))
    bank.wait_for()
    assert page.get_by_text("Visa •••• 1007").is_visible()
    page.get_by_label("One-time password (OTP)").fill("4321")
    page.get_by_role("button", name="Submit OTP").click()

    handler = wait_for_event(page, "handler")
    expect_closed(page)
    assert_verified(sandbox, order, handler["response"])
    assert [e["type"] for e in events(page)] == ["handler"]  # no ondismiss after a success
    paid = sandbox.fetch_order(order["id"])
    assert paid["status"] == "paid"
    assert paid["amount_paid"] == 49_900


def test_a_short_otp_fails_with_authentication_failed_and_retry_succeeds(
    page: Page, live_server: LiveServer, sandbox: Sandbox
):
    order = sandbox.create_order()
    open_checkout(page, merchant_page(live_server, sandbox), sandbox, order)

    pay_by_card(page, otp="12")
    failed = wait_for_event(page, "payment.failed")["response"]
    error = failed["error"]
    assert error["reason"] == "authentication_failed"
    assert error["code"] == "GATEWAY_ERROR"
    assert error["step"] == "payment_authentication"
    assert error["metadata"]["order_id"] == order["id"]
    assert error["metadata"]["payment_id"].startswith("pay_")
    alert = page.get_by_role("alert").filter(has_text="Payment failed")
    assert alert.is_visible()
    assert sandbox.fetch_order(order["id"])["status"] == "attempted"

    page.get_by_role("button", name="Retry").click()
    pay_by_card(page, otp="123456")
    handler = wait_for_event(page, "handler")
    assert_verified(sandbox, order, handler["response"])
    assert handler["response"]["razorpay_payment_id"] != error["metadata"]["payment_id"]
    assert sandbox.fetch_order(order["id"])["status"] == "paid"


def test_an_error_test_card_fails_with_its_reason(
    page: Page, live_server: LiveServer, sandbox: Sandbox
):
    order = sandbox.create_order()
    open_checkout(page, merchant_page(live_server, sandbox), sandbox, order)

    pay_by_card(page, "4100 2800 0008 0001", otp=None)  # insufficient_fund
    page.get_by_role("button", name="Failure").click()
    error = wait_for_event(page, "payment.failed")["response"]["error"]
    assert (error["code"], error["reason"]) == ("BAD_REQUEST_ERROR", "insufficient_fund")
    assert page.get_by_role("alert").filter(has_text=error["description"]).is_visible()


def test_input_errors_stay_in_the_form(page: Page, live_server: LiveServer, sandbox: Sandbox):
    order = sandbox.create_order()
    open_checkout(page, merchant_page(live_server, sandbox), sandbox, order)

    pay_by_card(page, "4111 1111 1111 1111", otp=None)  # not a Razorpay test card
    number = page.get_by_label("Card number")
    # The message is tied to the field (aria-describedby), which is marked invalid and focused.
    expect(number).to_have_accessible_description(re.compile("This is not a test card"))
    assert number.get_attribute("aria-invalid") == "true"
    assert page.evaluate("() => document.activeElement.dataset.razorpaySandbox") == "checkout"
    assert events(page) == []  # no payment was attempted
    assert sandbox.fetch_order(order["id"])["attempts"] == 0


# ---- UPI, netbanking, wallet -----------------------------------------------------------------


def test_upi_failure_vpa_fires_payment_failed(
    page: Page, live_server: LiveServer, sandbox: Sandbox
):
    order = sandbox.create_order()
    open_checkout(page, merchant_page(live_server, sandbox), sandbox, order)

    pay_by_upi(page, "failure@razorpay")
    error = wait_for_event(page, "payment.failed")["response"]["error"]
    assert error["metadata"]["order_id"] == order["id"]
    assert error["reason"] == "payment_failed"
    assert page.get_by_role("button", name="Retry").is_visible()


def test_netbanking_mock_page_success(page: Page, live_server: LiveServer, sandbox: Sandbox):
    order = sandbox.create_order()
    open_checkout(page, merchant_page(live_server, sandbox), sandbox, order)

    page.get_by_role("radio", name="Netbanking").check()
    page.get_by_role("combobox", name="Bank").select_option("HDFC")
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()
    page.get_by_role("heading", name=re.compile("HDFC Bank")).wait_for()
    page.get_by_role("button", name="Success").click()
    assert_verified(sandbox, order, wait_for_event(page, "handler")["response"])


def test_retry_disabled_closes_after_a_failure(
    page: Page, live_server: LiveServer, sandbox: Sandbox
):
    order = sandbox.create_order()
    open_checkout(
        page, merchant_page(live_server, sandbox), sandbox, order, retry={"enabled": False}
    )
    page.get_by_role("radio", name="Wallet").check()
    page.get_by_role("combobox", name="Wallet").select_option("phonepe")
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()
    page.get_by_role("button", name="Failure").click()

    wait_for_event(page, "dismiss")
    expect_closed(page)
    assert [e["type"] for e in events(page)] == ["payment.failed", "dismiss"]


# ---- callback_url + redirect ---------------------------------------------------------------


def test_redirect_posts_the_failure_to_callback_url(
    page: Page, live_server: LiveServer, sandbox: Sandbox
):
    order = sandbox.create_order()
    callback = live_server.pages.post_url("failure")
    open_checkout(
        page,
        merchant_page(live_server, sandbox),
        sandbox,
        order,
        callback_url=callback,
        redirect=True,
    )
    pay_by_card(page, otp="12")

    page.wait_for_url(callback)
    post = live_server.pages.next_post()
    assert post.content_type.startswith("application/x-www-form-urlencoded")
    form = post.form
    assert form["error[code]"] == "GATEWAY_ERROR"
    assert form["error[reason]"] == "authentication_failed"
    assert form["error[source]"] and form["error[step]"] and form["error[description]"]
    metadata = json.loads(form["error[metadata]"])
    assert metadata["order_id"] == order["id"]
    assert metadata["payment_id"].startswith("pay_")
    assert "razorpay_signature" not in form


def test_callback_url_gets_the_three_fields_on_success(
    page: Page, live_server: LiveServer, sandbox: Sandbox
):
    order = sandbox.create_order()
    callback = live_server.pages.post_url("success")
    open_checkout(
        page,
        merchant_page(live_server, sandbox),
        sandbox,
        order,
        callback_url=callback,
        redirect=True,
    )
    pay_by_upi(page, "success@razorpay")

    page.wait_for_url(callback)
    form = live_server.pages.next_post().form
    assert_verified(sandbox, order, form)
    assert page.locator("#received").is_visible()  # the browser went to callback_url


# ---- closing -------------------------------------------------------------------------------


def test_close_button_and_escape_call_ondismiss(
    page: Page, live_server: LiveServer, sandbox: Sandbox
):
    order = sandbox.create_order()
    url = merchant_page(live_server, sandbox)
    open_checkout(page, url, sandbox, order)
    page.get_by_role("button", name="Close checkout").click()
    wait_for_event(page, "dismiss")
    expect_closed(page)

    page.evaluate("() => window.rzp.open()")  # the same instance opens again
    page.get_by_role("dialog").wait_for()
    page.keyboard.press("Escape")
    wait_for_event(page, "dismiss", count=2)
    expect_closed(page)


def test_escape_false_and_confirm_close(page: Page, live_server: LiveServer, sandbox: Sandbox):
    order = sandbox.create_order()
    dialog = open_checkout(
        page,
        merchant_page(live_server, sandbox),
        sandbox,
        order,
        modal={"escape": False, "confirm_close": True},
    )
    page.get_by_label("Card number").wait_for()
    page.keyboard.press("Escape")
    assert dialog.is_visible()

    page.get_by_role("button", name="Close checkout").click()
    confirm = page.get_by_role("alertdialog", name="Cancel this payment?")
    confirm.get_by_role("button", name="No, continue").click()
    assert dialog.is_visible() and events(page) == []

    page.get_by_role("button", name="Close checkout").click()
    confirm.get_by_role("button", name="Yes, cancel").click()
    wait_for_event(page, "dismiss")
    expect_closed(page)


def test_prefill_method_hidden_contact_and_backdropclose(
    page: Page, live_server: LiveServer, sandbox: Sandbox
):
    order = sandbox.create_order()
    dialog = open_checkout(
        page,
        merchant_page(live_server, sandbox),
        sandbox,
        order,
        prefill={"email": "asha@example.com", "contact": "9000090000", "method": "upi"},
        hidden={"contact": True},
        modal={"backdropclose": True},
    )
    page.get_by_label("UPI ID").wait_for()
    assert page.get_by_role("radio", name="UPI").is_checked()
    assert dialog.get_by_label("Phone number").count() == 0
    assert dialog.get_by_label("Email").input_value() == "asha@example.com"

    page.mouse.click(5, 5)  # the backdrop, outside the dialog
    wait_for_event(page, "dismiss")
    expect_closed(page)


def test_focus_stays_in_the_dialog(page: Page, live_server: LiveServer, sandbox: Sandbox):
    order = sandbox.create_order()
    open_checkout(page, merchant_page(live_server, sandbox), sandbox, order)
    page.get_by_label("Card number").wait_for()
    for key in ["Tab"] * 14 + ["Shift+Tab"] * 14:
        page.keyboard.press(key)
        host = page.evaluate("() => document.activeElement.dataset.razorpaySandbox")
        assert host == "checkout", f"focus left the dialog after {key}"
    page.get_by_role("button", name="Close checkout").click()
    expect_closed(page)
    assert page.evaluate("() => document.activeElement === document.body")


def test_timeout_dismisses_as_timed_out(page: Page, live_server: LiveServer, sandbox: Sandbox):
    order = sandbox.create_order()
    open_checkout(page, merchant_page(live_server, sandbox), sandbox, order, timeout=2)
    page.get_by_role("alert").filter(has_text="Payment timed out").wait_for(timeout=4_000)
    wait_for_event(page, "dismiss")
    expect_closed(page)
    assert sandbox.fetch_order(order["id"])["status"] == "created"


# ---- refusals ------------------------------------------------------------------------------


def test_a_wrong_key_shows_the_razorpay_error(
    page: Page, live_server: LiveServer, sandbox: Sandbox
):
    order = sandbox.create_order()
    dialog = open_checkout(
        page, merchant_page(live_server, sandbox), sandbox, order, key="rzp_test_AAAAAAAAAAAAAA"
    )
    dialog.get_by_role("alert").filter(has_text="The id provided does not exist").wait_for()
    assert dialog.get_by_label("Card number").count() == 0
    page.get_by_role("button", name="Close", exact=True).click()
    wait_for_event(page, "dismiss")


def test_an_amount_other_than_the_orders_is_refused(
    page: Page, live_server: LiveServer, sandbox: Sandbox
):
    order = sandbox.create_order(49_900)
    dialog = open_checkout(page, merchant_page(live_server, sandbox), sandbox, order, amount=499)
    dialog.get_by_role("alert").filter(has_text="does not match the order's amount").wait_for()


def test_a_paid_order_is_refused_before_asking_for_a_card(
    page: Page, live_server: LiveServer, sandbox: Sandbox
):
    order = sandbox.create_order()
    url = merchant_page(live_server, sandbox)
    open_checkout(page, url, sandbox, order)
    pay_by_upi(page, "success@razorpay")
    wait_for_event(page, "handler")

    dialog = open_checkout(page, url, sandbox, order)
    dialog.get_by_role("alert").filter(has_text="already paid").wait_for()


def test_constructor_without_key_throws_like_razorpay(
    page: Page, live_server: LiveServer, sandbox: Sandbox
):
    page.goto(merchant_page(live_server, sandbox))
    message = page.evaluate(
        "() => { try { new Razorpay({order_id: 'x'}); } catch (e) { return e.message; } }"
    )
    assert message == "No key passed"


# ---- another origin and a phone --------------------------------------------------------------


def test_from_another_origin_on_a_phone(
    mobile_page: Page, live_server: LiveServer, sandbox: Sandbox
):
    """A 360 px phone and a page on another origin than the sandbox (CORS, as standalone)."""
    page = mobile_page
    order = sandbox.create_order(1_19_900)
    url = merchant_page(live_server, sandbox, cross_origin=True)
    assert not url.startswith(sandbox.base_url.split("/sandbox")[0])
    dialog = open_checkout(page, url, sandbox, order)
    page.get_by_label("Card number").wait_for()

    assert horizontal_overflow(page) == 0
    badge = dialog.get_by_text("SANDBOX — test mode, no real money")
    assert badge.is_visible()
    box = badge.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 360
    dialog_box = dialog.bounding_box()
    assert dialog_box is not None and dialog_box["width"] <= 360
    for name in ("Close checkout", re.compile(r"^Pay ")):
        target = page.get_by_role("button", name=name).bounding_box()
        assert target is not None and target["height"] >= 44 and target["width"] >= 44
    screenshot(page, "checkout-360.png")

    pay_by_upi(page, "success@razorpay")
    handler = wait_for_event(page, "handler")
    assert_verified(sandbox, order, handler["response"])


def test_a_standalone_sandbox_on_another_port(
    page: Page, live_server: LiveServer, standalone_sandbox: Sandbox
):
    """checkout.js served at the root of `enrollpay sandbox` finds its base from its own URL."""
    sandbox = standalone_sandbox
    order = sandbox.create_order(2_500)
    url = merchant_page(live_server, sandbox)
    assert not url.startswith(sandbox.base_url)
    dialog = open_checkout(page, url, sandbox, order)
    assert dialog.get_by_text("₹25.00").first.is_visible()
    pay_by_card(page, "5500 6700 0000 1002", otp="9876")
    assert_verified(sandbox, order, wait_for_event(page, "handler")["response"])
    assert sandbox.fetch_order(order["id"])["status"] == "paid"


def test_the_modal_loads_nothing_but_the_sandbox(
    page: Page, live_server: LiveServer, sandbox: Sandbox
):
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    order = sandbox.create_order()
    open_checkout(page, merchant_page(live_server, sandbox), sandbox, order)
    page.get_by_label("Card number").wait_for()
    assert {sandbox.base_url + "/checkout.js", sandbox.base_url + "/checkout.css"} <= set(requested)
    outside = [u for u in requested if not u.startswith((live_server.url, "data:"))]
    assert outside == []
