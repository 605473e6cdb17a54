"""Migrations: upgrade to head, match the models, downgrade one step and back, on both databases.

Runs on its own fresh database, never the shared test one."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url

from enrollpay.config import Settings
from enrollpay.db.migrate import alembic_config, downgrade, head_revisions, upgrade
from enrollpay.db.models import Base
from tests.conftest import _sync_url, make_settings


@pytest.fixture
def fresh_settings(backend: str, tmp_path) -> Iterator[Settings]:
    if backend == "sqlite":
        yield make_settings(f"sqlite:///{tmp_path}/migrations.db", tmp_path)
        return
    url = make_url(_sync_url(os.environ["TEST_DATABASE_URL"]))
    name = f"{url.database}_migrations"
    admin = create_engine(url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    fresh = os.environ["TEST_DATABASE_URL"].rsplit("/", 1)[0] + f"/{name}"
    yield make_settings(fresh, tmp_path)
    with admin.connect() as conn:
        conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    admin.dispose()


def _current(settings: Settings) -> set[str]:
    engine = create_engine(_sync_url(settings.DATABASE_URL))
    with engine.connect() as conn:
        heads = set(MigrationContext.configure(conn).get_current_heads())
    engine.dispose()
    return heads


def _schema_drift(settings: Settings) -> list:
    engine = create_engine(_sync_url(settings.DATABASE_URL))
    with engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        diff = compare_metadata(context, Base.metadata)
    engine.dispose()
    return diff


def test_single_linear_history():
    script = ScriptDirectory.from_config(alembic_config(Settings.model_construct()))
    assert len(script.get_heads()) == 1, "migrations must form one line (merge the heads)"


def test_upgrade_matches_models_and_downgrade_one_step(fresh_settings):
    upgrade(fresh_settings)
    assert _current(fresh_settings) == head_revisions()
    assert _schema_drift(fresh_settings) == [], "models and migrations disagree"

    script = ScriptDirectory.from_config(alembic_config(fresh_settings))
    head = script.get_revision(next(iter(head_revisions())))
    downgrade(fresh_settings, "-1")
    assert _current(fresh_settings) == ({head.down_revision} if head.down_revision else set())

    upgrade(fresh_settings)
    assert _current(fresh_settings) == head_revisions()

    downgrade(fresh_settings, "base")
    engine = create_engine(_sync_url(fresh_settings.DATABASE_URL))
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
