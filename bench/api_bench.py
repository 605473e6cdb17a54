"""API benchmarks on PostgreSQL, each against a raw baseline doing the same database work.

    .venv/bin/python bench/api_bench.py --database-url postgresql://postgres@127.0.0.1:5432/bench

One `enrollpay serve` process (built-in sandbox, no embedded worker, pool `--pool-size`, no
overflow) pinned to CPU 0 with `taskset`; this script, the load generator, pinned to CPU 1; the
baseline (bench/baseline_app.py: psycopg's pool, no framework) served the same way on CPU 0.
PostgreSQL shares the machine. The database is emptied first. Scenarios:

- course detail (GET /api/v1/courses/{id}) and my enrollments (GET /api/v1/enrollments, a learner
  with 20): closed loop, `--concurrency` requests in flight: requests/s, p50, p99;
- initialize (POST /api/v1/enrollments/initialize, a new learner each time) with the sandbox
  answering at once: p50/p99 at low concurrency (the time one request takes), and requests/s;
- initialize with the sandbox's order creation delayed 300 ms (its fault API) and 4x the pool
  size in flight: requests/s, which must exceed pool size / 0.3 s — the gateway call holds no
  database connection;
- webhook ingest (POST /api/v1/webhooks/razorpay, signed): open loop at `--webhook-rate` events/s
  with 30 % duplicates in shuffled order; latency counted from each event's scheduled time (no
  coordinated omission): achieved events/s, p50, p99 time to 2xx.

Prints a table and writes bench/results.json. `--seconds` sets each scenario's length.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import itertools
import json
import os
import platform
import random
import secrets
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine

import enrollpay.db.models  # noqa: F401  (every table, for the ORM writes below)
from enrollpay.auth.tokens import issue_access_token
from enrollpay.config import Settings, load_settings
from enrollpay.courses.models import Course
from enrollpay.db.engine import Database
from enrollpay.enrollments.models import Enrollment
from enrollpay.kit.ids import new_id
from enrollpay.sandbox.config import derive_sandbox_config
from enrollpay.users.models import User

HERE = Path(__file__).parent
RESULTS = HERE / "results.json"
ENROLLPAY = Path(sys.executable).with_name("enrollpay")
API = "/api/v1"
SERVER_CPU, LOADGEN_CPU = 0, 1
ENROLLMENTS_PER_LEARNER = 20
GATEWAY_DELAY_MS = 300
DUPLICATE_SHARE = 0.3


@dataclass
class Result:
    scenario: str
    target: str  # enrollpay | baseline
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _percentile(values: list[float], share: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


@contextmanager
def served(command: list[str], env: dict[str, str], port: int, ready: str) -> Iterator[str]:
    """A server pinned to SERVER_CPU, until the block ends."""
    process = subprocess.Popen(
        ["taskset", "-c", str(SERVER_CPU), *command],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            with suppress(httpx.TransportError):
                if httpx.get(url + ready, timeout=2).status_code < 500:
                    break
            if process.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"{command} did not start")
            time.sleep(0.2)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=30)


# ---- load ----------------------------------------------------------------------------------


Request = Callable[["RawConnections", int], Awaitable[int]]  # answers the status code


async def closed_loop(
    url: str, request: Request, *, concurrency: int, seconds: float, ok: tuple[int, ...]
) -> tuple[int, int, float, list[float]]:
    """`concurrency` workers sending back to back for `seconds` (after a 1 s warm-up)."""
    latencies: list[float] = []
    errors = 0
    counter = iter(range(10**9))
    connections = RawConnections(url, size=concurrency)
    warm_until = time.monotonic() + 1
    while time.monotonic() < warm_until:
        await request(connections, next(counter))
    stop = time.monotonic() + seconds

    async def worker() -> None:
        nonlocal errors
        while time.monotonic() < stop:
            started = time.perf_counter()
            try:
                status = await asyncio.wait_for(request(connections, next(counter)), 30)
            except (ConnectionError, TimeoutError):
                errors += 1
                continue
            latencies.append((time.perf_counter() - started) * 1000)
            errors += status not in ok

    started = time.monotonic()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    elapsed = time.monotonic() - started
    await connections.close()
    return len(latencies), errors, elapsed, latencies


class RawConnections:
    """Keep-alive HTTP/1.1 connections written by hand: httpx costs about 2 ms of the load
    generator's CPU per request, which capped what one core could ask of the faster server
    (the raw baseline) at about 500 requests/s. Enough HTTP for our own servers' answers."""

    def __init__(self, url: str, size: int) -> None:
        self.host, port = url.removeprefix("http://").split(":")
        self.port = int(port)
        # Last in, first out: the busiest connections stay warm, and the rest are not reused
        # after the server's keep-alive timeout has closed them.
        self.idle: asyncio.LifoQueue[tuple[asyncio.StreamReader, asyncio.StreamWriter] | None] = (
            asyncio.LifoQueue()
        )
        for _ in range(size):
            self.idle.put_nowait(None)  # opened on first use

    async def post(self, path: str, body: bytes, headers: dict[str, str]) -> int:
        return await self.send("POST", path, body, headers)

    async def get(self, path: str, headers: dict[str, str] | None = None) -> int:
        return await self.send("GET", path, b"", headers or {})

    async def send(self, method: str, path: str, body: bytes, headers: dict[str, str]) -> int:
        connection = await self.idle.get()
        try:
            if connection is None:
                connection = await asyncio.open_connection(self.host, self.port)
            reader, writer = connection
            head = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
            writer.write(
                f"{method} {path} HTTP/1.1\r\nHost: {self.host}\r\n{head}"
                f"Content-Length: {len(body)}\r\n\r\n".encode()
                + body
            )
            await writer.drain()
            status_line, *lines = (await reader.readuntil(b"\r\n\r\n")).decode().split("\r\n")
            length = next(
                int(line.split(":", 1)[1])
                for line in lines
                if line.lower().startswith("content-length:")
            )
            await reader.readexactly(length)
            self.idle.put_nowait(connection)
            return int(status_line.split()[1])
        except BaseException as exc:  # broken, or cancelled by a timeout mid-answer
            if connection is not None:
                connection[1].close()
            self.idle.put_nowait(None)  # reopened by the next request
            if isinstance(exc, OSError | asyncio.IncompleteReadError | StopIteration | ValueError):
                raise ConnectionError from None
            raise

    async def close(self) -> None:
        while not self.idle.empty():
            if (connection := self.idle.get_nowait()) is not None:
                connection[1].close()


async def open_loop(
    url: str, bodies: list[tuple[bytes, dict[str, str]]], path: str, rate: float
) -> tuple[int, int, float, list[float]]:
    """Send each body at its scheduled time (rate per second); latency from the schedule."""
    latencies: list[float] = []
    errors = 0
    connections = RawConnections(url, size=512)
    start = time.perf_counter() + 0.5

    async def send(i: int, body: bytes, headers: dict[str, str]) -> None:
        nonlocal errors
        scheduled = start + i / rate
        await asyncio.sleep(max(0.0, scheduled - time.perf_counter()))
        try:
            status = await asyncio.wait_for(connections.post(path, body, headers), 30)
        except (ConnectionError, TimeoutError):  # refused, dropped or stuck: an error
            errors += 1
            return
        latencies.append((time.perf_counter() - scheduled) * 1000)
        errors += status != 200

    await asyncio.gather(*(send(i, b, h) for i, (b, h) in enumerate(bodies)))
    elapsed = time.perf_counter() - start
    await connections.close()
    return len(latencies), errors, elapsed, latencies


def _result(scenario: str, target: str, run: tuple[int, int, float, list[float]]) -> Result:
    requests, errors, seconds, latencies = run
    return Result(
        scenario,
        target,
        requests,
        errors,
        round(seconds, 2),
        round(statistics.median(latencies), 2) if latencies else float("nan"),
        round(_percentile(latencies, 0.99), 2),
    )


# ---- data ----------------------------------------------------------------------------------


@dataclass
class Data:
    course_id: str
    reader_tokens: list[str]  # learners with ENROLLMENTS_PER_LEARNER enrollments
    reader_ids: list[str]
    buyer_tokens: list[str]  # fresh learners, one initialize each
    buyer_ids: list[str]


async def arrange(settings: Settings, readers: int, buyers: int) -> Data:
    """Courses and learners written straight to the database (arranging is not measured)."""
    now = datetime.now(UTC)
    db = Database(settings)
    try:
        async with db.transaction() as session:
            courses = [
                Course(
                    id=new_id("crs"),
                    title=f"Course {i}",
                    description="A course to measure with.",
                    instructor="Bench",
                    price=99_900,
                    currency="INR",
                    refund_window_days=7,
                    status="published",
                    created_at=now,
                    updated_at=now,
                )
                for i in range(ENROLLMENTS_PER_LEARNER)
            ]
            session.add_all(courses)
            users = [
                User(
                    id=new_id("usr"),
                    email=f"bench{i}@example.com",
                    password_hash="!",  # never logs in: tokens are issued below
                    full_name=f"Learner {i}",
                    role="learner",
                    is_active=True,
                    created_at=now,
                    updated_at=now,
                )
                for i in range(readers + buyers)
            ]
            session.add_all(users)
            await session.flush()
            session.add_all(
                Enrollment(
                    id=new_id("enr"),
                    user_id=user.id,
                    course_id=course.id,
                    status="enrolled",
                    original_amount=0,
                    course_discount=0,
                    coupon_discount=0,
                    final_amount=0,
                    tax_amount=0,
                    total_payable=0,
                    currency="INR",
                    enrolled_at=now,
                    created_at=now,
                    updated_at=now,
                )
                for user in users[:readers]
                for course in courses
            )
    finally:
        await db.dispose()
    tokens = [issue_access_token(settings, user.id).token for user in users]
    ids = [user.id for user in users]
    return Data(courses[0].id, tokens[:readers], ids[:readers], tokens[readers:], ids[readers:])


def webhook_bodies(secret: str, count: int) -> list[tuple[bytes, dict[str, str]]]:
    """`count` deliveries: 70 % distinct payment.captured events, 30 % repeats, shuffled."""
    unique = int(count * (1 - DUPLICATE_SHARE))
    events = []
    for i in range(unique):
        payment = {
            "id": f"pay_{secrets.token_hex(7)}",
            "entity": "payment",
            "amount": 99_900,
            "currency": "INR",
            "status": "captured",
            "order_id": f"order_{secrets.token_hex(7)}",
            "method": "upi",
            "captured": True,
            "created_at": 1_790_000_000 + i,
        }
        envelope = {
            "entity": "event",
            "account_id": "acc_BenchAccount01",
            "event": "payment.captured",
            "contains": ["payment"],
            "payload": {"payment": {"entity": payment}},
            "created_at": 1_790_000_000 + i,
        }
        body = json.dumps(envelope, separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Razorpay-Event-Id": secrets.token_hex(7),
            "X-Razorpay-Signature": hmac.new(secret.encode(), body, hashlib.sha256).hexdigest(),
        }
        events.append((body, headers))
    deliveries = events + random.choices(events, k=count - unique)
    random.shuffle(deliveries)
    return deliveries


# ---- scenarios -----------------------------------------------------------------------------


def read_scenarios(data: Data, baseline: bool) -> dict[str, Request]:
    def bearer(i: int) -> dict[str, str]:
        return {"Authorization": f"Bearer {data.reader_tokens[i % len(data.reader_tokens)]}"}

    if baseline:
        return {
            "course detail": lambda c, i: c.get(f"/courses/{data.course_id}"),
            "my enrollments": lambda c, i: c.get(
                f"/enrollments/{data.reader_ids[i % len(data.reader_ids)]}"
            ),
        }
    return {
        "course detail": lambda c, i: c.get(f"{API}/courses/{data.course_id}"),
        "my enrollments": lambda c, i: c.get(f"{API}/enrollments", bearer(i)),
    }


def initialize_request(data: Data, baseline: bool, buyers: Iterator[int]) -> Request:
    """A learner never used before per request, across both targets (one live enrollment per
    learner and course)."""

    def request(connections: RawConnections, _: int) -> Awaitable[int]:
        n = next(buyers)
        if baseline:
            return connections.post(f"/initialize/{data.buyer_ids[n]}/{data.course_id}", b"", {})
        headers = {
            "Authorization": f"Bearer {data.buyer_tokens[n]}",
            "X-Forwarded-For": f"10.{n // 65536 % 256}.{n // 256 % 256}.{n % 256}",
            "Content-Type": "application/json",
        }
        body = json.dumps({"course_id": data.course_id}).encode()
        return connections.post(f"{API}/enrollments/initialize", body, headers)

    return request


async def run_target(
    url: str,
    data: Data,
    args: argparse.Namespace,
    baseline: bool,
    secret: str,
    buyers: Iterator[int],
) -> list[Result]:
    target = "baseline" if baseline else "enrollpay"
    results = []
    for name, request in read_scenarios(data, baseline).items():
        run = await closed_loop(
            url, request, concurrency=args.concurrency, seconds=args.seconds, ok=(200,)
        )
        results.append(_result(name, target, run))
        print(f"  {target:9} {name}: {results[-1].per_second:.0f}/s", flush=True)

    for name, concurrency, delay in (
        ("initialize, instant gateway, 1 in flight", 1, 0),
        ("initialize, instant gateway", args.concurrency, 0),
        (f"initialize, gateway +{GATEWAY_DELAY_MS} ms", args.pool_size * 4, GATEWAY_DELAY_MS),
    ):
        if delay and baseline:
            continue  # the baseline makes no gateway call
        if delay:
            fault = {"path_prefix": "/v1/orders", "delay_ms": delay, "count": 100_000}
            async with httpx.AsyncClient(timeout=10) as client:
                added = await client.post(f"{url}/sandbox/razorpay/_sandbox/faults", json=fault)
                added.raise_for_status()
        run = await closed_loop(
            url,
            initialize_request(data, baseline, buyers),
            concurrency=concurrency,
            seconds=args.seconds,
            ok=(200, 201),
        )
        results.append(_result(name, target, run))
        print(f"  {target:9} {name}: {results[-1].per_second:.0f}/s", flush=True)

    bodies = webhook_bodies(secret, int(args.webhook_rate * args.seconds))
    path = "/webhook" if baseline else f"{API}/webhooks/razorpay"
    run = await open_loop(url, bodies, path, args.webhook_rate)
    results.append(_result(f"webhook ingest at {args.webhook_rate:.0f}/s", target, run))
    print(f"  {target:9} webhooks: {results[-1].per_second:.0f}/s", flush=True)
    return results


# ---- report --------------------------------------------------------------------------------


def machine() -> dict[str, Any]:
    cpu = "unknown"
    with suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    postgres = subprocess.run(
        ["psql", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "cpus": os.cpu_count(),
        "cpu": cpu,
        "python": platform.python_version(),
        "postgresql_client": postgres,
        "date": datetime.now(UTC).strftime("%Y-%m-%d"),
    }


def report(results: list[Result], args: argparse.Namespace) -> None:
    baseline = {r.scenario: r for r in results if r.target == "baseline"}
    rows = []
    print()
    print(f"{'scenario':42} {'req/s':>8} {'p50 ms':>8} {'p99 ms':>8} {'errors':>7} {'vs raw':>7}")
    for r in results:
        if r.target != "enrollpay":
            continue
        raw = baseline.get(r.scenario)
        ratio = round(r.per_second / raw.per_second, 2) if raw and raw.per_second else None
        rows.append({**asdict(r), "per_second": round(r.per_second, 1), "ratio": ratio})
        shown = f"{ratio:.2f}" if ratio is not None else "-"
        print(
            f"{r.scenario:42} {r.per_second:8.0f} {r.p50_ms:8.1f} {r.p99_ms:8.1f} "
            f"{r.errors:7d} {shown:>7}"
        )
    for r in results:
        if r.target == "baseline":
            print(f"  raw baseline: {r.scenario:40} {r.per_second:8.0f}/s p99 {r.p99_ms:.1f} ms")
    payload = {
        "machine": machine(),
        "settings": {
            "seconds": args.seconds,
            "concurrency": args.concurrency,
            "pool_size": args.pool_size,
            "webhook_rate": args.webhook_rate,
        },
        "enrollpay": rows,
        "baseline": [asdict(r) | {"per_second": round(r.per_second, 1)} for r in baseline.values()],
    }
    RESULTS.write_text(json.dumps(payload, indent=2) + "\n")
    print(f"\nwritten to {RESULTS.relative_to(HERE.parent)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--database-url", required=True, help="postgresql://… (emptied first)")
    parser.add_argument("--seconds", type=float, default=10.0, help="per scenario")
    parser.add_argument("--concurrency", type=int, default=16)
    parser.add_argument("--pool-size", type=int, default=10)
    parser.add_argument("--webhook-rate", type=float, default=500.0)
    args = parser.parse_args()
    os.sched_setaffinity(0, {LOADGEN_CPU})

    sync_url = "postgresql+psycopg://" + args.database_url.split("://", 1)[1]
    engine = create_engine(sync_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "EMBEDDED_WORKER": "false",
        "DATABASE_POOL_SIZE": str(args.pool_size),
        "DATABASE_MAX_OVERFLOW": "0",
        "RATE_LIMIT_STORAGE": "memory://",
        "LOG_LEVEL": "WARNING",
    }
    port = _free_port()
    env["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
    subprocess.run([str(ENROLLPAY), "migrate"], env=env, check=True, capture_output=True)
    settings = load_settings(
        _env_file=None, **{k: env[k] for k in ("DATABASE_URL", "SECRET_KEY", "PUBLIC_BASE_URL")}
    )
    # Enough fresh learners for every initialize either target can make.
    data = asyncio.run(arrange(settings, readers=200, buyers=int(args.seconds * 5000)))
    buyers = itertools.count()
    secret = derive_sandbox_config(settings).webhook_secret
    print(f"enrollpay on CPU {SERVER_CPU}, load generator on CPU {LOADGEN_CPU}", flush=True)

    results = []
    command = [str(ENROLLPAY), "serve", "--port", str(port)]
    with served(command, env, port, "/readyz") as url:
        results += asyncio.run(run_target(url, data, args, False, secret, buyers))
    baseline_port = _free_port()
    baseline_env = {
        **env,
        "BASELINE_DATABASE_URL": args.database_url,
        "BASELINE_POOL_SIZE": str(args.pool_size),
        "BASELINE_WEBHOOK_SECRET": secret,
        "PYTHONPATH": str(HERE.parent),
    }
    uvicorn_command = [sys.executable, "-m", "uvicorn", "bench.baseline_app:app"]
    baseline_command = [*uvicorn_command, "--port", str(baseline_port), "--log-level", "warning"]
    with served(baseline_command, baseline_env, baseline_port, "/courses/none") as url:
        results += asyncio.run(run_target(url, data, args, True, secret, buyers))
    report(results, args)


if __name__ == "__main__":
    main()
