"""Shared fixtures: every test that asks for `backend` (directly or through `settings`, `app`,
`client`, `db`) runs once on SQLite and once on PostgreSQL when TEST_DATABASE_URL is set.

Each backend is migrated to head once per run (so every run exercises the migrations), and every
table is emptied after each test, so tests can commit freely and run real concurrency."""

from __future__ import annotations

import functools
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from pwdlib import PasswordHash
from sqlalchemy import create_engine, text
from sqlalchemy.engine import Engine

from enrollpay.app import create_app
from enrollpay.auth import passwords
from enrollpay.auth.tokens import issue_access_token
from enrollpay.config import Settings, load_settings
from enrollpay.db.engine import Database
from enrollpay.db.migrate import upgrade
from enrollpay.users.models import Role, User
from enrollpay.users.service import create_user

TEST_SECRET_KEY = "test-secret-key-for-enrollpay-tests-0123456789"
TEST_PASSWORD = "correct horse battery"


def full_size() -> bool:
    """`TEST_SIZE=full`: the proof suites (model-based, fuzzing, faults) run at full size; CI
    and a plain `pytest` run them small, to keep the suite fast."""
    return os.environ.get("TEST_SIZE") == "full"


def _postgres_url() -> str | None:
    return os.environ.get("TEST_DATABASE_URL") or None


class _RememberingHasher(PasswordHash):
    """argon2id costs a tenth of a second of CPU per hash and per check, and almost every test
    makes users with the same password: each distinct (password) hash and (password, hash)
    check is computed once per process, for real, and remembered. Two users with one password
    share a salt here; nothing in the product depends on salts differing."""

    @functools.cache  # noqa: B019 (one hasher for the whole run)
    def hash(self, password: str | bytes, *, salt: bytes | None = None) -> str:
        return super().hash(password, salt=salt)

    @functools.cache  # noqa: B019
    def verify(self, password: str | bytes, hash: str | bytes) -> bool:
        return super().verify(password, hash)


def pytest_configure(config: pytest.Config) -> None:
    passwords._hasher = _RememberingHasher(passwords._hasher.hashers)
    if os.environ.get("CI") == "true" and not _postgres_url():
        raise pytest.UsageError(
            "CI=true needs TEST_DATABASE_URL: PostgreSQL tests may not be skipped"
        )
    worker = os.environ.get("PYTEST_XDIST_WORKER")  # gw0, gw1, … under `pytest -n`
    url = _postgres_url()
    if worker and url:
        # Each xdist worker has a database of its own: workers never empty each other's tables.
        os.environ["TEST_DATABASE_URL"] = sibling_database(url, worker)


def sibling_database(url: str, suffix: str) -> str:
    """The PostgreSQL database `<name>_<suffix>` next to `url`'s, created on first use: for
    tests whose subprocesses own a database of their own."""
    base, name = url.rsplit("/", 1)
    sibling = f"{name}_{suffix}"
    engine = create_engine(_sync_url(url), isolation_level="AUTOCOMMIT")
    with engine.connect() as conn:
        exists = conn.execute(
            text("SELECT 1 FROM pg_database WHERE datname = :name"), {"name": sibling}
        ).scalar()
        if not exists:
            conn.exec_driver_sql(f'CREATE DATABASE "{sibling}"')
    engine.dispose()
    return f"{base}/{sibling}"


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend" in metafunc.fixturenames:
        backends = ["sqlite"] + (["postgresql"] if _postgres_url() else [])
        if metafunc.definition.get_closest_marker("postgresql_only"):
            # Behaviour SQLite does not have (row locks): generated for PostgreSQL alone.
            backends = ["postgresql"] if _postgres_url() else []
            if not backends:
                metafunc.parametrize(
                    "backend",
                    [
                        pytest.param(
                            "postgresql", marks=pytest.mark.skip(reason="needs TEST_DATABASE_URL")
                        )
                    ],
                )
                return
        metafunc.parametrize("backend", backends, scope="function")


def make_settings(database_url: str, var_dir: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "_env_file": None,
        "DATABASE_URL": database_url,
        "SECRET_KEY": TEST_SECRET_KEY,
        "EMBEDDED_WORKER": False,
        "RATE_LIMIT_STORAGE": "memory://",
        "VAR_DIR": var_dir,
        "LOG_LEVEL": "WARNING",
        "DATABASE_POOL_SIZE": 5,
    }
    values.update(overrides)
    return load_settings(**values)


def _sync_url(database_url: str) -> str:
    if database_url.startswith("sqlite"):
        return "sqlite:///" + database_url.split(":///", 1)[1]
    return "postgresql+psycopg://" + database_url.split("://", 1)[1]


def _user_tables(engine: Engine) -> list[str]:
    with engine.connect() as conn:
        if engine.dialect.name == "sqlite":
            rows = conn.execute(
                text(
                    "SELECT name FROM sqlite_master WHERE type='table' AND name NOT LIKE 'sqlite_%'"
                )
            )
        else:
            rows = conn.execute(text("SELECT tablename FROM pg_tables WHERE schemaname = 'public'"))
        return [name for (name,) in rows if name != "alembic_version"]


def empty_all_tables(engine: Engine) -> None:
    tables = _user_tables(engine)
    if not tables:
        return
    with engine.begin() as conn:
        if engine.dialect.name == "sqlite":
            conn.exec_driver_sql("PRAGMA foreign_keys=OFF")
            for table in tables:
                conn.exec_driver_sql(f'DELETE FROM "{table}"')
        else:
            quoted = ", ".join(f'"{t}"' for t in tables)
            conn.exec_driver_sql(f"TRUNCATE TABLE {quoted} RESTART IDENTITY CASCADE")


def drop_everything(postgres_url: str) -> None:
    """An empty `public` schema: every table, type and migration record gone."""
    engine = create_engine(_sync_url(postgres_url))
    with engine.begin() as conn:
        conn.exec_driver_sql("DROP SCHEMA public CASCADE")
        conn.exec_driver_sql("CREATE SCHEMA public")
    engine.dispose()


@dataclass
class MigratedDatabase:
    url: str
    engine: Engine


@pytest.fixture(scope="session")
def _sqlite_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigratedDatabase]:
    path = tmp_path_factory.mktemp("sqlite") / "enrollpay-test.db"
    url = f"sqlite:///{path}"
    upgrade(make_settings(url, path.parent))
    engine = create_engine(_sync_url(url))
    yield MigratedDatabase(url, engine)
    engine.dispose()


@pytest.fixture(scope="session")
def _postgresql_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MigratedDatabase]:
    url = _postgres_url()
    assert url, "TEST_DATABASE_URL is not set"
    drop_everything(url)  # start from nothing: the run proves the migrations
    engine = create_engine(_sync_url(url))
    upgrade(make_settings(url, tmp_path_factory.mktemp("pg-var")))
    yield MigratedDatabase(url, engine)
    engine.dispose()


@pytest.fixture
def database(backend: str, request: pytest.FixtureRequest) -> Iterator[MigratedDatabase]:
    migrated: MigratedDatabase = request.getfixturevalue(f"_{backend}_database")
    empty_all_tables(migrated.engine)
    yield migrated
    empty_all_tables(migrated.engine)


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    """Override in a test module (or parametrize) to change settings for the app under test."""
    return {}


@pytest.fixture
def settings(
    database: MigratedDatabase, tmp_path: Path, settings_overrides: dict[str, Any]
) -> Settings:
    return make_settings(database.url, tmp_path, **settings_overrides)


@pytest.fixture
async def app(settings: Settings) -> AsyncIterator[Any]:
    application = create_app(settings)
    async with LifespanManager(application):
        yield application


@pytest.fixture
async def client(app: Any) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as c:
        yield c


@pytest.fixture
def db(app: Any) -> Database:
    """The app's own Database, for arranging and checking rows directly."""
    database: Database = app.state.db
    return database


MakeUser = Callable[..., Awaitable[tuple[User, dict[str, str]]]]


async def user_with_headers(
    db: Database,
    settings: Settings,
    *,
    email: str,
    full_name: str,
    role: Role = Role.learner,
    password: str | None = None,
) -> tuple[User, dict[str, str]]:
    """A user written in its own transaction, and its bearer headers."""
    async with db.transaction() as session:
        user = await create_user(
            session, email=email, password=password, full_name=full_name, role=role
        )
    token = issue_access_token(settings, user.id).token
    return user, {"Authorization": f"Bearer {token}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
def make_user(db: Database, settings: Settings) -> MakeUser:
    """`user, headers = await make_user(role=Role.admin)`: a user and its auth headers."""
    counter = 0

    async def _make(
        role: Role = Role.learner, email: str | None = None, password: str | None = TEST_PASSWORD
    ) -> tuple[User, dict[str, str]]:
        nonlocal counter
        counter += 1
        return await user_with_headers(
            db,
            settings,
            email=email or f"user{counter}@example.com",
            full_name=f"Test User {counter}",
            role=role,
            password=password,
        )

    return _make


@pytest.fixture
async def admin_headers(make_user: MakeUser) -> dict[str, str]:
    _, headers = await make_user(role=Role.admin, email="admin@example.com")
    return headers


@pytest.fixture
async def learner_headers(make_user: MakeUser) -> dict[str, str]:
    _, headers = await make_user(email="learner@example.com")
    return headers


def assert_error(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """The SPEC envelope with the expected status and code; returns the error object."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}, body
    error = body["error"]
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    assert "hint" in error and "details" in error
    return error
