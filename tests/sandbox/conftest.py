"""Fixtures for the Razorpay sandbox: the mounted sandbox (through the app's `client`), a webhook
receiver registered in process, and a job worker that retries at once (jitter 0)."""

from __future__ import annotations

import base64
import dataclasses
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from enrollpay.config import Settings
from enrollpay.jobs.worker import JobOutcome, Worker
from enrollpay.payments.gateway.razorpay import RazorpayClient
from enrollpay.sandbox.config import SandboxConfig
from enrollpay.sandbox.webhooks import in_process_target

BASE = "/sandbox/razorpay"


def basic_auth(key_id: str, key_secret: str) -> dict[str, str]:
    token = base64.b64encode(f"{key_id}:{key_secret}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


@dataclass
class Sandbox:
    """The mounted sandbox, seen through the app's test client."""

    client: httpx.AsyncClient
    app: Any

    @property
    def config(self) -> SandboxConfig:
        config: SandboxConfig = self.app.state.sandbox_app.state.config
        return config

    @property
    def auth(self) -> dict[str, str]:
        return basic_auth(self.config.key_id, self.config.key_secret)

    def configure(self, **changes: Any) -> SandboxConfig:
        """Swap the running sandbox's config (compress retries, point webhooks elsewhere)."""
        config = dataclasses.replace(self.config, **changes)
        self.app.state.sandbox_app.state.config = config
        self.app.state.sandbox_config = config
        return config

    async def rest(
        self, method: str, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any
    ) -> httpx.Response:
        return await self.client.request(
            method, BASE + path, headers={**self.auth, **(headers or {})}, **kwargs
        )

    async def control(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return await self.client.request(method, f"{BASE}/_sandbox{path}", **kwargs)

    async def order(self, **fields: Any) -> dict[str, Any]:
        body = {"amount": 50000, "currency": "INR", **fields}
        response = await self.rest("POST", "/v1/orders", json=body)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def pay(self, order_id: str, **body: Any) -> dict[str, Any]:
        body.setdefault("outcome", "success")
        body.setdefault("method", "card")
        response = await self.control("POST", f"/orders/{order_id}/pay", json=body)
        assert response.status_code == 200, response.text
        return dict(response.json())

    async def paid_payment(self, **order_fields: Any) -> dict[str, Any]:
        order = await self.order(**order_fields)
        return dict((await self.pay(order["id"]))["payment"])

    async def refund(self, payment_id: str, key: str | None = None, **body: Any) -> httpx.Response:
        headers = {"X-Refund-Idempotency": key} if key else {}
        return await self.rest(
            "POST", f"/v1/payments/{payment_id}/refund", json=body, headers=headers
        )

    async def deliveries(self, **filters: Any) -> list[dict[str, Any]]:
        response = await self.control("GET", "/deliveries", params=filters)
        assert response.status_code == 200, response.text
        return list(response.json()["items"])

    async def events(self) -> list[dict[str, Any]]:
        response = await self.control("GET", "/events")
        assert response.status_code == 200, response.text
        return list(response.json()["items"])


@pytest.fixture
async def sandbox(app: Any, client: httpx.AsyncClient) -> Sandbox:
    return Sandbox(client, app)


@pytest.fixture
def gateway(app: Any) -> RazorpayClient:
    """The app's own client, talking to the sandbox in process."""
    client: RazorpayClient = app.state.gateway
    return client


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Receiver:
    """A webhook endpoint: records every request; answers the queued statuses, then 200."""

    statuses: list[int] = field(default_factory=list)
    requests: list[Received] = field(default_factory=list)

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        assert scope["type"] == "http"
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        self.requests.append(Received(scope["path"], headers, body))
        status = self.statuses.pop(0) if self.statuses else 200
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    def events(self) -> list[str]:
        import json

        return [json.loads(r.body)["event"] for r in self.requests]


RECEIVER_URL = "http://receiver.test/hooks/razorpay"


@pytest.fixture
def receiver(sandbox: Sandbox) -> Iterator[Receiver]:
    """Webhooks go to a receiver in this process; retries and windows are compressed."""
    rec = Receiver()
    sandbox.configure(
        webhook_url=RECEIVER_URL, webhook_max_attempts=4, webhook_shuffle_window_seconds=0.05
    )
    with in_process_target(RECEIVER_URL, rec):
        yield rec


@pytest.fixture
async def worker(app: Any, settings: Settings) -> AsyncIterator[Worker]:
    job_worker = Worker(app.state.db, settings, poll_interval=0.01, concurrency=1)
    job_worker.jitter = lambda: 0.0  # failed jobs are due again at once
    yield job_worker
    await job_worker.stop()


async def drain(worker: Worker, rounds: int = 200) -> list[JobOutcome]:
    """Run due jobs one at a time (in run_at order) until none is due."""
    outcomes: list[JobOutcome] = []
    for _ in range(rounds):
        ran = await worker.run_once(limit=1, schedules=False)
        if not ran:
            return outcomes
        outcomes += ran
    raise AssertionError("jobs kept coming")


def assert_razorpay_error(
    response: httpx.Response,
    status: int,
    description: str,
    *,
    field: str | None = None,
    code: str = "BAD_REQUEST_ERROR",
) -> dict[str, Any]:
    """Razorpay's error shape with the exact keys, status, code and description."""
    assert response.status_code == status, response.text
    body = response.json()
    assert list(body) == ["error"], body
    error = body["error"]
    assert set(error) == {
        "code",
        "description",
        "field",
        "source",
        "step",
        "reason",
        "metadata",
    }, error
    assert error["code"] == code, error
    assert error["description"] == description, error
    assert error["field"] == field, error
    assert isinstance(error["metadata"], dict)
    return dict(error)
