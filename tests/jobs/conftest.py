"""Fixtures for the jobs core: a Database of our own, workers with short polls and leases,
test-local handlers (forgotten after each test), and the effects side table."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from enrollpay.config import Settings
from enrollpay.db.engine import Database
from enrollpay.jobs import registry
from enrollpay.jobs.worker import Worker
from tests.jobs.support import Recorder, effects_metadata


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"WORKER_POLL_INTERVAL_SECONDS": 0.01, "WORKER_CONCURRENCY": 4}


@pytest.fixture(autouse=True)
def isolated_registry() -> Iterator[None]:
    """Handlers registered by a test are forgotten after it; the application's periodic jobs
    stay out of the way."""
    with registry.isolated(without_schedules=True):
        yield


@pytest.fixture
async def jobs_db(settings: Settings, database: Any) -> AsyncIterator[Database]:
    effects_metadata.create_all(database.engine)
    db = Database(settings)
    yield db
    await db.dispose()
    effects_metadata.drop_all(database.engine)


MakeWorker = Callable[..., Worker]


@pytest.fixture
async def make_worker(jobs_db: Database, settings: Settings) -> AsyncIterator[MakeWorker]:
    """`make_worker(name="a", db=other_db, lease_seconds=…)`; started workers are stopped."""
    workers: list[Worker] = []

    def _make(db: Database | None = None, **options: Any) -> Worker:
        options.setdefault("poll_interval", 0.01)
        options.setdefault("lease_seconds", 30)
        options.setdefault("shutdown_timeout", 5)
        worker = Worker(db or jobs_db, settings, **options)
        workers.append(worker)
        return worker

    yield _make
    await asyncio.gather(*(w.stop() for w in workers))


@pytest.fixture
def recorder() -> Recorder:
    rec = Recorder()
    registry.register("test.record", rec, max_attempts=3)
    return rec
