"""Admin helpers (stats, retry of dead jobs) and the migration that creates the table."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import time_machine
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import Table, create_engine, inspect
from sqlalchemy.pool import NullPool

from enrollpay.db.migrate import downgrade, upgrade
from enrollpay.db.models import Base
from enrollpay.jobs import enqueue, repository
from enrollpay.jobs.models import JobStatus
from enrollpay.jobs.worker import JobOutcome
from enrollpay.kit.clock import utcnow
from tests.conftest import make_settings
from tests.jobs.support import load_job

NOW = datetime(2030, 5, 1, 9, 30, tzinfo=UTC)


async def test_stats_count_states_and_measure_the_backlog(jobs_db, make_worker, recorder):
    with time_machine.travel(NOW, tick=False):
        async with jobs_db.sessionmaker() as session:
            empty = await repository.stats(session, now=utcnow())
        assert (empty.pending, empty.running, empty.dead, empty.oldest_due_age_seconds) == (
            0,
            0,
            0,
            None,
        )
        recorder.fail_times = 99
        async with jobs_db.transaction() as session:
            await enqueue(session, "test.record", {}, max_attempts=1)  # will die
        assert await make_worker().run_once() == [JobOutcome.dead]
        async with jobs_db.transaction() as session:
            await enqueue(session, "test.record", {}, run_at=NOW - timedelta(minutes=5))
            await enqueue(session, "test.record", {}, run_at=NOW - timedelta(seconds=30))
            await enqueue(session, "test.record", {}, run_at=NOW + timedelta(hours=1))
            await repository.claim(
                session, now=NOW, limit=1, lease_seconds=60, lease_token="t" * 32, locked_by="x"
            )  # takes the 5-minute-old one
        async with jobs_db.sessionmaker() as session:
            stats = await repository.stats(session, now=utcnow())
    assert (stats.pending, stats.running, stats.dead) == (2, 1, 1)
    assert stats.oldest_due_age_seconds == 30  # the future job is not late


async def test_retry_dead_gives_a_fresh_set_of_attempts(jobs_db, make_worker, recorder):
    recorder.fail_times = 99
    async with jobs_db.transaction() as session:
        job_id = await enqueue(session, "test.record", {}, max_attempts=1)
        pending_id = await enqueue(session, "test.record", {}, delay=3600)
    assert job_id is not None and pending_id is not None
    assert await make_worker().run_once() == [JobOutcome.dead]

    async with jobs_db.transaction() as session:
        assert await repository.retry_dead(session, job_id, now=utcnow()) is True
        assert await repository.retry_dead(session, job_id, now=utcnow()) is False  # not dead now
        assert await repository.retry_dead(session, pending_id, now=utcnow()) is False
        assert await repository.retry_dead(session, "job_missing", now=utcnow()) is False
    job = await load_job(jobs_db, job_id)
    assert (job.status, job.attempts, job.finished_at) == (JobStatus.pending, 0, None)
    assert job.last_error == "ValueError: boom on attempt 1"  # kept until it runs again

    recorder.fail_times = 0
    assert await make_worker().run_once() == [JobOutcome.done]
    assert (await load_job(jobs_db, job_id)).status == JobStatus.done


def _diff_table(diff) -> str | None:
    if isinstance(diff, list):  # modify_* diffs: (op, schema, table, column, ...)
        return diff[0][2]
    if diff[0] in ("add_column", "remove_column"):
        return diff[2]
    obj = diff[1]
    if isinstance(obj, Table):
        return obj.name
    table = getattr(obj, "table", None)
    return table.name if table is not None else None


def test_migration_matches_the_model(database):
    with database.engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        diffs = [d for d in compare_metadata(context, Base.metadata) if _diff_table(d) == "jobs"]
        columns = {c["name"] for c in inspect(connection).get_columns("jobs")}
    assert diffs == []
    assert set(Base.metadata.tables["jobs"].columns.keys()) == columns


def test_migration_downgrades_and_upgrades_again(tmp_path):
    url = f"sqlite:///{tmp_path / 'jobs-migration.db'}"
    settings = make_settings(url, tmp_path)
    engine = create_engine(url, poolclass=NullPool)  # every inspection sees the new schema
    try:
        upgrade(settings, "0002_jobs")
        assert "jobs" in inspect(engine).get_table_names()
        downgrade(settings, "0001_users")
        assert "jobs" not in inspect(engine).get_table_names()
        upgrade(settings, "0002_jobs")
        indexes = {ix["name"] for ix in inspect(engine).get_indexes("jobs")}
        assert "ix_jobs_status_run_at" in indexes
    finally:
        engine.dispose()
