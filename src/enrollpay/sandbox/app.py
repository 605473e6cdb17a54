"""The sandbox as an ASGI app: mounted in enrollpay (`create_sandbox_app`) or alone
(`create_standalone_app`, `enrollpay sandbox`).

Layout inside the app: REST at `/v1/…`, the control API at `/_sandbox/…`, the Checkout stand-in
(checkout.py) at `/checkout.js` and what it calls. Every answer, errors included, is in
Razorpay's shape — never enrollpay's envelope — and unknown URLs are Razorpay's 400.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from enrollpay.config import Settings
from enrollpay.db.engine import Database
from enrollpay.sandbox import api, checkout, control
from enrollpay.sandbox.config import SandboxConfig, register_active
from enrollpay.sandbox.errors import install_error_handlers
from enrollpay.sandbox.faults import FaultMiddleware


def create_sandbox_app(
    config: SandboxConfig,
    *,
    database: Callable[[], Database],
    lifespan: Callable[[FastAPI], AsyncIterator[None]] | None = None,
) -> FastAPI:
    """`database` is called per request: a mounted sandbox uses its parent's Database, which
    exists only once the parent's lifespan has started."""
    app = FastAPI(
        title="Razorpay sandbox",
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        redirect_slashes=False,
        lifespan=asynccontextmanager(lifespan) if lifespan else None,
    )
    app.state.config = config
    app.state.database = database
    register_active(config)
    install_error_handlers(app)
    app.include_router(api.router)
    app.include_router(control.router)
    app.include_router(checkout.router)
    app.add_middleware(FaultMiddleware)
    return app


def create_standalone_app(
    settings: Settings, config: SandboxConfig, *, run_worker: bool = True
) -> FastAPI:
    """The sandbox alone at the root, with its own Database (from DATABASE_URL) and its own
    job worker for webhook deliveries."""
    from enrollpay.logging import configure_logging

    configure_logging(settings.LOG_LEVEL)
    state: dict[str, Database] = {}

    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        from enrollpay.jobs.worker import Worker

        db = Database(settings)
        state["db"] = db
        worker = Worker(db, settings) if run_worker else None
        if worker is not None:
            await worker.start()
        try:
            yield
        finally:
            if worker is not None:
                await worker.stop()
            await db.dispose()

    def database() -> Database:
        return state["db"]

    return create_sandbox_app(config, database=database, lifespan=lifespan)
