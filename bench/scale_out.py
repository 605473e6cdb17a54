"""Scale-out check: several `enrollpay serve` replicas and `enrollpay worker` processes on one
PostgreSQL, driven with a mixed load through all of them, then SPEC §1's promises checked.

    .venv/bin/python bench/scale_out.py --database-url postgresql://postgres@127.0.0.1:5432/scale

The database is emptied first (schema dropped), then migrated. Every process gets an explicit
pool (`--pool-size`, no overflow), so the connections used are at most
(replicas + workers) x pool size (+ this script's one), printed at the start. The load, per learner,
through a replica picked round-robin (each learner looks like its own client address, as behind
a load balancer):
- initialize on one of two courses (one with fewer seats than learners), some with a coupon
  whose redemptions are capped;
- pay in the built-in sandbox through another replica: some payments fail first and are retried;
  webhooks go to the first replica (PUBLIC_BASE_URL), verify-payment to a third one for half of
  the learners (the others rely on the webhook alone);
- some enrolled learners ask for a refund;
- every stored webhook is then delivered again to every replica (duplicates, out of order).
When the workers have drained the queue, `check_invariants` runs (one live enrollment per learner
and course, seats, coupon limit, refunds within captures, no access without money, captured
money enrolled or refunded) and no request may have answered 5xx. Exit status 1 otherwise.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections import Counter
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select

import enrollpay.db.models  # noqa: F401  (every table, for the ORM writes below)
from enrollpay.admin.invariants import check_invariants
from enrollpay.auth.tokens import issue_access_token
from enrollpay.config import Settings, load_settings
from enrollpay.db.engine import Database
from enrollpay.jobs.models import Job, JobStatus
from enrollpay.kit.clock import utcnow
from enrollpay.users.models import Role
from enrollpay.users.service import create_user
from enrollpay.webhooks.models import WebhookEvent

API = "/api/v1"
SANDBOX_CONTROL = "/sandbox/razorpay/_sandbox"
PASSWORD = "scale-out-password"
READY_TIMEOUT_SECONDS = 60
DRAIN_TIMEOUT_SECONDS = 180
ENROLLPAY = Path(sys.executable).with_name("enrollpay")


@dataclass
class Tally:
    """What the load did, and every answer's status by route."""

    statuses: Counter[str] = field(default_factory=Counter)
    enrolled: int = 0
    failed_then_paid: int = 0
    refused: Counter[str] = field(default_factory=Counter)  # initialize refusals by error code
    refunds: int = 0
    duplicate_webhooks: int = 0

    def record(self, name: str, response: httpx.Response) -> httpx.Response:
        self.statuses[f"{name} {response.status_code}"] += 1
        return response

    @property
    def server_errors(self) -> int:
        return sum(n for key, n in self.statuses.items() if key.rsplit(" ", 1)[1].startswith("5"))


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _reset_database(url: str) -> None:
    engine = create_engine("postgresql+psycopg://" + url.split("://", 1)[1])
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


class Cluster:
    """The replicas and workers, as subprocesses sharing one environment."""

    def __init__(self, env: dict[str, str], replicas: int, workers: int) -> None:
        self.env = env
        self.ports = [int(env["PUBLIC_BASE_URL"].rsplit(":", 1)[1])] + [
            _free_port() for _ in range(replicas - 1)
        ]
        self.worker_count = workers
        self.processes: list[subprocess.Popen[bytes]] = []

    @property
    def urls(self) -> list[str]:
        return [f"http://127.0.0.1:{port}" for port in self.ports]

    def start(self) -> None:
        for port in self.ports:
            self._spawn([str(ENROLLPAY), "serve", "--port", str(port)])
        for _ in range(self.worker_count):
            self._spawn([str(ENROLLPAY), "worker"])
        deadline = time.monotonic() + READY_TIMEOUT_SECONDS
        for url in self.urls:
            while True:
                with suppress(httpx.TransportError):
                    if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                        break
                if any(p.poll() is not None for p in self.processes):
                    raise SystemExit("a process exited during start-up")
                if time.monotonic() > deadline:
                    raise SystemExit(f"{url} did not become ready")
                time.sleep(0.2)

    def _spawn(self, command: list[str]) -> None:
        self.processes.append(
            subprocess.Popen(
                command, env=self.env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
            )
        )

    def stop(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


async def _arrange(settings: Settings, learners: int) -> tuple[str, list[str]]:
    """An admin token and learner tokens, made in the database (sign-up limits are per client
    address, and arranging is not the load)."""
    db = Database(settings)
    try:
        async with db.transaction() as session:
            admin = await create_user(
                session,
                email="admin@scale.example.com",
                password=PASSWORD,
                full_name="Admin",
                role=Role.admin,
            )
            users = [
                await create_user(
                    session,
                    email=f"learner{i}@scale.example.com",
                    password=PASSWORD,
                    full_name=f"Learner {i}",
                )
                for i in range(learners)
            ]
    finally:
        await db.dispose()
    token = issue_access_token(settings, admin.id).token
    return token, [issue_access_token(settings, user.id).token for user in users]


async def _setup_catalog(
    client: httpx.AsyncClient, url: str, admin_token: str, learners: int
) -> tuple[list[str], str]:
    admin = {"Authorization": f"Bearer {admin_token}"}
    courses = []
    for title, capacity in (("Open course", None), ("Small cohort", max(2, learners // 4))):
        body: dict[str, Any] = {"title": title, "price": 999, "status": "published"}
        if capacity is not None:
            body["capacity"] = capacity
        response = await client.post(f"{url}{API}/admin/courses", json=body, headers=admin)
        response.raise_for_status()
        courses.append(response.json()["id"])
    coupon = {
        "code": "SCALE10",
        "discount_type": "percent",
        "discount_value": 10,
        "max_redemptions": max(1, learners // 5),
    }
    (await client.post(f"{url}{API}/admin/coupons", json=coupon, headers=admin)).raise_for_status()
    return courses, "SCALE10"


async def _learner(
    i: int,
    token: str,
    client: httpx.AsyncClient,
    urls: list[str],
    courses: list[str],
    coupon: str,
    tally: Tally,
) -> None:
    headers = {"Authorization": f"Bearer {token}", "X-Forwarded-For": f"10.0.{i // 250}.{i % 250}"}
    home, paying, checking = (urls[(i + k) % len(urls)] for k in range(3))
    body: dict[str, Any] = {"course_id": courses[i % 2]}
    if i % 3 == 0:
        body["coupon_code"] = coupon
    started = tally.record(
        "initialize",
        await client.post(f"{home}{API}/enrollments/initialize", json=body, headers=headers),
    )
    if started.status_code != 201:
        tally.refused[started.json().get("error", {}).get("code", "?")] += 1
        return
    enrollment = started.json()["enrollment_id"]
    order = started.json()["payment_session"]["razorpay_order_id"]
    if i % 5 == 1:  # a failed attempt first, then a retry with a new order
        await client.post(
            f"{paying}{SANDBOX_CONTROL}/orders/{order}/pay",
            json={"outcome": "failure", "method": "card", "webhooks": True},
        )
        await _wait_for(client, checking, headers, enrollment, "failed")  # the webhook says so
        retried = tally.record(
            "retry",
            await client.post(
                f"{checking}{API}/enrollments/{enrollment}/retry-payment", headers=headers
            ),
        )
        if retried.status_code != 200:
            return
        order = retried.json()["payment_session"]["razorpay_order_id"]
        tally.failed_then_paid += 1
    paid = await client.post(
        f"{paying}{SANDBOX_CONTROL}/orders/{order}/pay",
        json={"outcome": "success", "method": "upi", "webhooks": True},
    )
    tally.record("sandbox pay", paid)
    if i % 2 == 0:
        fields = ("razorpay_payment_id", "razorpay_order_id", "razorpay_signature")
        tally.record(
            "verify",
            await client.post(
                f"{checking}{API}/enrollments/{enrollment}/verify-payment",
                json={name: paid.json()[name] for name in fields},
                headers=headers,
            ),
        )
    status = await _wait_for(client, checking, headers, enrollment, "enrolled")
    if status == "enrolled":
        tally.enrolled += 1
        if i % 4 == 3:
            refund = await client.post(
                f"{home}{API}/enrollments/{enrollment}/refund",
                json={"reason": "changed my mind"},
                headers=headers,
            )
            tally.record("refund", refund)
            tally.refunds += refund.status_code in (201, 202)


async def _wait_for(
    client: httpx.AsyncClient, url: str, headers: dict[str, str], enrollment: str, wanted: str
) -> str:
    deadline = time.monotonic() + 60
    status = "?"
    while time.monotonic() < deadline:
        answer = await client.get(
            f"{url}{API}/enrollments/{enrollment}/payment-status", headers=headers
        )
        status = answer.json().get("enrollment_status", "?")
        if status == wanted:
            break
        await asyncio.sleep(0.2)
    return status


async def _redeliver_webhooks(
    settings: Settings, client: httpx.AsyncClient, urls: list[str], tally: Tally
) -> None:
    """Every stored Razorpay delivery again, to every replica, in reverse order."""
    db = Database(settings)
    try:
        async with db.transaction() as session:
            events = (
                await session.scalars(select(WebhookEvent).order_by(WebhookEvent.id.desc()))
            ).all()
    finally:
        await db.dispose()
    for event in events:
        headers = {k: v for k, v in event.headers.items() if k.lower().startswith("x-razorpay")}
        headers["Content-Type"] = "application/json"
        for url in urls:
            response = await client.post(
                f"{url}{API}/webhooks/razorpay", content=event.body_bytes(), headers=headers
            )
            tally.record("webhook again", response)
            tally.duplicate_webhooks += 1


async def _drained(settings: Settings) -> tuple[bool, int]:
    """(nothing due or running, dead jobs), waiting up to DRAIN_TIMEOUT_SECONDS."""
    db = Database(settings)
    try:
        deadline = time.monotonic() + DRAIN_TIMEOUT_SECONDS
        quiet_polls = 0
        while time.monotonic() < deadline:
            async with db.transaction() as session:
                busy = await session.scalar(
                    select(func.count(Job.id)).where(
                        (Job.status == JobStatus.running)
                        | ((Job.status == JobStatus.pending) & (Job.run_at <= utcnow()))
                    )
                )
                dead = await session.scalar(
                    select(func.count(Job.id)).where(Job.status == JobStatus.dead)
                )
            quiet_polls = quiet_polls + 1 if not busy else 0
            if quiet_polls >= 3:
                return True, int(dead or 0)
            await asyncio.sleep(0.5)
        return False, int(dead or 0)
    finally:
        await db.dispose()


async def _verdict(settings: Settings) -> Any:
    db = Database(settings)
    try:
        async with db.transaction() as session:
            return await check_invariants(session)
    finally:
        await db.dispose()


async def _load(
    settings: Settings, cluster: Cluster, admin_token: str, tokens: list[str], concurrency: int
) -> Tally:
    tally = Tally()
    limits = httpx.Limits(max_connections=concurrency)
    async with httpx.AsyncClient(timeout=30, limits=limits) as client:
        courses, coupon = await _setup_catalog(client, cluster.urls[0], admin_token, len(tokens))
        gate = asyncio.Semaphore(concurrency)

        async def one(i: int, token: str) -> None:
            async with gate:
                await _learner(i, token, client, cluster.urls, courses, coupon, tally)

        await asyncio.gather(*(one(i, token) for i, token in enumerate(tokens)))
        await _redeliver_webhooks(settings, client, cluster.urls, tally)
    return tally


def run(args: argparse.Namespace) -> int:
    _reset_database(args.database_url)
    env = {
        **os.environ,
        "DATABASE_URL": args.database_url,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "EMBEDDED_WORKER": "false",
        "DATABASE_POOL_SIZE": str(args.pool_size),
        "DATABASE_MAX_OVERFLOW": "0",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{_free_port()}",
        "RATE_LIMIT_STORAGE": "memory://",
        "WORKER_POLL_INTERVAL_SECONDS": "0.2",
        "LOG_LEVEL": "WARNING",
    }
    subprocess.run([str(ENROLLPAY), "migrate"], env=env, check=True, capture_output=True)
    settings = load_settings(
        _env_file=None, **{k: env[k] for k in ("DATABASE_URL", "SECRET_KEY", "PUBLIC_BASE_URL")}
    )
    admin_token, tokens = asyncio.run(_arrange(settings, args.learners))
    cluster = Cluster(env, args.replicas, args.workers)
    connections = (args.replicas + args.workers) * args.pool_size
    print(
        f"{args.replicas} serve replicas + {args.workers} workers, pool {args.pool_size} each "
        f"(at most {connections} connections), {args.learners} learners"
    )
    started = time.monotonic()
    cluster.start()
    try:
        tally = asyncio.run(_load(settings, cluster, admin_token, tokens, args.concurrency))
        drained, dead = asyncio.run(_drained(settings))
    finally:
        cluster.stop()
    elapsed = time.monotonic() - started
    report = asyncio.run(_verdict(settings))

    print(f"start, load and drain: {elapsed:.1f} s")
    print(
        f"enrolled {tally.enrolled} (after a failed attempt: {tally.failed_then_paid}), "
        f"refunds asked {tally.refunds}, initialize refused {dict(tally.refused)}, "
        f"webhooks delivered again {tally.duplicate_webhooks}"
    )
    for key, count in sorted(tally.statuses.items()):
        print(f"  {key:28} {count}")
    print(f"queue drained: {drained}, dead jobs: {dead}")
    for name, violations in report.violations.items():
        print(f"  {'ok' if not violations else 'BROKEN':6} {name}")
        for violation in violations:
            print(f"         {violation}")
    healthy = report.ok and drained and dead == 0 and tally.server_errors == 0
    print("PASS" if healthy else f"FAIL ({tally.server_errors} server errors)")
    return 0 if healthy else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--database-url", required=True, help="postgresql://… (emptied first)")
    parser.add_argument("--replicas", type=int, default=3)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--pool-size", type=int, default=5, help="per process, no overflow")
    parser.add_argument("--learners", type=int, default=60)
    parser.add_argument("--concurrency", type=int, default=16, help="learners at once")
    args = parser.parse_args()
    if not args.database_url.startswith(("postgresql://", "postgres://")):
        parser.error("--database-url must be a PostgreSQL URL")
    sys.exit(run(args))


if __name__ == "__main__":
    main()
