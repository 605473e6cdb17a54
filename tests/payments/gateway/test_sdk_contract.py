"""Contract test: Razorpay's own Python SDK, pointed at a standalone `enrollpay sandbox`, creates
and fetches orders, fetches payments, refunds, and accepts every signature the sandbox makes.

If the sandbox drifts from Razorpay's API shapes, the official client is what notices."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
import razorpay

from tests.conftest import TEST_SECRET_KEY, free_port

KEY_ID = "rzp_test_Contract123456"
KEY_SECRET = "contract-key-secret"
WEBHOOK_SECRET = "contract-webhook-secret"


@dataclass
class Receiver:
    """A plain HTTP server standing in for a merchant's webhook endpoint."""

    url: str
    deliveries: list[tuple[dict[str, str], bytes]] = field(default_factory=list)

    def events(self) -> set[str]:
        return {json.loads(body)["event"] for _, body in self.deliveries}

    def wait_for(self, events: set[str], timeout: float = 20) -> list[tuple[dict[str, str], bytes]]:
        """Deliveries are concurrent and unordered (like Razorpay's): wait for the whole set."""
        deadline = time.monotonic() + timeout
        while not events <= self.events():
            assert time.monotonic() < deadline, f"only {self.events()} arrived"
            time.sleep(0.05)
        return list(self.deliveries)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    received: list[tuple[dict[str, str], bytes]] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            received.append(({k.lower(): v for k, v in self.headers.items()}, body))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            return None

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield Receiver(f"http://127.0.0.1:{server.server_address[1]}/webhooks", received)
    server.shutdown()


@pytest.fixture(scope="module")
def sandbox_url(receiver: Receiver, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    workdir = tmp_path_factory.mktemp("standalone-sandbox")
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{workdir}/sandbox.db",
        "SECRET_KEY": TEST_SECRET_KEY,
        "LOG_LEVEL": "WARNING",
    }
    enrollpay = Path(sys.executable).with_name("enrollpay")
    process = subprocess.Popen(
        [
            str(enrollpay),
            "sandbox",
            "--port",
            str(port),
            "--key-id",
            KEY_ID,
            "--key-secret",
            KEY_SECRET,
            "--webhook-url",
            receiver.url,
            "--webhook-secret",
            WEBHOOK_SECRET,
        ],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{url}/_sandbox/deliveries", timeout=1)
            break
        except httpx.TransportError:
            if process.poll() is not None:
                pytest.fail(f"sandbox exited: {process.stdout.read() if process.stdout else ''}")
            assert time.monotonic() < deadline, "sandbox did not start"
            time.sleep(0.2)
    yield url
    process.terminate()
    process.communicate(timeout=15)


@pytest.fixture
def sdk(sandbox_url: str) -> razorpay.Client:
    return razorpay.Client(auth=(KEY_ID, KEY_SECRET), base_url=sandbox_url)


def _pay(sandbox_url: str, order_id: str, **body: object) -> dict:
    response = httpx.post(f"{sandbox_url}/_sandbox/orders/{order_id}/pay", json=body, timeout=10)
    assert response.status_code == 200, response.text
    return response.json()


def test_orders_payments_refunds_through_the_official_sdk(sdk, sandbox_url, receiver):
    order = sdk.order.create(
        {"amount": 353882, "currency": "INR", "receipt": "contract-1", "notes": {"k": "v"}}
    )
    assert order["id"].startswith("order_") and len(order["id"]) == len("order_") + 14
    assert (order["entity"], order["status"], order["amount_due"]) == ("order", "created", 353882)
    assert sdk.order.fetch(order["id"])["receipt"] == "contract-1"

    paid = _pay(sandbox_url, order["id"], outcome="success", method="card", webhooks=True)
    assert sdk.utility.verify_payment_signature(
        {
            "razorpay_order_id": order["id"],
            "razorpay_payment_id": paid["razorpay_payment_id"],
            "razorpay_signature": paid["razorpay_signature"],
        }
    )
    payment = sdk.payment.fetch(paid["razorpay_payment_id"])
    assert (payment["status"], payment["captured"], payment["order_id"]) == (
        "captured",
        True,
        order["id"],
    )
    assert sdk.order.fetch(order["id"])["status"] == "paid"
    assert [p["id"] for p in sdk.order.payments(order["id"])["items"]] == [payment["id"]]

    refund = sdk.payment.refund(payment["id"], {"amount": 100000})
    assert refund["id"].startswith("rfnd_") and refund["amount"] == 100000
    assert sdk.refund.fetch(refund["id"])["payment_id"] == payment["id"]
    after = sdk.payment.fetch(payment["id"])
    assert (after["amount_refunded"], after["refund_status"]) == (100000, "partial")

    # Every webhook the sandbox sent verifies with the SDK's own check over the raw body.
    expected = {"payment.authorized", "payment.captured", "order.paid", "refund.created"}
    deliveries = receiver.wait_for(expected)
    for headers, body in deliveries:
        assert headers["content-type"].startswith("application/json")
        assert headers["x-razorpay-event-id"]
        assert sdk.utility.verify_webhook_signature(
            body.decode(), headers["x-razorpay-signature"], WEBHOOK_SECRET
        )


def test_sdk_errors_match_razorpay(sdk):
    with pytest.raises(
        razorpay.errors.BadRequestError, match=r"The amount must be at least INR 1\.00"
    ):
        sdk.order.create({"amount": 50, "currency": "INR"})
    with pytest.raises(razorpay.errors.BadRequestError, match="The id provided does not exist"):
        sdk.order.fetch("order_DoesNotExist00")
    wrong = razorpay.Client(auth=(KEY_ID, "not-the-secret"), base_url=sdk.base_url)
    with pytest.raises(razorpay.errors.BadRequestError):
        wrong.order.create({"amount": 5000, "currency": "INR"})
