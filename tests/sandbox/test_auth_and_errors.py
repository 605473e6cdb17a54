"""Basic auth exactly as Razorpay wants it, and Razorpay's error shape for every failure."""

from __future__ import annotations

import base64

import httpx
import pytest

from enrollpay.payments.gateway.errors import GatewayRejected
from enrollpay.sandbox import service
from tests.sandbox.conftest import BASE, Sandbox, assert_razorpay_error, basic_auth


def _basic(raw: str) -> str:
    return base64.b64encode(raw.encode()).decode()


async def test_the_right_key_pair_is_accepted(sandbox: Sandbox):
    response = await sandbox.rest("GET", "/v1/orders")
    assert response.status_code == 200
    assert response.json() == {"entity": "collection", "count": 0, "items": []}


ANYTHING_ELSE_IS_401_AUTHENTICATION_FAILED_CASES = [
    None,
    "Bearer abc",
    "basic {token}",
    "BASIC {token}",
    'Basic "{token}"',
    "Basic  {token}",
    "Basic not-base64!",
    "Basic {no_colon}",
    "Basic {wrong_secret}",
    "Basic {wrong_key}",
    "Basic {empty}",
]


async def test_anything_else_is_401_authentication_failed(
    sandbox: Sandbox, client: httpx.AsyncClient
):
    for header in ANYTHING_ELSE_IS_401_AUTHENTICATION_FAILED_CASES:
        config = sandbox.config
        values = {
            "token": _basic(f"{config.key_id}:{config.key_secret}"),
            "no_colon": _basic(config.key_id + config.key_secret),
            "wrong_secret": _basic(f"{config.key_id}:{config.key_secret}x"),
            "wrong_key": _basic(f"rzp_test_AAAAAAAAAAAAAA:{config.key_secret}"),
            "empty": _basic(":"),
        }
        headers = {"Authorization": header.format(**values)} if header else {}
        response = await client.post(
            f"{BASE}/v1/orders", json={"amount": 100, "currency": "INR"}, headers=headers
        )
        error = assert_razorpay_error(response, 401, "Authentication failed")
        assert (error["source"], error["step"], error["reason"]) == ("NA", "NA", "NA")


async def test_bad_auth_through_our_client(app, sandbox: Sandbox):
    from enrollpay.payments.gateway.razorpay import RazorpayClient

    wrong = RazorpayClient(
        key_id=sandbox.config.key_id,
        key_secret="wrong",
        base_url="http://sandbox",
        transport=httpx.ASGITransport(app=app.state.sandbox_app),
    )
    try:
        with pytest.raises(GatewayRejected) as raised:
            await wrong.fetch_order("order_AAAAAAAAAAAAAA")
    finally:
        await wrong.aclose()
    assert raised.value.status == 401
    assert raised.value.description == "Authentication failed"


UNKNOWN_URLS_AND_METHODS_ARE_400_CASES = [
    ("GET", "/v1/nothing"),
    ("GET", "/v2/orders"),
    ("DELETE", "/v1/orders"),
    ("PUT", "/v1/payments/pay_AAAAAAAAAAAAAA"),
    ("GET", "/v1/orders/"),
    ("GET", "/"),
    ("GET", "/docs"),
]


async def test_unknown_urls_and_methods_are_400(sandbox: Sandbox):
    for method, path in UNKNOWN_URLS_AND_METHODS_ARE_400_CASES:
        response = await sandbox.rest(method, path)
        assert_razorpay_error(response, 400, "The requested URL was not found on the server.")


MALFORMED_AND_UNKNOWN_IDS_CASES = [
    "/v1/orders/{id}",
    "/v1/orders/{id}/payments",
    "/v1/payments/{id}",
    "/v1/payments/{id}/refunds",
    "/v1/refunds/{id}",
]


async def test_malformed_and_unknown_ids(sandbox: Sandbox):
    for path in MALFORMED_AND_UNKNOWN_IDS_CASES:
        prefix = path.split("/")[2].rstrip("s").replace("payment", "pay").replace("refund", "rfnd")
        for malformed in (f"{prefix}_short", f"{prefix}_AAAAAAAAAAAAAA!", "cust_AAAAAAAAAAAAAA"):
            response = await sandbox.rest("GET", path.format(id=malformed))
            assert_razorpay_error(response, 400, f"{malformed} is not a valid id")
        response = await sandbox.rest("GET", path.format(id=f"{prefix}_AAAAAAAAAAAAAA"))
        error = assert_razorpay_error(response, 400, "The id provided does not exist")
        assert (error["source"], error["step"], error["reason"]) == ("NA", "NA", "NA")


async def test_another_keys_orders_do_not_exist(app, sandbox: Sandbox):
    order = await sandbox.order()
    sandbox.configure(key_id="rzp_test_OTHERKEY000000", key_secret="other-secret")
    response = await sandbox.rest("GET", f"/v1/orders/{order['id']}")
    assert_razorpay_error(response, 400, "The id provided does not exist")


async def test_unknown_id_through_our_client(gateway):
    with pytest.raises(GatewayRejected) as raised:
        await gateway.fetch_payment("pay_AAAAAAAAAAAAAA")
    assert raised.value.status == 400
    assert raised.value.code == "BAD_REQUEST_ERROR"
    assert raised.value.description == "The id provided does not exist"


async def test_bodies_that_are_not_json_objects(sandbox: Sandbox):
    for content in (b"{not json", b"[1, 2]", b'"text"', b"\xff\xfe"):
        response = await sandbox.rest(
            "POST", "/v1/orders", content=content, headers={"Content-Type": "application/json"}
        )
        assert response.status_code == 400, content
        assert response.json()["error"]["code"] == "BAD_REQUEST_ERROR"


async def test_an_unexpected_failure_is_a_razorpay_server_error(
    sandbox: Sandbox, monkeypatch: pytest.MonkeyPatch
):
    async def broken(*args, **kwargs):
        raise RuntimeError("bug")

    monkeypatch.setattr(service, "create_order", broken)
    response = await sandbox.rest("POST", "/v1/orders", json={"amount": 100, "currency": "INR"})
    assert_razorpay_error(
        response,
        500,
        "The server encountered an error. The incident has been reported to admins.",
        code="SERVER_ERROR",
    )


async def test_a_body_over_the_size_limit(sandbox: Sandbox):
    response = await sandbox.rest(
        "POST", "/v1/orders", content=b"x" * 2_000_000, headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 413


async def test_control_api_needs_no_auth_and_answers_in_razorpay_shape(
    client: httpx.AsyncClient, sandbox: Sandbox
):
    response = await client.post(f"{BASE}/_sandbox/orders/order_AAAAAAAAAAAAAA/pay", json={})
    assert_razorpay_error(response, 400, "The outcome field is required.", field="outcome")
    response = await client.post(
        f"{BASE}/_sandbox/orders/order_AAAAAAAAAAAAAA/pay", json={"outcome": "success"}
    )
    assert_razorpay_error(response, 400, "The id provided does not exist")
    response = await client.post(
        f"{BASE}/_sandbox/webhooks", json={"duplicates": 1}, headers=basic_auth("a", "b")
    )
    assert_razorpay_error(
        response,
        400,
        "duplicates is/are not required and should not be sent.",
        field="duplicates",
    )
