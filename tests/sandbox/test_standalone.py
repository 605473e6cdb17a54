"""`enrollpay sandbox`: the sandbox alone on a port, as an integrator runs it."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from enrollpay.cli import main
from enrollpay.payments.gateway.signatures import verify_payment_signature, verify_webhook_signature
from tests.conftest import TEST_SECRET_KEY, free_port

KEY_ID = "rzp_test_Standalone0001"
KEY_SECRET = "standalone-key-secret"
WEBHOOK_SECRET = "standalone-webhook-secret"


class _Hooks(BaseHTTPRequestHandler):
    received: list[tuple[dict[str, str], bytes]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append(({k.lower(): v for k, v in self.headers.items()}, body))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def webhook_receiver() -> Iterator[tuple[str, list[tuple[dict[str, str], bytes]]]]:
    received: list[tuple[dict[str, str], bytes]] = []
    handler = type("Hooks", (_Hooks,), {"received": received})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hooks", received
    server.shutdown()
    server.server_close()


def _auth() -> dict[str, str]:
    token = base64.b64encode(f"{KEY_ID}:{KEY_SECRET}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_standalone_sandbox_answers_and_delivers_webhooks(tmp_path: Path, webhook_receiver):
    hook_url, received = webhook_receiver
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/sandbox.db",
        "SECRET_KEY": TEST_SECRET_KEY,
        "LOG_LEVEL": "WARNING",
        "WORKER_POLL_INTERVAL_SECONDS": "0.05",
    }
    env.pop("RAZORPAY_KEY_ID", None)
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
            hook_url,
            "--webhook-secret",
            WEBHOOK_SECRET,
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                listed = httpx.get(f"{base}/v1/orders", headers=_auth(), timeout=1)
                break
            except httpx.TransportError:
                assert process.poll() is None, process.stdout.read() if process.stdout else ""
                assert time.monotonic() < deadline, "sandbox did not start"
                time.sleep(0.1)
        assert listed.status_code == 200, listed.text
        assert listed.json() == {"entity": "collection", "count": 0, "items": []}

        denied = httpx.get(f"{base}/v1/orders", timeout=5)
        assert denied.status_code == 401
        assert denied.json()["error"]["description"] == "Authentication failed"
        unknown = httpx.get(f"{base}/nowhere", timeout=5)
        assert unknown.json()["error"]["description"] == (
            "The requested URL was not found on the server."
        )

        order = httpx.post(
            f"{base}/v1/orders",
            json={"amount": 100, "currency": "INR", "receipt": "standalone-1"},
            headers=_auth(),
            timeout=5,
        ).json()
        paid = httpx.post(
            f"{base}/_sandbox/orders/{order['id']}/pay",
            json={"outcome": "success", "method": "upi"},
            timeout=5,
        ).json()
        assert verify_payment_signature(
            order["id"], paid["razorpay_payment_id"], paid["razorpay_signature"], KEY_SECRET
        )
        assert httpx.get(f"{base}/checkout.js", timeout=5).status_code == 200

        deadline = time.monotonic() + 20
        while len(received) < 3:
            assert time.monotonic() < deadline, "webhooks were not delivered"
            time.sleep(0.05)
        events = sorted(json.loads(body)["event"] for _, body in received)
        assert events == ["order.paid", "payment.authorized", "payment.captured"]
        for headers, body in received:
            assert verify_webhook_signature(body, headers["x-razorpay-signature"], [WEBHOOK_SECRET])
        deliveries = httpx.get(f"{base}/_sandbox/deliveries", timeout=5).json()["items"]
        deadline = time.monotonic() + 10
        while {d["status"] for d in deliveries} != {"delivered"}:
            assert time.monotonic() < deadline, deliveries
            time.sleep(0.05)
            deliveries = httpx.get(f"{base}/_sandbox/deliveries", timeout=5).json()["items"]
        assert {d["last_status_code"] for d in deliveries} == {200}
    finally:
        process.terminate()
        output, _ = process.communicate(timeout=15)
    assert process.returncode in (0, -15), output
    assert f"Razorpay sandbox listening on {base}" in output
    assert f"key id: {KEY_ID}" in output
    assert KEY_SECRET not in output and WEBHOOK_SECRET not in output
    assert f"checkout.js: {base}/checkout.js" in output


def test_a_bad_key_id_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/x.db")
    monkeypatch.setenv("SECRET_KEY", TEST_SECRET_KEY)
    result = CliRunner().invoke(main, ["sandbox", "--key-id", "rzp_live_ABCDEFGHIJKLMN"])
    assert result.exit_code == 2
    assert "rzp_test_" in result.output
