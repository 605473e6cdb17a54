"""Driving the checkout API in tests: initialize, pay in the sandbox, verify, read status."""

from __future__ import annotations

from typing import Any

import httpx

from enrollpay.config import Settings
from enrollpay.db.engine import Database
from enrollpay.jobs.worker import Worker

API = "/api/v1"
SANDBOX = "/sandbox/razorpay/_sandbox"


async def initialize(
    client: httpx.AsyncClient, headers: dict[str, str], course_id: str, **body: Any
) -> httpx.Response:
    extra_headers = body.pop("extra_headers", {})
    return await client.post(
        f"{API}/enrollments/initialize",
        json={"course_id": course_id, **body},
        headers={**headers, **extra_headers},
    )


async def pay(client: httpx.AsyncClient, order_id: str, **body: Any) -> dict[str, Any]:
    """What Checkout's handler would get, paying through the sandbox's control API."""
    response = await client.post(
        f"{SANDBOX}/orders/{order_id}/pay",
        json={"outcome": "success", "method": "upi", "webhooks": False, **body},
    )
    assert response.status_code == 200, response.text
    paid: dict[str, Any] = response.json()
    return paid


async def verify(
    client: httpx.AsyncClient, headers: dict[str, str], enrollment_id: str, paid: dict[str, Any]
) -> httpx.Response:
    return await client.post(
        f"{API}/enrollments/{enrollment_id}/verify-payment",
        json={
            "razorpay_payment_id": paid["razorpay_payment_id"],
            "razorpay_order_id": paid["razorpay_order_id"],
            "razorpay_signature": paid["razorpay_signature"],
        },
        headers=headers,
    )


async def payment_status(
    client: httpx.AsyncClient, headers: dict[str, str], enrollment_id: str
) -> dict[str, Any]:
    response = await client.get(
        f"{API}/enrollments/{enrollment_id}/payment-status", headers=headers
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def run_jobs(db: Database, settings: Settings, rounds: int = 20) -> None:
    worker = Worker(db, settings)
    for _ in range(rounds):
        if not await worker.run_once():
            return
