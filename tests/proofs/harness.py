"""Hosting the real app for a hypothesis state machine.

Hypothesis state machines are synchronous, so the app lives on one event loop (an
`asyncio.Runner`) kept for the machine's life: its lifespan runs in one long-lived task (entered
and left in the same task, as `LifespanManager` needs), and every rule runs its async calls
through `run`. Each machine instance gets emptied tables and a fresh app, so examples never see
each other's rows, rate limits or caches."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from pathlib import Path
from typing import Any, TypeVar

import httpx
from asgi_lifespan import LifespanManager

from enrollpay.app import create_app
from enrollpay.config import Settings
from enrollpay.db.engine import Database
from enrollpay.users.models import Role
from tests.conftest import (
    MigratedDatabase,
    empty_all_tables,
    make_settings,
    user_with_headers,
)

T = TypeVar("T")


class AppHarness:
    """The real ASGI app (with the built-in sandbox) on a loop of its own."""

    def __init__(self, migrated: MigratedDatabase, var_dir: Path, **overrides: Any) -> None:
        empty_all_tables(migrated.engine)
        self.engine = migrated.engine  # sync, for reading rows in invariants
        self.settings: Settings = make_settings(migrated.url, var_dir, **overrides)
        self.app: Any = create_app(self.settings)
        self.runner = asyncio.Runner()
        self._stop: asyncio.Event | None = None
        self._host: asyncio.Task[None] | None = None
        self.client: httpx.AsyncClient | None = None
        self._users = 0
        try:
            self.run(self._start())
        except BaseException:
            self.runner.close()
            raise

    # ---- lifecycle -----------------------------------------------------------------------------

    async def _serve(self, ready: asyncio.Event) -> None:
        assert self._stop is not None
        async with LifespanManager(self.app):
            ready.set()
            await self._stop.wait()

    async def _start(self) -> None:
        ready = asyncio.Event()
        self._stop = asyncio.Event()
        self._host = asyncio.get_running_loop().create_task(self._serve(ready))
        waiter = asyncio.ensure_future(ready.wait())
        done, _ = await asyncio.wait({self._host, waiter}, return_when=asyncio.FIRST_COMPLETED)
        if self._host in done:
            waiter.cancel()
            self._host.result()  # raises what the lifespan raised
            raise RuntimeError("the app's lifespan ended at start-up")
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        self.client = httpx.AsyncClient(transport=transport, base_url="http://testserver")

    async def _shutdown(self) -> None:
        if self.client is not None:
            await self.client.aclose()
        if self._stop is not None:
            self._stop.set()
        if self._host is not None:
            await self._host

    def close(self) -> None:
        try:
            self.run(self._shutdown())
        finally:
            self.runner.close()

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        return self.runner.run(coroutine)

    # ---- conveniences ----------------------------------------------------------------------------

    @property
    def db(self) -> Database:
        database: Database = self.app.state.db
        return database

    @property
    def http(self) -> httpx.AsyncClient:
        assert self.client is not None
        return self.client

    async def make_user(self, role: Role = Role.learner) -> tuple[str, dict[str, str]]:
        """A user (no password: no hashing) and its bearer headers."""
        self._users += 1
        user, headers = await user_with_headers(
            self.db,
            self.settings,
            email=f"model{self._users}@example.com",
            full_name=f"Model User {self._users}",
            role=role,
        )
        return user.id, headers
