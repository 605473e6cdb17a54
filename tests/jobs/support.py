"""Helpers for the jobs tests: a side table handlers write to (their "DB work"), a recording
handler, and small queries."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Column, Integer, MetaData, String, Table, func, insert, select

from enrollpay.db.engine import Database
from enrollpay.jobs import JobContext
from enrollpay.jobs.models import Job

effects_metadata = MetaData()
# Not part of the schema: created and dropped around each test (see conftest.jobs_db).
effects = Table(
    "jobs_test_effects",
    effects_metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("job_id", String(32), nullable=False),
    Column("note", String(200), nullable=False),
)


@dataclass
class Recorder:
    """The `test.record` handler: counts invocations, writes an effect row in the job's own
    transaction, and fails its first `fail_times` attempts when asked to."""

    calls: Counter[str] = field(default_factory=Counter)
    fail_times: int = 0

    async def __call__(self, ctx: JobContext) -> None:
        self.calls[ctx.job_id] += 1
        await ctx.session.execute(
            insert(effects).values(job_id=ctx.job_id, note=ctx.payload.get("note", ""))
        )
        if ctx.attempt <= self.fail_times:
            raise ValueError(f"boom on attempt {ctx.attempt}")


async def effect_job_ids(db: Database) -> list[str]:
    async with db.sessionmaker() as session:
        rows = await session.execute(select(effects.c.job_id).order_by(effects.c.id))
        return list(rows.scalars())


async def load_job(db: Database, job_id: str) -> Job:
    async with db.sessionmaker() as session:
        job = await session.get(Job, job_id)
        assert job is not None
        return job


async def count_jobs(db: Database, **filters: Any) -> int:
    async with db.sessionmaker() as session:
        stmt = select(func.count()).select_from(Job).filter_by(**filters)
        return int((await session.execute(stmt)).scalar_one())


async def wait_until(predicate: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    """Poll an async predicate until true (real concurrency needs real, short, waits)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while not await predicate():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("condition not reached in time")
        await asyncio.sleep(0.02)
