"""Our Razorpay client against the in-process sandbox with injected faults: retries never create
a second order, capture or refund, and errors keep everything Razorpay said."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import stamina

from enrollpay.payments.gateway.errors import GatewayRejected, GatewayUnavailable
from enrollpay.payments.gateway.factory import build_gateway
from enrollpay.payments.gateway.razorpay import RazorpayClient

SANDBOX = "/sandbox/razorpay"


@pytest.fixture(autouse=True)
def _no_backoff_waits() -> Iterator[None]:
    # Keep the client's own attempt counts, but do not sleep between them.
    with stamina.set_testing(True, attempts=10, cap=True):
        yield


@pytest.fixture
def gateway(app: Any) -> RazorpayClient:
    client: RazorpayClient = app.state.gateway
    return client


async def fault(client: httpx.AsyncClient, **spec: Any) -> None:
    response = await client.post(f"{SANDBOX}/_sandbox/faults", json=spec)
    assert response.status_code == 200, response.text


def receipt() -> str:
    return f"rcpt_{secrets.token_hex(6)}"


async def create(gateway: RazorpayClient, receipt_value: str, amount: int = 353882):
    return await gateway.create_order(
        amount=amount, currency="INR", receipt=receipt_value, notes={"enrollment_id": "enr_x"}
    )


async def paid_order(client: httpx.AsyncClient, gateway: RazorpayClient, **pay: Any):
    order = await create(gateway, receipt())
    response = await client.post(
        f"{SANDBOX}/_sandbox/orders/{order.id}/pay",
        json={"outcome": "success", "method": "upi", "webhooks": False, **pay},
    )
    assert response.status_code == 200, response.text
    return order, response.json()["payment"]


async def test_create_order_happy_path(gateway):
    value = receipt()
    order = await create(gateway, value)
    assert order.id.startswith("order_")
    assert (order.amount, order.amount_due, order.status, order.receipt) == (
        353882,
        353882,
        "created",
        value,
    )
    assert order.notes == {"enrollment_id": "enr_x"}
    assert (await gateway.fetch_order(order.id)).id == order.id


@pytest.mark.parametrize(
    "spec",
    [
        pytest.param({"status": 503, "count": 2}, id="5xx-before-applying"),
        pytest.param({"status": 429, "count": 2, "retry_after": 1}, id="429"),
        pytest.param({"status": 504, "count": 1, "after": True}, id="lost-response"),
        pytest.param({"reset": True, "count": 1, "after": True}, id="reset-after-applying"),
        pytest.param({"reset": True, "count": 1}, id="reset-before-applying"),
        pytest.param({"status": 502, "body": "html", "count": 1, "after": True}, id="proxy-html"),
    ],
)
async def test_create_order_retries_never_make_a_second_order(client, gateway, spec):
    await fault(client, path_prefix="/v1/orders", method="POST", **spec)
    value = receipt()
    order = await create(gateway, value)
    same_receipt = await gateway.find_orders_by_receipt(value)
    assert [o.id for o in same_receipt] == [order.id]


async def test_slow_gateway_times_out_then_finds_the_applied_order(app, client, settings):
    fast = build_gateway(
        settings,
        sandbox_app=app.state.sandbox_app,
        timeout=httpx.Timeout(0.2, connect=0.1),
    )
    try:
        await fault(client, path_prefix="/v1/orders", method="POST", delay_ms=1500, after=True)
        value = receipt()
        order = await create(fast, value)
        assert [o.id for o in await fast.find_orders_by_receipt(value)] == [order.id]
    finally:
        await fast.aclose()


async def test_gateway_down_raises_unavailable_with_razorpay_fields(client, gateway):
    await fault(client, path_prefix="/v1/orders", status=503, count=50)
    with pytest.raises(GatewayUnavailable) as excinfo:
        await create(gateway, receipt())
    assert excinfo.value.status == 503
    assert excinfo.value.code == "SERVER_ERROR"


async def test_validation_errors_keep_every_razorpay_field(gateway):
    with pytest.raises(GatewayRejected) as excinfo:
        await create(gateway, receipt(), amount=50)
    error = excinfo.value
    assert (error.status, error.code, error.field) == (400, "BAD_REQUEST_ERROR", "amount")
    assert error.description == "The amount must be at least INR 1.00"
    assert error.reason == "input_validation_failed"
    assert error.source == "business" and error.step == "payment_initiation"


async def test_unknown_ids_and_bad_credentials_are_rejected(app, gateway, settings):
    with pytest.raises(GatewayRejected) as excinfo:
        await gateway.fetch_payment("pay_DoesNotExist00")
    assert excinfo.value.status == 400
    assert excinfo.value.description == "The id provided does not exist"

    wrong = RazorpayClient(
        key_id=gateway.key_id,
        key_secret="not-the-secret",
        base_url="http://razorpay-sandbox.internal",
        transport=httpx.ASGITransport(app=app.state.sandbox_app),
    )
    try:
        with pytest.raises(GatewayRejected) as excinfo:
            await create(wrong, receipt())
        assert excinfo.value.status == 401
    finally:
        await wrong.aclose()


async def test_reads_are_retried(client, gateway):
    order = await create(gateway, receipt())
    await fault(client, path_prefix=f"/v1/orders/{order.id}", method="GET", status=500, count=3)
    assert (await gateway.fetch_order(order.id)).id == order.id


async def test_order_payments_and_payment_fetch(client, gateway):
    order, payment = await paid_order(client, gateway)
    payments = await gateway.order_payments(order.id)
    assert [p.id for p in payments] == [payment["id"]]
    fetched = await gateway.fetch_payment(payment["id"])
    assert (fetched.status, fetched.captured, fetched.order_id) == ("captured", True, order.id)
    assert (await gateway.fetch_order(order.id)).status == "paid"


async def _authorized_payment(client: httpx.AsyncClient) -> dict:
    """An order with manual capture, paid: the payment stays `authorized`."""
    key_id, key_secret = client.app_config  # type: ignore[attr-defined]
    order = await client.post(
        f"{SANDBOX}/v1/orders",
        auth=(key_id, key_secret),
        json={"amount": 10000, "currency": "INR", "payment": {"capture": "manual"}},
    )
    assert order.status_code == 200, order.text
    paid = await client.post(
        f"{SANDBOX}/_sandbox/orders/{order.json()['id']}/pay",
        json={"outcome": "success", "method": "card", "webhooks": False},
    )
    assert paid.json()["payment"]["status"] == "authorized"
    return paid.json()["payment"]


@pytest.fixture
def sandbox_client(app: Any, client: httpx.AsyncClient) -> httpx.AsyncClient:
    config = app.state.sandbox_config
    client.app_config = (config.key_id, config.key_secret)  # type: ignore[attr-defined]
    return client


async def test_capture_with_lost_response_is_confirmed_by_fetching(sandbox_client, gateway):
    payment = await _authorized_payment(sandbox_client)
    await fault(sandbox_client, path_prefix="/v1/payments", method="POST", status=502, after=True)
    captured = await gateway.capture_payment(payment["id"], amount=10000, currency="INR")
    assert captured.status == "captured"
    # Capturing again is success too (e.g. auto-capture got there first).
    again = await gateway.capture_payment(payment["id"], amount=10000, currency="INR")
    assert again.id == captured.id


async def test_capture_with_the_wrong_amount_is_refused(sandbox_client, gateway):
    payment = await _authorized_payment(sandbox_client)
    with pytest.raises(GatewayRejected) as excinfo:
        await gateway.capture_payment(payment["id"], amount=9999, currency="INR")
    assert "Capture amount must be equal to the amount authorized" in excinfo.value.description


async def test_refund_retries_reuse_the_idempotency_key(client, gateway):
    _, payment = await paid_order(client, gateway)
    await fault(client, path_prefix="/v1/payments", method="POST", status=500, after=True)
    key = f"rfd_{secrets.token_hex(8)}"
    refund = await gateway.create_refund(payment["id"], amount=100000, idempotency_key=key)
    assert refund.amount == 100000 and refund.payment_id == payment["id"]
    # The same request again answers the same refund; the payment was refunded once.
    repeat = await gateway.create_refund(payment["id"], amount=100000, idempotency_key=key)
    assert repeat.id == refund.id
    assert [r.id for r in await gateway.payment_refunds(payment["id"])] == [refund.id]
    assert (await gateway.fetch_refund(refund.id)).id == refund.id
    assert (await gateway.fetch_payment(payment["id"])).amount_refunded == 100000


async def test_refund_key_reused_for_another_request_is_a_conflict(client, gateway):
    _, payment = await paid_order(client, gateway)
    key = f"rfd_{secrets.token_hex(8)}"
    await gateway.create_refund(payment["id"], amount=100000, idempotency_key=key)
    with pytest.raises(GatewayRejected) as excinfo:
        await gateway.create_refund(payment["id"], amount=5000, idempotency_key=key)
    assert excinfo.value.status == 409


async def test_refund_over_the_captured_amount_is_refused(client, gateway):
    _, payment = await paid_order(client, gateway)
    with pytest.raises(GatewayRejected) as excinfo:
        await gateway.create_refund(
            payment["id"],
            amount=payment["amount"] + 1,
            idempotency_key=f"rfd_{secrets.token_hex(8)}",
        )
    assert (
        excinfo.value.description == "The refund amount provided is greater than amount captured."
    )
