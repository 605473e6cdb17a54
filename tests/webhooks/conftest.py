"""Fixtures for webhook ingest: a known webhook secret, signed deliveries to the real endpoint,
a stand-in for `record_gateway_fact`, a job worker that retries at once, and row queries."""

from __future__ import annotations

import copy
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from enrollpay.config import Settings
from enrollpay.db.engine import Database
from enrollpay.jobs.models import Job
from enrollpay.jobs.worker import JobOutcome, Worker
from enrollpay.payments.facts import GatewayFact
from enrollpay.payments.gateway.signatures import webhook_signature
from enrollpay.webhooks.models import WebhookEvent
from enrollpay.webhooks.service import PROCESS_EVENT_JOB

SECRET = "whsec-test-primary-0123456789"
URL = "/api/v1/webhooks/razorpay"
ROOT = Path(__file__).parent.parent
# Razorpay's documented samples (razorpay-facts.md §6), as the sandbox tests use them.
SAMPLES: dict[str, dict[str, Any]] = json.loads(
    (ROOT / "sandbox" / "webhook_samples.json").read_text()
)
VECTORS = ROOT / "payments" / "gateway" / "vectors"
VECTOR_BYTES = (VECTORS / "razorpay-python-fake_payment_authorized_webhook.json").read_bytes()
VECTOR_SIGNATURE = "d60e67fd884556c045e9be7dad57903e33efc7172c17c6e3ef77db42d2b366e9"


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"RAZORPAY_WEBHOOK_SECRET": SECRET}


def sample(name: str, **changes: Any) -> dict[str, Any]:
    """A documented sample envelope; `event=` renames it, `payment=`/`order=` update entities."""
    source = "payment.captured" if name not in SAMPLES else name
    document = copy.deepcopy(SAMPLES[source])
    document["event"] = name
    for entity, fields in changes.items():
        document["payload"][entity]["entity"].update(fields)
    return document


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode()


async def deliver(
    client: httpx.AsyncClient,
    body: bytes | dict[str, Any],
    *,
    event_id: str | None = "EvtTest0000001",
    secret: str | None = SECRET,
    signature: str | None = None,
    headers: dict[str, str] | None = None,
) -> httpx.Response:
    """POST a delivery the way Razorpay does: signed raw bytes plus the event id header."""
    raw = encode(body) if isinstance(body, dict) else body
    sent = {"Content-Type": "application/json", "User-Agent": "Razorpay-Webhook/v1"}
    if signature is None and secret is not None:
        signature = webhook_signature(raw, secret)
    if signature is not None:
        sent["X-Razorpay-Signature"] = signature
    if event_id is not None:
        sent["X-Razorpay-Event-Id"] = event_id
    sent.update(headers or {})
    return await client.post(URL, content=raw, headers=sent)


@dataclass
class FactRecorder:
    """Stands in for `payments.service.record_gateway_fact`: records the facts it is handed and
    answers `outcome`; raises for its first `fail_times` calls."""

    outcome: str = "applied"
    fail_times: int = 0
    facts: list[GatewayFact] = field(default_factory=list)
    calls: int = 0

    async def __call__(self, session: Any, fact: GatewayFact) -> str:
        self.calls += 1
        if self.calls <= self.fail_times:
            raise RuntimeError(f"database hiccup {self.calls}")
        self.facts.append(fact)
        return self.outcome


@pytest.fixture
def record_fact(monkeypatch: pytest.MonkeyPatch) -> FactRecorder:
    recorder = FactRecorder()
    monkeypatch.setattr("enrollpay.payments.service.record_gateway_fact", recorder)
    return recorder


RunJobs = Callable[[], Awaitable[list[JobOutcome]]]


@pytest.fixture
def run_jobs(db: Database, settings: Settings) -> RunJobs:
    """Run due jobs one at a time until none is due; failed jobs are due again at once."""
    worker = Worker(db, settings, concurrency=1)
    worker.jitter = lambda: 0.0

    async def _run() -> list[JobOutcome]:
        outcomes: list[JobOutcome] = []
        for _ in range(200):
            ran = await worker.run_once(limit=1, schedules=False)
            if not ran:
                return outcomes
            outcomes += ran
        raise AssertionError("jobs kept coming")

    return _run


async def inbox(db: Database) -> list[WebhookEvent]:
    async with db.sessionmaker() as session:
        rows = await session.execute(select(WebhookEvent).order_by(WebhookEvent.id))
        return list(rows.scalars())


async def only_row(db: Database) -> WebhookEvent:
    rows = await inbox(db)
    assert len(rows) == 1, rows
    return rows[0]


async def processing_jobs(db: Database) -> list[Job]:
    async with db.sessionmaker() as session:
        rows = await session.execute(
            select(Job).where(Job.kind == PROCESS_EVENT_JOB).order_by(Job.created_at, Job.id)
        )
        return list(rows.scalars())
