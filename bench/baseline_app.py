"""The benchmark's baseline: a bare ASGI app on psycopg's async pool doing the same database work
as enrollpay's endpoints, without a framework, validation, auth, ORM or business rules. Our
throughput as a ratio of this one says what enrollpay's layers cost.

Served by uvicorn like `enrollpay serve` (bench/api_bench.py starts it):

    BASELINE_DATABASE_URL=postgresql://… BASELINE_POOL_SIZE=10 \\
        uvicorn bench.baseline_app:app --port 9100

Routes (the learner or course id comes in the path; the load generator knows them):
- GET  /courses/{id}           one published course (as GET /api/v1/courses/{id} reads it)
- GET  /enrollments/{user_id}  a learner's newest 50 enrollments (GET /api/v1/enrollments)
- POST /initialize/{user_id}/{course_id}  insert the enrollment and its payment in one
  transaction (initialize's database writes; no gateway call)
- POST /webhook                verify the HMAC signature, insert the inbox row unless its event id
  is known and enqueue the processing job in the same transaction (the webhook ingest)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from psycopg.types.json import Jsonb
from psycopg_pool import AsyncConnectionPool

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]

WEBHOOK_SECRET = os.environ.get("BASELINE_WEBHOOK_SECRET", "").encode()
pool = AsyncConnectionPool(
    os.environ.get("BASELINE_DATABASE_URL", "postgresql:///bench"),
    min_size=int(os.environ.get("BASELINE_POOL_SIZE", "10")),
    max_size=int(os.environ.get("BASELINE_POOL_SIZE", "10")),
    open=False,
)


def _id(prefix: str) -> str:
    return f"{prefix}_{secrets.token_hex(13)}"


async def _body(receive: Receive) -> bytes:
    chunks = []
    while True:
        message = await receive()
        chunks.append(message.get("body", b""))
        if not message.get("more_body"):
            return b"".join(chunks)


async def _answer(send: Send, status: int, payload: Any) -> None:
    body = json.dumps(payload, default=str).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def course(course_id: str) -> tuple[int, Any]:
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT id, title, description, price, currency, discount_price, capacity, status"
            " FROM courses WHERE id = %s AND status = 'published'",
            (course_id,),
        )
        row = await cursor.fetchone()
    if row is None:
        return 404, {"error": "not_found"}
    names = ("id", "title", "description", "price", "currency", "discount_price", "capacity")
    return 200, dict(zip(names, row, strict=False))


async def enrollments(user_id: str) -> tuple[int, Any]:
    async with pool.connection() as conn:
        cursor = await conn.execute(
            "SELECT e.id, e.status, e.course_id, c.title, e.total_payable, e.created_at"
            " FROM enrollments e JOIN courses c ON c.id = e.course_id"
            " WHERE e.user_id = %s ORDER BY e.id DESC LIMIT 50",
            (user_id,),
        )
        rows = await cursor.fetchall()
    names = ("id", "status", "course_id", "title", "total_payable", "created_at")
    return 200, {"items": [dict(zip(names, row, strict=True)) for row in rows]}


async def initialize(user_id: str, course_id: str) -> tuple[int, Any]:
    now = datetime.now(UTC)
    enrollment_id, payment_id = _id("enr"), _id("pmt")
    async with pool.connection() as conn, conn.transaction():
        cursor = await conn.execute(
            "SELECT price FROM courses WHERE id = %s FOR UPDATE", (course_id,)
        )
        row = await cursor.fetchone()
        if row is None:
            return 404, {"error": "not_found"}
        price = int(row[0])
        await conn.execute(
            "INSERT INTO enrollments (id, user_id, course_id, status, original_amount,"
            " course_discount, coupon_discount, final_amount, tax_amount, total_payable,"
            " currency, progress, current_payment_id, expires_at, created_at, updated_at)"
            " VALUES (%s, %s, %s, 'pending', %s, 0, 0, %s, 0, %s, 'INR', 0, %s,"
            " %s + interval '30 minutes', %s, %s)",
            (enrollment_id, user_id, course_id, price, price, price, payment_id, now, now, now),
        )
        await conn.execute(
            "INSERT INTO payments (id, enrollment_id, user_id, amount, currency, status, receipt,"
            " amount_captured, amount_refunded, notes, reconcile_checks, created_at, updated_at)"
            " VALUES (%s, %s, %s, %s, 'INR', 'created', %s, 0, 0, %s, 0, %s, %s)",
            (payment_id, enrollment_id, user_id, price, payment_id, Jsonb({}), now, now),
        )
    return 201, {"enrollment_id": enrollment_id, "payment_id": payment_id}


async def webhook(body: bytes, headers: dict[bytes, bytes]) -> tuple[int, Any]:
    signature = headers.get(b"x-razorpay-signature", b"").decode()
    expected = hmac.new(WEBHOOK_SECRET, body, hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature, expected):
        return 400, {"error": "invalid_signature"}
    event_id = headers.get(b"x-razorpay-event-id", b"").decode()
    envelope = json.loads(body)
    now = datetime.now(UTC)
    inbox_id = _id("whk")
    async with pool.connection() as conn, conn.transaction():
        cursor = await conn.execute(
            "INSERT INTO webhook_events (id, event_id, event_id_derived, event, raw_body,"
            " body_encoding, body_sha256, headers, received_at, deliveries, status, attempts,"
            " replays) VALUES (%s, %s, false, %s, %s, 'utf-8', %s, %s, %s, 1, 'pending', 0, 0)"
            " ON CONFLICT (event_id) DO NOTHING RETURNING id",
            (
                inbox_id,
                event_id,
                envelope.get("event"),
                body.decode(),
                hashlib.sha256(body).hexdigest(),
                Jsonb({"x-razorpay-event-id": event_id}),
                now,
            ),
        )
        if await cursor.fetchone() is None:
            return 200, {"status": "duplicate"}
        await conn.execute(
            "INSERT INTO jobs (id, kind, payload, status, attempts, max_attempts, run_at,"
            " dedupe_key, created_at, updated_at)"
            " VALUES (%s, 'webhooks.process_razorpay_event', %s, 'pending', 0, 12, %s, %s, %s, %s)",
            (_id("job"), Jsonb({"inbox_id": inbox_id}), now, f"whk:{inbox_id}", now, now),
        )
    return 200, {"status": "accepted"}


async def app(scope: Scope, receive: Receive, send: Send) -> None:
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await pool.open(wait=True)
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await pool.close()
                await send({"type": "lifespan.shutdown.complete"})
                return
    parts = scope["path"].strip("/").split("/")
    method = scope["method"]
    if method == "GET" and len(parts) == 2 and parts[0] == "courses":
        status, payload = await course(parts[1])
    elif method == "GET" and len(parts) == 2 and parts[0] == "enrollments":
        status, payload = await enrollments(parts[1])
    elif method == "POST" and len(parts) == 3 and parts[0] == "initialize":
        await _body(receive)
        status, payload = await initialize(parts[1], parts[2])
    elif method == "POST" and parts == ["webhook"]:
        status, payload = await webhook(await _body(receive), dict(scope["headers"]))
    else:
        status, payload = 404, {"error": "not_found"}
    await _answer(send, status, payload)
