"""The ASGI application: `create_app(settings)` wires routers, middleware and lifespan."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from enrollpay import __version__
from enrollpay.abuse.endpoints import admin_router as admin_abuse_router
from enrollpay.admin.endpoints import admin_router as cross_domain_admin_router
from enrollpay.analytics.endpoints import admin_router as admin_analytics_router
from enrollpay.analytics.endpoints import router as analytics_router
from enrollpay.auth.endpoints import router as auth_router
from enrollpay.auth.ratelimit import RateLimiter
from enrollpay.config import Settings, load_settings
from enrollpay.courses.endpoints import admin_router as admin_courses_router
from enrollpay.courses.endpoints import router as courses_router
from enrollpay.db.engine import Database
from enrollpay.enrollments.endpoints import router as enrollments_router
from enrollpay.errors import COMMON_ERROR_RESPONSES, install_error_handlers
from enrollpay.health import router as health_router
from enrollpay.jobs.endpoints import admin_router as admin_jobs_router
from enrollpay.jobs.worker import Worker
from enrollpay.logging import configure_logging
from enrollpay.metrics import HttpMetricsMiddleware, Metrics
from enrollpay.metrics import router as metrics_router
from enrollpay.middleware import BodySizeLimitMiddleware, RequestIdMiddleware
from enrollpay.notifications.endpoints import dev_mailbox_router
from enrollpay.payments.gateway.factory import build_gateway
from enrollpay.platform.endpoints import admin_router as admin_platforms_router
from enrollpay.platform.endpoints import router as platform_router
from enrollpay.platform.outbound_endpoints import admin_router as admin_outbound_router
from enrollpay.platform.sso_endpoints import router as sso_router
from enrollpay.pricing.endpoints import admin_router as admin_coupons_router
from enrollpay.pricing.endpoints import router as pricing_router
from enrollpay.reconciliation.endpoints import admin_router as admin_reconciliation_router
from enrollpay.refunds.endpoints import admin_router as admin_refunds_router
from enrollpay.refunds.endpoints import router as refunds_router
from enrollpay.sandbox.webhooks import register_in_process_target, unregister_in_process_target
from enrollpay.web.account import router as account_pages_router
from enrollpay.web.admin import router as admin_pages_router
from enrollpay.web.admin.pages import install as install_admin_pages
from enrollpay.web.catalog import router as catalog_pages_router
from enrollpay.web.checkout_page import router as checkout_page_router
from enrollpay.web.learner import router as learner_pages_router
from enrollpay.web.paypage import router as paypage_router
from enrollpay.web.pwa import router as pwa_router
from enrollpay.web.session_pages import router as session_pages_router
from enrollpay.web.templating import STATIC_PATH, static_files
from enrollpay.webhooks.endpoints import admin_router as admin_webhooks_router
from enrollpay.webhooks.endpoints import router as webhooks_router

API_PREFIX = "/api/v1"


def create_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or load_settings()
    configure_logging(settings.LOG_LEVEL)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        db = Database(settings)
        app.state.db = db
        app.state.rate_limiter = RateLimiter(settings)
        app.state.gateway = build_gateway(
            settings, sandbox_app=app.state.sandbox_app, observer=app.state.metrics
        )
        if app.state.sandbox_app is not None:
            # Sandbox webhooks to our own URL are delivered in process (sandbox/webhooks.py).
            register_in_process_target(settings.PUBLIC_BASE_URL, app)
        worker = Worker(db, settings) if settings.embedded_worker else None
        if worker is not None:
            await worker.start()
        try:
            yield
        finally:
            if worker is not None:
                await worker.stop()
            if app.state.sandbox_app is not None:
                unregister_in_process_target(settings.PUBLIC_BASE_URL, app)
            await app.state.gateway.aclose()
            await app.state.rate_limiter.close()
            await db.dispose()

    app = FastAPI(
        title="enrollpay",
        version=__version__,
        summary="Course enrollment with Razorpay payments handled correctly.",
        lifespan=lifespan,
        openapi_url="/openapi.json",
        docs_url="/docs",
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.metrics = Metrics()
    install_error_handlers(app)
    install_admin_pages(app)

    _include_api(app)
    app.include_router(health_router)
    app.include_router(metrics_router)
    app.include_router(dev_mailbox_router(settings))
    app.include_router(paypage_router)
    app.include_router(account_pages_router)
    app.include_router(session_pages_router)
    app.include_router(catalog_pages_router)
    app.include_router(checkout_page_router)
    app.include_router(learner_pages_router)
    app.include_router(pwa_router)
    app.include_router(admin_pages_router)
    app.mount(STATIC_PATH, static_files(), name="static")
    _mount_sandbox(app, settings)

    # Added last = outermost: the size limit applies before anything reads the body, and the
    # request metrics time (and count) everything, 413s included.
    app.add_middleware(BodySizeLimitMiddleware, max_bytes=settings.MAX_REQUEST_BODY_BYTES)
    app.add_middleware(RequestIdMiddleware)
    app.add_middleware(HttpMetricsMiddleware, metrics=app.state.metrics, routes=app.routes)
    return app


# The /api/v1 routers, each included straight into the app: FastAPI (0.16x) matches an included
# router lazily and walks the whole tree of nested inclusions on every request, so one level of
# nesting is cheaper than an /api/v1 router holding them. The busiest routes come first.
_API_ROUTERS = (
    webhooks_router,
    courses_router,
    enrollments_router,
    auth_router,
    sso_router,
    analytics_router,
    pricing_router,
    refunds_router,
    platform_router,
)
_ADMIN_ROUTERS = (
    admin_courses_router,
    admin_coupons_router,
    admin_refunds_router,
    admin_reconciliation_router,
    admin_webhooks_router,
    admin_jobs_router,
    admin_platforms_router,
    admin_outbound_router,
    admin_analytics_router,
    admin_abuse_router,
    cross_domain_admin_router,
)


def _include_api(app: FastAPI) -> None:
    for router in _API_ROUTERS:
        app.include_router(router, prefix=API_PREFIX, responses=COMMON_ERROR_RESPONSES)
    for router in _ADMIN_ROUTERS:
        app.include_router(
            router, prefix=f"{API_PREFIX}/admin", tags=["admin"], responses=COMMON_ERROR_RESPONSES
        )


def _mount_sandbox(app: FastAPI, settings: Settings) -> None:
    """In sandbox mode only (no real keys): the built-in Razorpay sandbox at /sandbox/razorpay.
    A mounted app gets no lifespan, so it uses this app's Database."""
    app.state.sandbox_app = None
    app.state.sandbox_config = None
    if not settings.sandbox_mode:
        return
    from enrollpay.sandbox.app import create_sandbox_app
    from enrollpay.sandbox.config import SANDBOX_MOUNT_PATH, derive_sandbox_config

    config = derive_sandbox_config(settings)
    sandbox_app = create_sandbox_app(config, database=lambda: app.state.db)
    app.mount(SANDBOX_MOUNT_PATH, sandbox_app)
    app.state.sandbox_app = sandbox_app
    app.state.sandbox_config = config
