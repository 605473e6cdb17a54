"""The Checkout stand-in's HTTP side, through the app with the sandbox mounted at /sandbox/razorpay:
checkout.js itself and the JSON endpoints its modal calls."""

from __future__ import annotations

import base64
from typing import Any

import httpx
import pytest

from enrollpay.config import Settings
from enrollpay.payments.gateway.signatures import verify_payment_signature
from enrollpay.sandbox.checkout_rules import ERROR_CARDS
from enrollpay.sandbox.config import SandboxConfig, derive_sandbox_config
from enrollpay.sandbox.service import FAILURE_REASONS

BASE = "/sandbox/razorpay"
GOOD_CARD = {"number": "4100 2800 0000 1007", "expiry": "12/39", "cvv": "123", "name": "Asha"}
ORIGIN = {"Origin": "http://localhost:9999"}
# One error card per reason (the Visa of each), and one Mastercard.
ONE_CARD_PER_REASON = [
    *sorted({reason: n for n, reason in ERROR_CARDS.items() if n.startswith("4")}.values()),
    "5305620000070009",
]


@pytest.fixture
def sandbox_config(settings: Settings) -> SandboxConfig:
    return derive_sandbox_config(settings)


@pytest.fixture
def rest(client: httpx.AsyncClient, sandbox_config: SandboxConfig) -> Any:
    token = base64.b64encode(f"{sandbox_config.key_id}:{sandbox_config.key_secret}".encode())
    headers = {"Authorization": "Basic " + token.decode()}

    async def call(method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        response = await client.request(method, BASE + path, headers=headers, **kwargs)
        assert response.status_code == 200, response.text
        body: dict[str, Any] = response.json()
        return body

    return call


@pytest.fixture
async def order(rest: Any) -> dict[str, Any]:
    created: dict[str, Any] = await rest(
        "POST", "/v1/orders", json={"amount": 49_900, "currency": "INR", "receipt": "r-1"}
    )
    return created


async def pay(
    client: httpx.AsyncClient, config: SandboxConfig, order: dict[str, Any], **fields: Any
) -> httpx.Response:
    body = {
        "key_id": config.key_id,
        "order_id": order["id"],
        "contact": "9000090000",
        "email": "asha@example.com",
        **fields,
    }
    return await client.post(BASE + "/checkout/pay", json=body, headers=ORIGIN)


def assert_razorpay_error(response: httpx.Response, status: int, description: str) -> dict:
    assert response.status_code == status, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    error: dict[str, Any] = response.json()["error"]
    assert set(error) >= {"code", "description", "field", "source", "step", "reason", "metadata"}
    assert error["code"] == "BAD_REQUEST_ERROR"
    assert description in error["description"]
    return error


# ---- the script --------------------------------------------------------------------------------


async def test_checkout_js_is_cacheable_javascript(client: httpx.AsyncClient):
    response = await client.get(BASE + "/checkout.js")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/javascript")
    assert response.headers["cache-control"] == "public, max-age=300"
    assert response.headers["x-content-type-options"] == "nosniff"
    assert "window.Razorpay = Razorpay" in response.text
    assert "document.currentScript" in response.text

    etag = response.headers["etag"]
    again = await client.get(BASE + "/checkout.js", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""
    head = await client.head(BASE + "/checkout.js")
    assert head.status_code == 200 and head.headers["etag"] == etag


async def test_checkout_css_and_nothing_external(client: httpx.AsyncClient):
    css = await client.get(BASE + "/checkout.css")
    assert css.status_code == 200
    assert css.headers["content-type"].startswith("text/css")
    js = (await client.get(BASE + "/checkout.js")).text
    for text in (css.text, js):
        assert "http://" not in text.replace("http://www.w3.org", "")
        assert "https://" not in text.replace("https://checkout.razorpay.com/v1/checkout.js", "")
        assert "@import" not in text


# ---- the order -------------------------------------------------------------------------------


async def test_order_for_the_modal(
    client: httpx.AsyncClient, sandbox_config: SandboxConfig, order: dict[str, Any]
):
    response = await client.get(
        BASE + "/checkout/order",
        params={"key_id": sandbox_config.key_id, "order_id": order["id"]},
        headers=ORIGIN,
    )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["order"] == {
        "id": order["id"],
        "entity": "order",
        "amount": 49_900,
        "amount_paid": 0,
        "amount_due": 49_900,
        "currency": "INR",
        "status": "created",
    }
    assert body["netbanking"]["HDFC"] == "HDFC Bank"
    assert "phonepe" in body["wallets"]


async def test_a_wrong_key_or_order_does_not_exist(
    client: httpx.AsyncClient, sandbox_config: SandboxConfig, order: dict[str, Any]
):
    for params in (
        {"key_id": "rzp_test_AAAAAAAAAAAAAA", "order_id": order["id"]},
        {"key_id": sandbox_config.key_id, "order_id": "order_AAAAAAAAAAAAAA"},
    ):
        response = await client.get(BASE + "/checkout/order", params=params, headers=ORIGIN)
        assert_razorpay_error(response, 400, "The id provided does not exist")
    missing = await client.get(BASE + "/checkout/order", params={"order_id": order["id"]})
    assert_razorpay_error(missing, 400, "No key passed")


async def test_preflight_allows_any_origin(client: httpx.AsyncClient):
    for path in ("/checkout/pay", "/checkout/order"):
        response = await client.options(
            BASE + path,
            headers={
                **ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type",
            },
        )
        assert response.status_code == 204
        assert response.headers["access-control-allow-origin"] == "*"
        assert "POST" in response.headers["access-control-allow-methods"]
        assert response.headers["access-control-allow-headers"].lower() == "content-type"


# ---- paying ----------------------------------------------------------------------------------


async def test_card_step_one_checks_the_card_without_a_payment(
    client: httpx.AsyncClient, sandbox_config: SandboxConfig, order: dict[str, Any], rest: Any
):
    response = await pay(client, sandbox_config, order, method="card", card=GOOD_CARD)
    assert response.status_code == 200, response.text
    assert response.json() == {
        "status": "authentication_required",
        "card": {"last4": "1007", "network": "Visa", "international": False},
    }
    fetched = await rest("GET", f"/v1/orders/{order['id']}")
    assert (fetched["status"], fetched["attempts"]) == ("created", 0)


async def test_card_with_a_good_otp_pays(
    client: httpx.AsyncClient, sandbox_config: SandboxConfig, order: dict[str, Any], rest: Any
):
    response = await pay(client, sandbox_config, order, method="card", card=GOOD_CARD, otp="1234")
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    body = response.json()
    assert body["status"] == "success"
    handler = body["response"]
    assert handler["razorpay_order_id"] == order["id"]
    assert verify_payment_signature(
        order["id"],
        handler["razorpay_payment_id"],
        handler["razorpay_signature"],
        sandbox_config.key_secret,
    )
    fetched = await rest("GET", f"/v1/orders/{order['id']}")
    assert (fetched["status"], fetched["amount_paid"], fetched["amount_due"]) == ("paid", 49_900, 0)
    payment = await rest("GET", f"/v1/payments/{handler['razorpay_payment_id']}")
    assert payment["method"] == "card"
    assert payment["status"] == "captured"
    assert payment["email"] == "asha@example.com"
    assert payment["contact"] == "+919000090000"
    assert payment["card"]["last4"] == "1007"
    assert payment["card"]["network"] == "Visa"

    # Paid: the modal is refused before asking for anything, and so is another payment.
    again = await client.get(
        BASE + "/checkout/order", params={"key_id": sandbox_config.key_id, "order_id": order["id"]}
    )
    assert_razorpay_error(again, 400, "already paid")
    second = await pay(client, sandbox_config, order, method="upi", vpa="success@razorpay")
    assert_razorpay_error(second, 400, "already paid")


@pytest.mark.parametrize(
    ("bank_page", "reason"),
    [
        ({"otp": "12"}, "authentication_failed"),
        ({"otp": "123"}, "authentication_failed"),
        ({"action": "failure"}, "authentication_failed"),
    ],
)
async def test_card_authentication_failures(
    client: httpx.AsyncClient,
    sandbox_config: SandboxConfig,
    order: dict[str, Any],
    rest: Any,
    bank_page: dict[str, str],
    reason: str,
):
    response = await pay(client, sandbox_config, order, method="card", card=GOOD_CARD, **bank_page)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "failed"
    error = body["error"]
    assert error["reason"] == reason
    assert error["code"] == FAILURE_REASONS[reason].code
    assert error["metadata"]["order_id"] == order["id"]
    payment = await rest("GET", f"/v1/payments/{error['metadata']['payment_id']}")
    assert (payment["status"], payment["error_reason"]) == ("failed", reason)
    fetched = await rest("GET", f"/v1/orders/{order['id']}")
    assert (fetched["status"], fetched["attempts"]) == ("attempted", 1)


@pytest.mark.parametrize("number", ONE_CARD_PER_REASON)
async def test_error_cards_fail_with_their_reason_and_code(
    client: httpx.AsyncClient,
    sandbox_config: SandboxConfig,
    order: dict[str, Any],
    number: str,
):
    card = {**GOOD_CARD, "number": number}
    response = await pay(client, sandbox_config, order, method="card", card=card, otp="123456")
    error = response.json()["error"]
    reason = ERROR_CARDS[number]
    assert error["reason"] == reason
    assert error["code"] == FAILURE_REASONS[reason].code
    assert error["description"]


async def test_upi(
    client: httpx.AsyncClient, sandbox_config: SandboxConfig, order: dict[str, Any], rest: Any
):
    other = await pay(client, sandbox_config, order, method="upi", vpa="someone@okhdfcbank")
    error = assert_razorpay_error(other, 400, "Invalid VPA")
    assert error["field"] == "vpa"

    failed = (await pay(client, sandbox_config, order, method="upi", vpa="failure@razorpay")).json()
    assert failed["status"] == "failed"
    assert failed["error"]["reason"] == "payment_failed"

    paid = (await pay(client, sandbox_config, order, method="upi", vpa="success@razorpay")).json()
    assert paid["status"] == "success"
    payment = await rest("GET", f"/v1/payments/{paid['response']['razorpay_payment_id']}")
    assert (payment["method"], payment["vpa"]) == ("upi", "success@razorpay")


@pytest.mark.parametrize(
    ("method", "choice"), [("netbanking", {"bank": "HDFC"}), ("wallet", {"wallet": "phonepe"})]
)
async def test_netbanking_and_wallet_mock_pages(
    client: httpx.AsyncClient,
    sandbox_config: SandboxConfig,
    order: dict[str, Any],
    rest: Any,
    method: str,
    choice: dict[str, str],
):
    no_button = await pay(client, sandbox_config, order, method=method, **choice)
    assert_razorpay_error(no_button, 400, "Choose Success or Failure")
    unknown = await pay(client, sandbox_config, order, method=method, action="success", **{
        name: "NOPE" for name in choice
    })  # fmt: skip
    assert_razorpay_error(unknown, 400, "Choose a")

    failed = await pay(client, sandbox_config, order, method=method, action="failure", **choice)
    assert failed.json()["error"]["reason"] == "authentication_failed"
    paid = await pay(client, sandbox_config, order, method=method, action="success", **choice)
    payment_id = paid.json()["response"]["razorpay_payment_id"]
    payment = await rest("GET", f"/v1/payments/{payment_id}")
    assert payment["method"] == method
    assert payment[next(iter(choice))] == next(iter(choice.values()))


@pytest.mark.parametrize(
    ("fields", "field", "text"),
    [
        ({"method": "bitcoin"}, "method", "method"),
        ({"method": "card"}, "card[number]", "Enter the card details"),
        ({"method": "card", "card": {**GOOD_CARD, "number": "4111111111111111"}}, "card[number]",
         "not a test card"),
        ({"method": "card", "card": {**GOOD_CARD, "expiry": "01/20"}}, "card[expiry]", "expired"),
        ({"method": "card", "card": {**GOOD_CARD, "cvv": "1"}}, "card[cvv]", "CVV"),
        ({"method": "card", "card": GOOD_CARD, "otp": "12ab"}, "otp", "digits"),
        ({"method": "upi", "vpa": "success@razorpay", "contact": "abc"}, "contact", "phone"),
        ({"method": "upi", "vpa": "success@razorpay", "email": "nope"}, "email", "email"),
    ],
)  # fmt: skip
async def test_input_errors_are_razorpay_shaped(
    client: httpx.AsyncClient,
    sandbox_config: SandboxConfig,
    order: dict[str, Any],
    rest: Any,
    fields: dict[str, Any],
    field: str,
    text: str,
):
    response = await pay(client, sandbox_config, order, **fields)
    error = assert_razorpay_error(response, 400, text)
    assert error["field"] == field
    assert error["reason"] == "input_validation_failed"
    assert (await rest("GET", f"/v1/orders/{order['id']}"))["attempts"] == 0


async def test_a_body_that_is_not_json(client: httpx.AsyncClient):
    response = await client.post(
        BASE + "/checkout/pay", content=b"not json", headers={"Content-Type": "application/json"}
    )
    assert_razorpay_error(response, 400, "JSON")


async def test_pay_with_a_wrong_key(
    client: httpx.AsyncClient, sandbox_config: SandboxConfig, order: dict[str, Any]
):
    response = await client.post(
        BASE + "/checkout/pay",
        json={
            "key_id": "rzp_test_AAAAAAAAAAAAAA",
            "order_id": order["id"],
            "method": "upi",
            "vpa": "success@razorpay",
        },
    )
    assert_razorpay_error(response, 400, "The id provided does not exist")


# ---- the demo page ---------------------------------------------------------------------------


async def test_demo_page(client: httpx.AsyncClient, sandbox_config: SandboxConfig):
    response = await client.get(
        BASE + "/checkout/demo", params={"order_id": "order_X<script>", "name": "A&B"}
    )
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    html = response.text
    assert 'src="../checkout.js"' in html
    assert f'data-key="{sandbox_config.key_id}"' in html
    assert "order_X&lt;script&gt;" in html and '<script>"' not in html
    assert 'data-name="A&amp;B"' in html
    demo_js = await client.get(BASE + "/checkout-demo.js")
    assert demo_js.status_code == 200
    assert "new Razorpay" in demo_js.text
