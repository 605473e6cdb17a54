"""Where sandbox routes find their config and database.

The sandbox app keeps them on its own state: `config` (a SandboxConfig) and `database` (a
callable returning the Database — the parent app's when mounted, since a mounted sub-app gets no
lifespan of its own; its own when standalone). Routes of the sandbox (the Checkout stand-in too)
use `SandboxConfigDep` and `SandboxDatabaseDep`, or `app_config(request.app)`.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from enrollpay.db.engine import Database
from enrollpay.sandbox.config import SandboxConfig


def app_config(app: Any) -> SandboxConfig:
    config: SandboxConfig = app.state.config
    return config


def app_database(app: Any) -> Database:
    database: Database = app.state.database()
    return database


def get_sandbox_config(request: Request) -> SandboxConfig:
    return app_config(request.app)


def get_sandbox_database(request: Request) -> Database:
    return app_database(request.app)


SandboxConfigDep = Annotated[SandboxConfig, Depends(get_sandbox_config)]
SandboxDatabaseDep = Annotated[Database, Depends(get_sandbox_database)]
