"""Periodic schedules: each interval slot is enqueued exactly once, however many workers tick."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
import time_machine
from sqlalchemy import select

from enrollpay.jobs import JobContext, periodic, registry
from enrollpay.jobs.models import Job
from enrollpay.jobs.registry import Schedule
from enrollpay.jobs.worker import JobOutcome

SLOT_START = datetime(2030, 1, 1, 12, 0, tzinfo=UTC)  # a multiple of 60 s since the epoch


async def _periodic_jobs(db) -> list[Job]:
    async with db.sessionmaker() as session:
        rows = await session.execute(select(Job).where(Job.kind == "test.sweep").order_by(Job.id))
        return list(rows.scalars())


async def test_each_slot_is_enqueued_once_across_workers(jobs_db, make_worker, settings):
    seen_slots: list[int] = []

    @periodic("test.sweep", interval_seconds=60)
    async def sweep(ctx: JobContext) -> None:
        seen_slots.append(ctx.payload["slot"])

    slot = int(SLOT_START.timestamp()) // 60
    with time_machine.travel(SLOT_START.replace(second=5), tick=False) as clock:
        workers = [make_worker(name=f"w{i}") for i in range(4)]
        await asyncio.gather(*(w.tick_schedules() for w in workers))
        await asyncio.gather(*(w.tick_schedules() for w in workers))  # again, same slot
        # Fresh workers (no memory of the slot) must be stopped by the database alone.
        late = [make_worker(name=f"late{i}") for i in range(3)]
        await asyncio.gather(*(w.tick_schedules() for w in late))
        jobs = await _periodic_jobs(jobs_db)
        assert [job.dedupe_key for job in jobs] == [f"test.sweep@{slot}"]
        assert jobs[0].max_attempts == 1  # the next slot is the retry

        clock.shift(50)  # 12:00:55, still the same slot
        await asyncio.gather(*(w.tick_schedules() for w in workers + late))
        assert len(await _periodic_jobs(jobs_db)) == 1

        clock.shift(10)  # 12:01:05, the next slot
        await asyncio.gather(*(w.tick_schedules() for w in workers + late))
        jobs = await _periodic_jobs(jobs_db)
        assert [job.dedupe_key for job in jobs] == [
            f"test.sweep@{slot}",
            f"test.sweep@{slot + 1}",
        ]

        assert await workers[0].run_once() == [JobOutcome.done, JobOutcome.done]
    assert sorted(seen_slots) == [slot, slot + 1]


async def test_interval_can_come_from_settings(jobs_db, make_worker, settings):
    @periodic("test.sweep", interval_seconds=lambda s: s.RECONCILE_INTERVAL_SECONDS)
    async def sweep(ctx: JobContext) -> None:
        return None

    interval = settings.RECONCILE_INTERVAL_SECONDS
    with time_machine.travel(SLOT_START, tick=False):
        await make_worker().tick_schedules()
    [job] = await _periodic_jobs(jobs_db)
    assert job.payload == {
        "slot": int(SLOT_START.timestamp()) // interval,
        "interval_seconds": interval,
    }


def test_schedule_rejects_intervals_below_one_second(settings):
    with pytest.raises(ValueError):
        periodic("test.too_fast", interval_seconds=0)
    with pytest.raises(ValueError):
        Schedule("test.bad", lambda s: 0).interval_seconds(settings)


def test_registry_refuses_a_second_handler_for_a_kind():
    async def one(ctx: JobContext) -> None: ...

    async def other(ctx: JobContext) -> None: ...

    registry.register("test.kind", one)
    registry.register("test.kind", one)  # re-importing the same module is fine
    with pytest.raises(ValueError, match="already registered"):
        registry.register("test.kind", other)


def test_isolated_registry_forgets_test_registrations():
    async def handler(ctx: JobContext) -> None: ...

    with registry.isolated():
        registry.register("test.temporary", handler)
        assert registry.get("test.temporary") is not None
    assert registry.get("test.temporary") is None
