"""Where a webhook's CPU goes: the same ingest work done by ever more of enrollpay's layers,
in this one process, one delivery at a time, on PostgreSQL.

    .venv/bin/python bench/webhook_layers.py --database-url postgresql://postgres@127.0.0.1:5432/bench

Pinned to one CPU; the database is emptied and migrated first. No HTTP server or client is
involved, so what is measured is this process's CPU time per delivery (time.process_time),
with PostgreSQL's own work on the other side of the socket. Layers, each including the one
before it:

1. raw driver: bench/baseline_app.py's webhook() on psycopg's pool (HMAC, JSON, two INSERTs
   in one transaction);
2. SQLAlchemy Core: the same two statements, built once, through the async engine;
3. the ingest service: webhooks.service.receive_razorpay_webhook in an ORM session (event id
   rules, body summary, stored headers, the job through jobs.enqueue);
4. the whole app: the ASGI app called directly (FastAPI routing, our middleware, metrics).

1000 s / (layer 4's ms) is what one core can acknowledge at best; the HTTP server's parsing
and the load generator come on top in bench/api_bench.py.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import subprocess
import time
from collections.abc import Awaitable, Callable
from typing import Any

import baseline_app as baseline  # this script's folder is first on sys.path
import uvloop
from api_bench import ENROLLPAY, webhook_bodies
from psycopg_pool import AsyncConnectionPool
from sqlalchemy import create_engine

from enrollpay.app import create_app
from enrollpay.config import Settings, load_settings
from enrollpay.db.dialect import insert_ignore_duplicate_statement
from enrollpay.db.engine import Database
from enrollpay.jobs.repository import jobs
from enrollpay.kit.clock import utcnow
from enrollpay.kit.ids import new_id
from enrollpay.sandbox.config import derive_sandbox_config
from enrollpay.webhooks import service
from enrollpay.webhooks.repository import webhook_events

Ingest = Callable[[bytes, dict[str, str]], Awaitable[None]]
CPU = 0


async def cpu_ms_per_delivery(ingest: Ingest, secret: str, count: int) -> float:
    deliveries = webhook_bodies(secret, count + count // 10)
    for body, headers in deliveries[: count // 10]:  # warm-up: caches, prepared statements
        await ingest(body, headers)
    started = time.process_time()
    for body, headers in deliveries[count // 10 :]:
        await ingest(body, headers)
    return (time.process_time() - started) / count * 1000


def raw_driver(url: str, secret: str) -> tuple[Ingest, AsyncConnectionPool]:
    baseline.WEBHOOK_SECRET = secret.encode()
    baseline.pool = AsyncConnectionPool(url, min_size=1, max_size=1, open=False)

    async def ingest(body: bytes, headers: dict[str, str]) -> None:
        lowered = {name.lower().encode(): value.encode() for name, value in headers.items()}
        status, _ = await baseline.webhook(body, lowered)
        assert status == 200

    return ingest, baseline.pool


def sqlalchemy_core(db: Database) -> Ingest:
    statement = insert_ignore_duplicate_statement
    insert_event = statement("postgresql", webhook_events, webhook_events.c.id)
    insert_job = statement("postgresql", jobs, jobs.c.id)

    async def ingest(body: bytes, headers: dict[str, str]) -> None:
        now = utcnow()
        async with db.engine.begin() as connection:
            event = {
                "id": new_id("whk"),
                "event_id": headers["X-Razorpay-Event-Id"],
                "event_id_derived": False,
                "event": "payment.captured",
                "raw_body": body.decode(),
                "body_encoding": "utf-8",
                "body_sha256": hashlib.sha256(body).hexdigest(),
                "headers": {"x-razorpay-event-id": headers["X-Razorpay-Event-Id"]},
                "received_at": now,
                "deliveries": 1,
                "status": "pending",
                "attempts": 0,
                "replays": 0,
            }
            inbox_id = (await connection.execute(insert_event, event)).scalar_one_or_none()
            if inbox_id is not None:
                job = {
                    "id": new_id("job"),
                    "kind": service.PROCESS_EVENT_JOB,
                    "payload": {"inbox_id": inbox_id},
                    "status": "pending",
                    "attempts": 0,
                    "max_attempts": 12,
                    "run_at": now,
                    "dedupe_key": f"webhook:{inbox_id}",
                    "created_at": now,
                    "updated_at": now,
                }
                await connection.execute(insert_job, job)

    return ingest


def ingest_service(db: Database, secret: str) -> Ingest:
    async def ingest(body: bytes, headers: dict[str, str]) -> None:
        async with db.transaction() as session:
            await service.receive_razorpay_webhook(
                session,
                raw_body=body,
                headers={name.lower(): value for name, value in headers.items()},
                secrets=[secret],
                now=utcnow(),
            )

    return ingest


def whole_app(app: Any) -> Ingest:
    async def ingest(body: bytes, headers: dict[str, str]) -> None:
        path = "/api/v1/webhooks/razorpay"
        raw_headers = [(name.lower().encode(), value.encode()) for name, value in headers.items()]
        scope = {
            "type": "http",
            "asgi": {"version": "3.0"},
            "http_version": "1.1",
            "method": "POST",
            "scheme": "http",
            "path": path,
            "raw_path": path.encode(),
            "query_string": b"",
            "root_path": "",
            "headers": [*raw_headers, (b"content-length", str(len(body)).encode())],
            "client": ("127.0.0.1", 40000),
            "server": ("127.0.0.1", 8000),
        }
        messages = [{"type": "http.request", "body": body, "more_body": False}]
        statuses = []

        async def receive() -> dict[str, Any]:
            return messages.pop() if messages else {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                statuses.append(message["status"])

        await app(scope, receive, send)
        assert statuses == [200], statuses

    return ingest


async def measure(settings: Settings, url: str, count: int, rounds: int) -> dict[str, float]:
    secret = derive_sandbox_config(settings).webhook_secret
    raw, pool = raw_driver(url, secret)
    await pool.open(wait=True)
    db = Database(settings)
    app = create_app(settings)
    layers: dict[str, Ingest] = {
        "1. raw driver (psycopg)": raw,
        "2. SQLAlchemy Core": sqlalchemy_core(db),
        "3. ingest service in an ORM session": ingest_service(db, secret),
        "4. whole ASGI app": whole_app(app),
    }
    samples: dict[str, list[float]] = {name: [] for name in layers}
    async with app.router.lifespan_context(app):
        for _ in range(rounds):  # interleaved, so a noisy moment hurts every layer alike
            for name, ingest in layers.items():
                samples[name].append(await cpu_ms_per_delivery(ingest, secret, count))
    await pool.close()
    await db.dispose()
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--database-url", required=True, help="postgresql://… (emptied first)")
    parser.add_argument("--count", type=int, default=1000, help="deliveries per layer and round")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    os.sched_setaffinity(0, {CPU})

    engine = create_engine("postgresql+psycopg://" + args.database_url.split("://", 1)[1])
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()
    env = {**os.environ, "DATABASE_URL": args.database_url, "SECRET_KEY": "bench-" + "x" * 40}
    subprocess.run([str(ENROLLPAY), "migrate"], env=env, check=True, capture_output=True)
    settings = load_settings(
        _env_file=None,
        DATABASE_URL=args.database_url,
        SECRET_KEY=env["SECRET_KEY"],
        EMBEDDED_WORKER=False,
        LOG_LEVEL="WARNING",
        DATABASE_POOL_SIZE=1,
        DATABASE_MAX_OVERFLOW=0,
    )
    results = uvloop.run(measure(settings, args.database_url, args.count, args.rounds))
    print(f"CPU per webhook delivery, median of {args.rounds} rounds of {args.count}:")
    previous = None
    for name, ms in results.items():
        added = f"  (+{ms - previous:.2f})" if previous is not None else ""
        print(f"  {name:40} {ms:6.2f} ms{added}")
        previous = ms
    print(f"  one core's ceiling through the whole app: {1000 / previous:.0f} deliveries/s")


if __name__ == "__main__":
    main()
