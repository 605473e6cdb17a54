"""A real `enrollpay worker` process is SIGKILLed after Razorpay applied its refund call and
before it could commit the answer; the next worker sends the same refund again and Razorpay's
idempotency key makes it one refund. Real processes (`serve` with the built-in sandbox, two
workers one after the other) on a PostgreSQL database of their own.

tests/refunds/test_resilience.py has the in-process version (an exception where the kill is);
this one proves nothing in the process is needed for the recovery: not its memory, not a
clean shutdown."""

from __future__ import annotations

import asyncio
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import httpx
import pytest

from enrollpay.config import Settings, load_settings
from enrollpay.db.engine import Database
from enrollpay.refunds import service as refunds_service
from enrollpay.users.models import Role
from tests.conftest import drop_everything, free_port, sibling_database, user_with_headers
from tests.courses.factories import create_course
from tests.enrollments.helpers import add_fault, clear_faults, set_webhooks
from tests.refunds.conftest import (
    TOTAL,
    enroll,
    learner_refund,
    make_jobs_due,
    refunds,
    sandbox_refunds,
)

ENROLLPAY = Path(sys.executable).with_name("enrollpay")
LEASE_SECONDS = 5  # the killed worker's job is claimed again this long after its claim
WAIT_SECONDS = 60.0


@pytest.fixture
def env() -> dict[str, str]:
    url = sibling_database(os.environ["TEST_DATABASE_URL"], "killed")
    drop_everything(url)
    values = {
        **os.environ,
        "DATABASE_URL": url,
        "SECRET_KEY": secrets.token_urlsafe(32),
        "EMBEDDED_WORKER": "false",
        "PUBLIC_BASE_URL": f"http://127.0.0.1:{free_port()}",
        "RATE_LIMIT_STORAGE": "memory://",
        "WORKER_POLL_INTERVAL_SECONDS": "0.2",
        "JOB_LEASE_SECONDS": str(LEASE_SECONDS),
        "LOG_LEVEL": "WARNING",
    }
    subprocess.run([str(ENROLLPAY), "migrate"], env=values, check=True, capture_output=True)
    return values


@contextmanager
def running(env: dict[str, str], *args: str) -> Iterator[subprocess.Popen[bytes]]:
    process = subprocess.Popen(
        [str(ENROLLPAY), *args], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


async def _until(what: str, check: Callable[[], Awaitable[Any]]) -> Any:
    deadline = time.monotonic() + WAIT_SECONDS
    while time.monotonic() < deadline:
        if found := await check():
            return found
        await asyncio.sleep(0.1)
    raise AssertionError(f"waited {WAIT_SECONDS:.0f} s for {what}")


async def _tokens(settings: Settings) -> tuple[dict[str, str], dict[str, str]]:
    db = Database(settings)
    try:
        _, admin = await user_with_headers(
            db, settings, email="admin@example.com", full_name="A", role=Role.admin
        )
        _, learner = await user_with_headers(
            db, settings, email="learner@example.com", full_name="L"
        )
    finally:
        await db.dispose()
    return admin, learner


@pytest.mark.postgresql_only
async def test_a_worker_killed_between_the_refund_call_and_its_commit_refunds_once(
    backend: str, env: dict[str, str]
) -> None:
    settings = load_settings(
        _env_file=None, **{k: env[k] for k in ("DATABASE_URL", "SECRET_KEY", "PUBLIC_BASE_URL")}
    )
    admin, learner = await _tokens(settings)
    db = Database(settings)
    with running(env, "serve", "--port", env["PUBLIC_BASE_URL"].rsplit(":", 1)[1]) as server:
        async with httpx.AsyncClient(base_url=env["PUBLIC_BASE_URL"], timeout=30) as client:

            async def ready() -> bool:
                assert server.poll() is None, server.stderr.read() if server.stderr else ""
                with suppress(httpx.TransportError):
                    return (await client.get("/readyz")).status_code == 200
                return False

            await _until("the server", ready)
            course = await create_course(client, admin, price=4999, refund_window_days=7)
            enrollment_id, paid_id = await enroll(client, learner, course["id"])

            # The request cannot reach Razorpay: the refund waits for the submit job.
            await add_fault(client, path_prefix="/v1/payments", method="POST", status=503, count=8)
            assert (await learner_refund(client, learner, enrollment_id)).status_code == 202
            await clear_faults(client)
            # No refund.created webhook may tell us the refund id meanwhile.
            await set_webhooks(client, drop=True)
            # Razorpay applies the worker's call, then its answer stalls: the kill lands there.
            await add_fault(
                client,
                path_prefix="/v1/payments",
                method="POST",
                delay_ms=60_000,
                after=True,
                count=1,
            )
            await make_jobs_due(db, refunds_service.SUBMIT_JOB)

            with running(env, "worker") as worker:
                await _until("Razorpay's refund", lambda: sandbox_refunds(db, paid_id))
                worker.send_signal(signal.SIGKILL)
                worker.wait(timeout=10)
            (refund,) = await refunds(db)
            assert (refund.status, refund.razorpay_refund_id) == ("requested", None)

            with running(env, "worker"):

                async def recorded() -> Any:
                    (row,) = await refunds(db)
                    return row if row.razorpay_refund_id else None

                refund = await _until("the refund to be recorded", recorded)
            (gateway_refund,) = await sandbox_refunds(db, paid_id)  # still one
            assert refund.razorpay_refund_id == gateway_refund.id
            assert refund.status in ("pending", "processed")
            assert gateway_refund.amount == TOTAL
    await db.dispose()
