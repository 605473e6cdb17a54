"""Which code runs for each job kind, and which kinds run periodically.

Domain packages register their handlers in their own `jobs.py` at import time:

    from enrollpay.jobs import JobContext, job_handler, periodic

    @job_handler("notifications.send_email", max_attempts=8)
    async def send_email(ctx: JobContext) -> None: ...

    @periodic("payments.reconcile", interval_seconds=lambda s: s.RECONCILE_INTERVAL_SECONDS)
    async def reconcile(ctx: JobContext) -> None: ...

`discover_handlers()` imports every `enrollpay.<package>.jobs` module, so the worker process
(which imports nothing else) knows every kind, and no central list needs editing.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.config import Settings

if TYPE_CHECKING:
    from enrollpay.db.engine import Database

DEFAULT_MAX_ATTEMPTS = 10
DEFAULT_BACKOFF_BASE_SECONDS = 5.0
DEFAULT_BACKOFF_CAP_SECONDS = 3600.0
KIND_MAX_LENGTH = 100


class UnknownJobKind(LookupError):
    """Enqueueing a kind nobody handles is a programming error, caught at enqueue time."""


class PermanentJobError(Exception):
    """Raise from a handler when retrying cannot help (e.g. the payload names a row that is
    gone): the job goes straight to `dead` with this message."""


@dataclass(frozen=True)
class JobContext:
    """What a handler gets.

    `session` is the transaction that also marks the job done: DB work done through it commits
    exactly when the job completes and is rolled back if the handler raises or the lease was
    lost. Never commit it yourself. For multi-phase work (commit, call the gateway, commit) use
    `db.transaction()` phases instead and touch `session` only afterwards — on SQLite a write
    through `session` holds the database's write lock until the job completes.
    """

    job_id: str
    kind: str
    payload: dict[str, Any]
    attempt: int  # 1 on the first run
    max_attempts: int
    session: AsyncSession
    db: Database
    settings: Settings

    @property
    def is_last_attempt(self) -> bool:
        return self.attempt >= self.max_attempts


Handler = Callable[[JobContext], Awaitable[None]]
H = TypeVar("H", bound=Handler)
Interval = int | Callable[[Settings], int]


@dataclass(frozen=True)
class JobSpec:
    kind: str
    handler: Handler
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    backoff_base_seconds: float = DEFAULT_BACKOFF_BASE_SECONDS
    backoff_cap_seconds: float = DEFAULT_BACKOFF_CAP_SECONDS


@dataclass(frozen=True)
class Schedule:
    """Enqueue `name` once per `interval` slot (slot = floor(epoch seconds / interval))."""

    name: str
    interval: Interval  # seconds, or read from settings when the worker starts ticking

    def interval_seconds(self, settings: Settings) -> int:
        seconds = self.interval(settings) if callable(self.interval) else self.interval
        if seconds < 1:
            raise ValueError(f"periodic job {self.name!r}: interval must be at least 1 second")
        return int(seconds)


class JobRegistry:
    def __init__(self) -> None:
        self._specs: dict[str, JobSpec] = {}
        self._schedules: dict[str, Schedule] = {}

    def register(
        self,
        kind: str,
        handler: Handler,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_base_seconds: float = DEFAULT_BACKOFF_BASE_SECONDS,
        backoff_cap_seconds: float = DEFAULT_BACKOFF_CAP_SECONDS,
    ) -> JobSpec:
        if not kind or len(kind) > KIND_MAX_LENGTH:
            raise ValueError(f"job kind must be 1 to {KIND_MAX_LENGTH} characters: {kind!r}")
        if max_attempts < 1:
            raise ValueError("max_attempts must be at least 1")
        existing = self._specs.get(kind)
        if existing is not None and existing.handler is not handler:
            raise ValueError(f"job kind {kind!r} is already registered to {existing.handler!r}")
        spec = JobSpec(kind, handler, max_attempts, backoff_base_seconds, backoff_cap_seconds)
        self._specs[kind] = spec
        return spec

    def handler(
        self,
        kind: str,
        *,
        max_attempts: int = DEFAULT_MAX_ATTEMPTS,
        backoff_base_seconds: float = DEFAULT_BACKOFF_BASE_SECONDS,
        backoff_cap_seconds: float = DEFAULT_BACKOFF_CAP_SECONDS,
    ) -> Callable[[H], H]:
        """Decorator form of `register`."""

        def decorate(func: H) -> H:
            self.register(
                kind,
                func,
                max_attempts=max_attempts,
                backoff_base_seconds=backoff_base_seconds,
                backoff_cap_seconds=backoff_cap_seconds,
            )
            return func

        return decorate

    def periodic(
        self,
        name: str,
        interval_seconds: Interval,
        *,
        max_attempts: int = 1,
    ) -> Callable[[H], H]:
        """Decorator: register a handler for `name` and enqueue it once per interval slot.

        One attempt by default: the next slot is the retry, and a sweep that is retried with
        backoff could otherwise overlap the next slot's run. Handlers must still tolerate
        overlapping runs (a slow sweep may still be running when the next slot starts)."""
        if not callable(interval_seconds) and interval_seconds < 1:
            raise ValueError(f"periodic job {name!r}: interval must be at least 1 second")

        def decorate(func: H) -> H:
            self.register(name, func, max_attempts=max_attempts)
            self._schedules[name] = Schedule(name, interval_seconds)
            return func

        return decorate

    def unregister(self, kind: str) -> None:
        self._specs.pop(kind, None)
        self._schedules.pop(kind, None)

    def get(self, kind: str) -> JobSpec | None:
        return self._specs.get(kind)

    def require(self, kind: str) -> JobSpec:
        spec = self._specs.get(kind)
        if spec is None and self is registry:
            discover_handlers()  # the kind's module may not have been imported in this process
            spec = self._specs.get(kind)
        if spec is None:
            raise UnknownJobKind(f"no handler is registered for job kind {kind!r}")
        return spec

    def kinds(self) -> list[str]:
        return sorted(self._specs)

    def schedules(self) -> list[Schedule]:
        return list(self._schedules.values())

    @contextmanager
    def isolated(self, *, without_schedules: bool = False) -> Iterator[JobRegistry]:
        """For tests: registrations made inside the block are forgotten when it ends.
        `without_schedules`: the application's periodic jobs are not enqueued inside it
        (tests of the worker itself count exactly which jobs ran).

        The application's own handlers are discovered first so they survive the restore."""
        if self is registry:
            discover_handlers()
        specs, schedules = dict(self._specs), dict(self._schedules)
        if without_schedules:
            self._schedules = {}
        try:
            yield self
        finally:
            self._specs, self._schedules = specs, schedules


registry = JobRegistry()
job_handler = registry.handler
periodic = registry.periodic

_discovered = False


def discover_handlers() -> None:
    """Import every `enrollpay.<package>.jobs` module once (they register into `registry`)."""
    global _discovered
    if _discovered:
        return
    import enrollpay

    for module in pkgutil.iter_modules(enrollpay.__path__):
        name = f"enrollpay.{module.name}.jobs"
        if module.ispkg and module.name != "jobs" and importlib.util.find_spec(name) is not None:
            importlib.import_module(name)
    importlib.import_module("enrollpay.jobs.housekeeping")  # the jobs package's own sweep
    _discovered = True
