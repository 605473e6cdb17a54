"""Webhook events: Razorpay's envelopes (facts §6), signed once over the exact bytes, delivered by
jobs (sandbox/jobs.py), one job per delivery, retried on anything but 2xx.

Choices where Razorpay's behaviour is unpublished (UNCONFIRMED):
- `X-Razorpay-Event-Id` is 14 alphanumerics (ids.new_event_id); each event has its own, and a
  duplicate delivery repeats it.
- Bodies are compact JSON with PHP's default escaping (`/` as `\\/`, non-ASCII as `\\uXXXX`), so a
  receiver that re-serialises the JSON before checking the signature fails here, as it should.
- Headers: `Content-Type: application/json`, `X-Razorpay-Signature`, `X-Razorpay-Event-Id`,
  `User-Agent: Razorpay-Webhook/v1`.
- Retries: the job system's exponential backoff with full jitter (sandbox/jobs.py), at most
  `SandboxConfig.webhook_max_attempts` attempts and never past `webhook_retry_window_seconds`
  (24 h) after the event; each attempt has `webhook_timeout_seconds` (5 s).
- The signature is computed when the event is created, so retries after a secret change still
  carry the old secret's signature (as Razorpay documents).

Test knobs (POST /_sandbox/webhooks): `duplicate` sends n extra copies of each event (same event
id), `shuffle` schedules the events' deliveries in a random, never-original order within
`webhook_shuffle_window_seconds`, `drop` records the deliveries as dropped and never sends them.
A setting lasts until it is changed, reset with `{}` or POST /_sandbox/reset — or, with `count`,
for that many events.

Where deliveries go: when the webhook URL starts with a URL registered with
`register_in_process_target` (the embedded app registers its PUBLIC_BASE_URL), the request is
made in process through ASGI — the server never needs to reach itself over the network;
otherwise it goes over HTTP.
"""

from __future__ import annotations

import asyncio
import json
import random
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import httpx
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import ASGIApp

from enrollpay.jobs import enqueue
from enrollpay.kit.clock import utcnow
from enrollpay.payments.gateway.signatures import webhook_signature
from enrollpay.sandbox import repository
from enrollpay.sandbox.config import SandboxConfig
from enrollpay.sandbox.ids import new_event_id
from enrollpay.sandbox.models import SandboxEvent, SandboxWebhookBehaviour, SandboxWebhookDelivery

DELIVERY_JOB = "sandbox.deliver_webhook"
USER_AGENT = "Razorpay-Webhook/v1"

EVENT_CONTAINS: dict[str, tuple[str, ...]] = {
    "payment.authorized": ("payment",),
    "payment.captured": ("payment",),
    "payment.failed": ("payment",),
    "order.paid": ("payment", "order"),
    "refund.created": ("refund", "payment"),
    "refund.processed": ("refund", "payment"),
    "refund.failed": ("refund", "payment"),
    **{
        f"payment.dispute.{name}": ("payment", "dispute")
        for name in ("created", "under_review", "action_required", "won", "lost", "closed")
    },
}


@dataclass(frozen=True)
class NewEvent:
    """An event to emit: its name and snapshots of the entities it contains, taken now."""

    name: str
    entities: dict[str, dict[str, Any]]

    def ref(self, entity: str) -> str | None:
        snapshot = self.entities.get(entity)
        return str(snapshot["id"]) if snapshot else None


def envelope(config: SandboxConfig, event: NewEvent, created_at: int) -> dict[str, Any]:
    contains = EVENT_CONTAINS[event.name]
    return {
        "entity": "event",
        "account_id": config.account_id,
        "event": event.name,
        "contains": list(contains),
        "payload": {name: {"entity": event.entities[name]} for name in contains},
        "created_at": created_at,
    }


def encode_body(document: dict[str, Any]) -> bytes:
    """Compact JSON escaped the way PHP's json_encode does by default."""
    text = json.dumps(document, separators=(",", ":"), ensure_ascii=True, allow_nan=False)
    return text.replace("/", "\\/").encode("ascii")


@dataclass
class _Plan:
    drop: bool = False
    duplicate: int = 0
    shuffle: bool = False
    delays: list[timedelta] = field(default_factory=list)


def _current_plan(behaviour: SandboxWebhookBehaviour | None) -> _Plan:
    if behaviour is None or (behaviour.remaining is not None and behaviour.remaining <= 0):
        return _Plan()
    plan = _Plan(drop=behaviour.drop, duplicate=behaviour.duplicate, shuffle=behaviour.shuffle)
    if behaviour.remaining is not None:
        behaviour.remaining -= 1
    return plan


def _shuffled_delays(count: int, window: float, rng: random.Random) -> list[timedelta]:
    """Delays for `count` events that put them in a random order — never their own order
    when there are two or more (a shuffle that changes nothing would prove nothing)."""
    window = max(window, 0.001 * (count + 1))
    slots = sorted(rng.uniform(0, window) for _ in range(count))
    # Distinct slots, so the job claim order (by run_at) is the permuted order.
    slots = [slot + index * 0.001 for index, slot in enumerate(slots)]
    order = list(range(count))
    if count >= 2:
        while order == sorted(order):
            rng.shuffle(order)
    return [timedelta(seconds=slots[order[index]]) for index in range(count)]


_rng = random.Random()  # noqa: S311 - scheduling, not secrets


async def emit(
    session: AsyncSession, config: SandboxConfig, events: list[NewEvent]
) -> list[SandboxEvent]:
    """Record the events (body bytes and signature made once) and enqueue their deliveries in
    the caller's transaction: they exist exactly when the state change that caused them does."""
    if not events:
        return []
    now = utcnow()
    created_at = int(now.timestamp())
    behaviour = await repository.get_behaviour(session, config.key_id, lock=True)
    rows: list[SandboxEvent] = []
    plans: list[_Plan] = []
    for offset, event in enumerate(events):
        body = encode_body(envelope(config, event, created_at))
        row = SandboxEvent(
            id=new_event_id(),
            key_id=config.key_id,
            event=event.name,
            body=body,
            signature=webhook_signature(body, config.webhook_secret),
            order_id=event.ref("order") or (event.entities.get("payment") or {}).get("order_id"),
            payment_id=event.ref("payment"),
            refund_id=event.ref("refund"),
            # Microseconds apart: listing by time keeps the order they happened in.
            created=now + timedelta(microseconds=offset),
        )
        session.add(row)
        rows.append(row)
        plans.append(_current_plan(behaviour))
    if behaviour is not None and behaviour.remaining is not None and behaviour.remaining <= 0:
        await repository.delete_behaviour(session, config.key_id)
    await session.flush()
    if config.webhook_url is not None:
        await _schedule(session, config, rows, plans, now)
    return rows


async def _schedule(
    session: AsyncSession,
    config: SandboxConfig,
    rows: list[SandboxEvent],
    plans: list[_Plan],
    now: datetime,
) -> None:
    assert config.webhook_url is not None
    shuffled = [index for index, plan in enumerate(plans) if plan.shuffle and not plan.drop]
    shuffled_delays = _shuffled_delays(len(shuffled), config.webhook_shuffle_window_seconds, _rng)
    # Unshuffled events are due now, a few microseconds apart so the worker (which claims by
    # run_at) takes them in the order they happened.
    delays = {index: timedelta(microseconds=index * 16) for index in range(len(rows))}
    delays.update(zip(shuffled, shuffled_delays, strict=True))
    deadline = now.timestamp() + config.webhook_retry_window_seconds
    for index, (row, plan) in enumerate(zip(rows, plans, strict=True)):
        if plan.drop:
            session.add(_delivery(config, row, 0, "dropped", now, now))
            continue
        for copy in range(plan.duplicate + 1):
            run_at = now + delays[index] + timedelta(microseconds=copy)
            delivery = _delivery(config, row, copy, "pending", run_at, now)
            session.add(delivery)
            await session.flush()
            await enqueue(
                session,
                DELIVERY_JOB,
                {
                    "delivery_id": delivery.id,
                    "timeout_seconds": config.webhook_timeout_seconds,
                    "deadline": deadline,
                },
                run_at=run_at,
                max_attempts=config.webhook_max_attempts,
            )


def _delivery(
    config: SandboxConfig,
    event: SandboxEvent,
    copy: int,
    status: str,
    scheduled_at: datetime,
    now: datetime,
) -> SandboxWebhookDelivery:
    assert config.webhook_url is not None
    return SandboxWebhookDelivery(
        key_id=config.key_id,
        event_id=event.id,
        copy=copy,
        url=config.webhook_url,
        status=status,
        attempts=0,
        scheduled_at=scheduled_at,
        created=now,
    )


# ---- sending ------------------------------------------------------------------------------------

_in_process: dict[str, ASGIApp] = {}


def register_in_process_target(url_prefix: str, app: ASGIApp) -> None:
    """Deliveries to URLs under `url_prefix` go to `app` through ASGI, not the network."""
    _in_process[url_prefix.rstrip("/")] = app


def unregister_in_process_target(url_prefix: str, app: ASGIApp | None = None) -> None:
    prefix = url_prefix.rstrip("/")
    if app is None or _in_process.get(prefix) is app:
        _in_process.pop(prefix, None)


@contextmanager
def in_process_target(url_prefix: str, app: ASGIApp) -> Iterator[None]:
    previous = _in_process.get(url_prefix.rstrip("/"))
    register_in_process_target(url_prefix, app)
    try:
        yield
    finally:
        unregister_in_process_target(url_prefix, app)
        if previous is not None:
            register_in_process_target(url_prefix, previous)


def in_process_app(url: str) -> tuple[ASGIApp, str] | None:
    """The registered app for `url` (longest matching prefix) and that prefix's path."""
    best: tuple[ASGIApp, str] | None = None
    best_length = -1
    for prefix, app in _in_process.items():
        boundary = url[len(prefix) : len(prefix) + 1]
        if url.startswith(prefix) and boundary in ("", "/", "?") and len(prefix) > best_length:
            best, best_length = (app, urlsplit(prefix).path.rstrip("/")), len(prefix)
    return best


@dataclass(frozen=True)
class SendResult:
    status_code: int | None
    error: str | None
    duration_ms: int

    @property
    def ok(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


def delivery_headers(event: SandboxEvent) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "X-Razorpay-Signature": event.signature,
        "X-Razorpay-Event-Id": event.id,
        "User-Agent": USER_AGENT,
    }


async def send(
    url: str, body: bytes, headers: dict[str, str], timeout_seconds: float
) -> SendResult:
    """POST once; a response slower than the timeout counts as a failure (Razorpay: 5 s)."""
    timeout = timeout_seconds
    started = time.perf_counter()
    target = in_process_app(url)
    try:
        if target is not None:
            app, root_path = target
            transport = httpx.ASGITransport(app=app, root_path=root_path)
            async with (
                httpx.AsyncClient(transport=transport) as client,
                asyncio.timeout(timeout),
            ):
                response = await client.post(url, content=body, headers=headers)
        else:
            async with httpx.AsyncClient(timeout=timeout, follow_redirects=False) as client:
                response = await client.post(url, content=body, headers=headers)
        status, error = response.status_code, None
    except TimeoutError:
        status, error = None, f"timed out after {timeout:g} s"
    except httpx.TimeoutException:
        status, error = None, f"timed out after {timeout:g} s"
    except Exception as exc:  # any failure to deliver is recorded and retried
        status, error = None, f"{type(exc).__name__}: {exc}"[:500]
    duration_ms = int((time.perf_counter() - started) * 1000)
    return SendResult(status, error, duration_ms)
