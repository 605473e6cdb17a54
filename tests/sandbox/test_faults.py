"""Injected faults: the next matching REST calls fail, are slowed, or lose their answer."""

from __future__ import annotations

import time

import httpx
import pytest

from enrollpay.payments.gateway.errors import GatewayUnavailable
from enrollpay.payments.gateway.factory import IN_PROCESS_SANDBOX_BASE
from enrollpay.payments.gateway.razorpay import RazorpayClient
from enrollpay.sandbox.faults import SimulatedConnectionReset
from tests.sandbox.conftest import Sandbox, assert_razorpay_error

ORDER = {"amount": 5000, "currency": "INR"}


async def _fault(sandbox: Sandbox, **body) -> dict:
    response = await sandbox.control("POST", "/faults", json=body)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def _orders(sandbox: Sandbox) -> int:
    return int((await sandbox.rest("GET", "/v1/orders")).json()["count"])


async def test_the_next_call_fails_then_all_is_normal(sandbox: Sandbox):
    fault = await _fault(sandbox, path_prefix="/v1/orders", status=503, count=1, delay_ms=0)
    assert (fault["remaining"], fault["count"], fault["after"]) == (1, 1, False)
    failed = await sandbox.rest("POST", "/v1/orders", json=ORDER)
    assert_razorpay_error(
        failed,
        503,
        "The server encountered an error. The incident has been reported to admins.",
        code="SERVER_ERROR",
    )
    assert await _orders(sandbox) == 0  # not applied
    ok = await sandbox.rest("POST", "/v1/orders", json=ORDER)
    assert ok.status_code == 200
    listed = (await sandbox.control("GET", "/faults")).json()["items"]
    assert [f["remaining"] for f in listed] == [0]


async def test_count_method_and_prefix_decide_what_matches(sandbox: Sandbox):
    await _fault(sandbox, path_prefix="/v1/orders", method="post", status=500, count=2)
    assert (await sandbox.rest("GET", "/v1/orders")).status_code == 200  # GET: not matched
    assert (await sandbox.rest("GET", "/v1/payments")).status_code == 200  # other path
    assert (await sandbox.rest("POST", "/v1/orders", json=ORDER)).status_code == 500
    assert (await sandbox.rest("POST", "/v1/orders", json=ORDER)).status_code == 500
    assert (await sandbox.rest("POST", "/v1/orders", json=ORDER)).status_code == 200


async def test_faults_apply_only_to_the_rest_api(sandbox: Sandbox):
    await _fault(sandbox, path_prefix="/v1", status=500)
    assert (await sandbox.control("GET", "/deliveries")).status_code == 200
    assert (await sandbox.rest("GET", "/v1/refunds")).status_code == 500


async def test_429_carries_retry_after(sandbox: Sandbox):
    await _fault(sandbox, path_prefix="/v1/orders", status=429, retry_after=3)
    response = await sandbox.rest("GET", "/v1/orders")
    assert_razorpay_error(response, 429, "Too many requests")
    assert response.headers["retry-after"] == "3"


PROXY_SHAPED_FAILURES_CASES = [("html", "text/html", "502 Bad Gateway"), ("empty", None, "")]


async def test_proxy_shaped_failures(sandbox: Sandbox):
    for body, content_type, text in PROXY_SHAPED_FAILURES_CASES:
        await _fault(sandbox, path_prefix="/v1/orders", status=502, body=body)
        response = await sandbox.rest("GET", "/v1/orders")
        assert response.status_code == 502
        assert text in response.text
        if content_type:
            assert response.headers["content-type"].startswith(content_type)


async def test_a_delay_then_a_normal_answer(sandbox: Sandbox):
    await _fault(sandbox, path_prefix="/v1/orders", delay_ms=60)
    started = time.perf_counter()
    response = await sandbox.rest("POST", "/v1/orders", json=ORDER)
    assert time.perf_counter() - started >= 0.06
    assert response.status_code == 200
    assert await _orders(sandbox) == 1


async def test_a_lost_response_is_applied_then_fails(sandbox: Sandbox):
    await _fault(sandbox, path_prefix="/v1/orders", method="POST", status=504, after=True)
    response = await sandbox.rest("POST", "/v1/orders", json={**ORDER, "receipt": "lost-1"})
    assert response.status_code == 504
    assert await _orders(sandbox) == 1  # the order exists although the answer was lost


async def test_a_connection_reset_after_applying(sandbox: Sandbox):
    await _fault(sandbox, path_prefix="/v1/orders", method="POST", reset=True, after=True)
    response = await sandbox.rest("POST", "/v1/orders", json=ORDER)
    # Through an ASGI transport that does not re-raise, the answer is cut short.
    assert response.status_code == 200
    with pytest.raises(ValueError):
        response.json()
    assert await _orders(sandbox) == 1


async def test_a_reset_reaches_an_httpx_client_as_a_transport_error(app, sandbox: Sandbox):
    await _fault(sandbox, path_prefix="/v1/orders", reset=True)
    transport = httpx.ASGITransport(app=app.state.sandbox_app)  # re-raises app exceptions
    async with httpx.AsyncClient(transport=transport, base_url="http://sandbox") as client:
        with pytest.raises(httpx.TransportError) as raised:
            await client.get("/v1/orders", headers=sandbox.auth)
    assert isinstance(raised.value, SimulatedConnectionReset)
    assert await _orders(sandbox) == 0  # not applied


async def test_our_client_recovers_from_a_lost_create_order_response(app, sandbox: Sandbox):
    client = RazorpayClient(
        key_id=sandbox.config.key_id,
        key_secret=sandbox.config.key_secret,
        base_url=IN_PROCESS_SANDBOX_BASE,
        transport=httpx.ASGITransport(app=app.state.sandbox_app, raise_app_exceptions=False),
    )
    try:
        await _fault(sandbox, path_prefix="/v1/orders", method="POST", status=504, after=True)
        order = await client.create_order(amount=5000, currency="INR", receipt="r-1", notes={})
    finally:
        await client.aclose()
    assert await _orders(sandbox) == 1  # found by its receipt, not created twice
    assert order.receipt == "r-1"


async def test_our_client_gives_up_on_a_lasting_outage(sandbox: Sandbox, app):
    client = RazorpayClient(
        key_id=sandbox.config.key_id,
        key_secret=sandbox.config.key_secret,
        base_url=IN_PROCESS_SANDBOX_BASE,
        transport=httpx.ASGITransport(app=app.state.sandbox_app, raise_app_exceptions=False),
        attempts=2,
    )
    try:
        await _fault(sandbox, path_prefix="/v1/payments", status=503, count=5)
        with pytest.raises(GatewayUnavailable):
            await client.fetch_payment("pay_AAAAAAAAAAAAAA")
    finally:
        await client.aclose()
    remaining = (await sandbox.control("GET", "/faults")).json()["items"][0]["remaining"]
    assert remaining == 3


async def test_concurrent_calls_never_share_the_last_fault(sandbox: Sandbox):
    import asyncio

    await _fault(sandbox, path_prefix="/v1/orders", status=500, count=2)
    responses = await asyncio.gather(*(sandbox.rest("GET", "/v1/orders") for _ in range(6)))
    assert sorted(r.status_code for r in responses) == [200, 200, 200, 200, 500, 500]


FAULT_VALIDATION_CASES = [
    ({"status": 500}, "The path prefix field is required.", "path_prefix"),
    (
        {"path_prefix": "/_sandbox", "status": 500},
        "The path_prefix must start with /v1 (faults apply to REST calls).",
        "path_prefix",
    ),
    ({"path_prefix": "/v1", "status": 302}, "The status must be between 400 and 599.", "status"),
    ({"path_prefix": "/v1"}, "Give a status, reset or delay_ms.", "status"),
    (
        {"path_prefix": "/v1", "status": 500, "reset": True},
        "Give status or reset, not both.",
        "reset",
    ),
    ({"path_prefix": "/v1", "status": 500, "count": 0}, "The count must be at least 1.", "count"),
    (
        {"path_prefix": "/v1", "delay_ms": 500000},
        "The delay_ms must be between 0 and 120000.",
        "delay_ms",
    ),
    (
        {"path_prefix": "/v1", "status": 500, "method": "FETCH"},
        "The selected method is invalid.",
        "method",
    ),
    ({"path_prefix": "/v1", "status": 500, "body": "xml"}, "The selected body is invalid.", "body"),
    (
        {"path_prefix": "/v1", "status": 500, "times": 2},
        "times is/are not required and should not be sent.",
        "times",
    ),
]


async def test_fault_validation(sandbox: Sandbox):
    for body, description, field in FAULT_VALIDATION_CASES:
        response = await sandbox.control("POST", "/faults", json=body)
        assert_razorpay_error(response, 400, description, field=field)


async def test_clearing_faults(sandbox: Sandbox):
    await _fault(sandbox, path_prefix="/v1", status=500, count=10)
    cleared = await sandbox.control("DELETE", "/faults")
    assert cleared.status_code == 200
    assert (await sandbox.rest("GET", "/v1/orders")).status_code == 200
