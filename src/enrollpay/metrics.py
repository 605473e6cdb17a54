"""Prometheus metrics: `GET /metrics` and what it exposes.

Every app gets a registry of its own (`app.state.metrics`), never prometheus_client's global one,
so tests that build several apps in one process do not clash. Counters that the job worker
increments (which may run without any app: `enrollpay worker`) live in one process-wide registry
that every app's registry also exposes (`PROCESS_REGISTRY`).

Label choices:
- `http_request_duration_seconds{method, route, status}`: `route` is the route template
  (`/api/v1/enrollments/{enrollment_id}/verify-payment`), `unmatched` when nothing matched; a
  mounted app's routes get the mount prefix and a static mount is `/static/{path}`; never the
  raw path. `status` is
  the status class (`2xx` … `5xx`), which keeps the series few and is what alerts need.
- `enrollment_operation_duration_seconds{operation, success}` and the three
  `enrollment_operations_*_total{operation}` counters (SPEC §4.5): operations `initialize`,
  `verify`, `retry`, `cancel`, `refund` (the learner's) and `admin_refund`; success means the
  service call returned (whatever it answered), failure that it raised.
- `razorpay_webhook_events_total{event, outcome}`: outcome `accepted`, `duplicate` or
  `rejected_signature` (event `unknown`: an unsigned body is not read).
- `razorpay_api_request_duration_seconds{operation, outcome}` per HTTP exchange (each retry is
  one), outcome `success`, `rejected` (4xx) or `error`; `razorpay_api_errors_total{operation,
  kind}` with kind `timeout`, `network`, `rate_limited` (429), `5xx`, `4xx`, `invalid_response`.
- `jobs_pending`, `jobs_oldest_pending_age_seconds` (how late the most overdue due job is; 0 when
  none is due), `jobs_dead`: read from the database at scrape time.
- `reconciliation_repairs_total`: facts a reconciliation pass applied that nobody had reported.

Process-wide, counted by the job worker (embedded in `serve`, or `enrollpay worker`, which serves
them on WORKER_METRICS_PORT):
- `jobs_runs_total{kind, outcome}` (`done`, `retry`, `dead`, `lease_lost`) and
  `job_run_duration_seconds{kind}`;
- `job_razorpay_api_request_duration_seconds` / `job_razorpay_api_errors_total`: the Razorpay
  calls jobs make (captures, refunds, reconciliation), labelled like the request-side ones;
- `razorpay_webhook_events_processed_total{status}`: inbox events the processing job finished,
  by the row's resulting status (`processed`, `ignored`, `failed`).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager

import structlog
from fastapi import APIRouter, Request
from fastapi.responses import Response
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
    start_http_server,
)
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from starlette.routing import BaseRoute, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from enrollpay.db.engine import Database
from enrollpay.jobs import repository as jobs_repository
from enrollpay.kit.clock import utcnow

log = structlog.get_logger(__name__)

UNMATCHED_ROUTE = "unmatched"
UNKNOWN_EVENT = "unknown"
EVENT_LABEL_MAX_CHARS = 64

# ---- process-wide: what the job worker counts ----------------------------------------------

PROCESS_REGISTRY = CollectorRegistry(auto_describe=True)
RECONCILIATION_REPAIRS = Counter(
    "reconciliation_repairs",
    "Payment and refund facts a reconciliation pass applied that no webhook or verify had",
    registry=PROCESS_REGISTRY,
)


JOB_RUNS = Counter(
    "jobs_runs", "Job runs by kind and outcome", ["kind", "outcome"], registry=PROCESS_REGISTRY
)
JOB_RUN_DURATION = Histogram(
    "job_run_duration_seconds",
    "How long job runs took, by kind",
    ["kind"],
    registry=PROCESS_REGISTRY,
)
WEBHOOK_EVENTS_PROCESSED = Counter(
    "razorpay_webhook_events_processed",
    "Inbox events the processing job finished, by the row's resulting status",
    ["status"],
    registry=PROCESS_REGISTRY,
)


def record_reconciliation_repairs(count: int) -> None:
    if count > 0:
        RECONCILIATION_REPAIRS.inc(count)


def record_job_run(kind: str, outcome: str, seconds: float) -> None:
    JOB_RUNS.labels(kind, outcome).inc()
    JOB_RUN_DURATION.labels(kind).observe(seconds)


def record_webhook_processed(status: str) -> None:
    WEBHOOK_EVENTS_PROCESSED.labels(status).inc()


class GatewayCallMetrics:
    """`razorpay_api_request_duration_seconds` and `razorpay_api_errors_total` in one registry
    (with a name prefix for the job worker's calls, so both can be exposed together)."""

    def __init__(self, registry: CollectorRegistry, *, prefix: str = "") -> None:
        self.duration = Histogram(
            f"{prefix}razorpay_api_request_duration_seconds",
            "Razorpay API exchanges (each retry is one) by client operation and outcome",
            ["operation", "outcome"],
            registry=registry,
        )
        self.errors = Counter(
            f"{prefix}razorpay_api_errors",
            "Failed Razorpay API exchanges by client operation and kind",
            ["operation", "kind"],
            registry=registry,
        )

    def gateway_call(self, operation: str, seconds: float, error_kind: str | None) -> None:
        """Called by RazorpayClient after every HTTP exchange."""
        if error_kind is None:
            outcome = "success"
        else:
            outcome = "rejected" if error_kind == "4xx" else "error"
            self.errors.labels(operation, error_kind).inc()
        self.duration.labels(operation, outcome).observe(seconds)


# The observer of the job worker's Razorpay client (payments.gateway.factory.job_gateway).
JOB_GATEWAY_METRICS = GatewayCallMetrics(PROCESS_REGISTRY, prefix="job_")


class _ProcessMetrics(Collector):
    """Exposes PROCESS_REGISTRY's metrics through an app's registry."""

    def collect(self) -> Iterable[Metric]:
        return PROCESS_REGISTRY.collect()


class JobGauges:
    """`jobs_pending`, `jobs_oldest_pending_age_seconds`, `jobs_dead`, read from the database."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.pending = Gauge(
            "jobs_pending", "Pending jobs, due or scheduled for later", registry=registry
        )
        self.oldest_pending_age = Gauge(
            "jobs_oldest_pending_age_seconds",
            "How late the most overdue pending job is (0: none is due)",
            registry=registry,
        )
        self.dead = Gauge("jobs_dead", "Jobs that gave up (dead)", registry=registry)

    async def refresh(self, db: Database) -> None:
        async with db.transaction() as session:
            stats = await jobs_repository.stats(session, now=utcnow())
        self.pending.set(stats.pending)
        self.oldest_pending_age.set(stats.oldest_due_age_seconds or 0.0)
        self.dead.set(stats.dead)


class WorkerMetrics:
    """What `enrollpay worker` serves on WORKER_METRICS_PORT: the process-wide counters plus
    the job gauges, refreshed every `refresh_interval` seconds while it runs."""

    def __init__(self, db: Database, *, refresh_interval: float = 15.0) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.registry.register(_ProcessMetrics())
        self.jobs = JobGauges(self.registry)
        self._db = db
        self._refresh_interval = refresh_interval

    def serve(self, port: int) -> None:
        """Answer scrapes from a daemon thread (prometheus_client's own HTTP server)."""
        start_http_server(port, registry=self.registry)

    async def keep_jobs_fresh(self) -> None:
        while True:
            try:
                await self.jobs.refresh(self._db)
            except Exception as exc:  # scrapes still answer with the last values
                log.warning("metrics.jobs_unavailable", error=repr(exc))
            await asyncio.sleep(self._refresh_interval)


# ---- per app ------------------------------------------------------------------------------


class Metrics:
    """One app's metrics (app.state.metrics)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        registry = self.registry
        self.http_request_duration = Histogram(
            "http_request_duration_seconds",
            "HTTP requests by method, route template and status class",
            ["method", "route", "status"],
            registry=registry,
        )
        self.operation_duration = Histogram(
            "enrollment_operation_duration_seconds",
            "Enrollment operations (initialize, verify, retry, cancel, refund, admin_refund)",
            ["operation", "success"],
            registry=registry,
        )
        self.operations = Counter(
            "enrollment_operations", "Enrollment operations", ["operation"], registry=registry
        )
        self.operations_success = Counter(
            "enrollment_operations_success",
            "Enrollment operations whose service call returned",
            ["operation"],
            registry=registry,
        )
        self.operations_failure = Counter(
            "enrollment_operations_failure",
            "Enrollment operations whose service call raised",
            ["operation"],
            registry=registry,
        )
        self.webhook_events = Counter(
            "razorpay_webhook_events",
            "Razorpay webhook deliveries by event and outcome",
            ["event", "outcome"],
            registry=registry,
        )
        self.gateway = GatewayCallMetrics(registry)
        self.jobs = JobGauges(registry)
        registry.register(_ProcessMetrics())

    # ---- recording ------------------------------------------------------------------------

    @contextmanager
    def operation(self, operation: str) -> Iterator[None]:
        """`with metrics.operation("verify"): await service_call(...)`."""
        started = time.perf_counter()
        try:
            yield
        except Exception:
            self._operation_done(operation, started, success=False)
            raise
        self._operation_done(operation, started, success=True)

    def _operation_done(self, operation: str, started: float, *, success: bool) -> None:
        seconds = time.perf_counter() - started
        self.operation_duration.labels(operation, "true" if success else "false").observe(seconds)
        self.operations.labels(operation).inc()
        (self.operations_success if success else self.operations_failure).labels(operation).inc()

    def webhook_event(self, event: str | None, outcome: str) -> None:
        label = (event or UNKNOWN_EVENT)[:EVENT_LABEL_MAX_CHARS]
        self.webhook_events.labels(label, outcome).inc()

    def gateway_call(self, operation: str, seconds: float, error_kind: str | None) -> None:
        """Called by the app's RazorpayClient after every HTTP exchange."""
        self.gateway.gateway_call(operation, seconds, error_kind)

    async def refresh_jobs(self, db: Database) -> None:
        await self.jobs.refresh(db)


def metrics_of(request: Request) -> Metrics:
    metrics: Metrics = request.app.state.metrics
    return metrics


# ---- GET /metrics ---------------------------------------------------------------------------

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics_endpoint(request: Request) -> Response:
    metrics = metrics_of(request)
    try:
        await metrics.refresh_jobs(request.app.state.db)
    except Exception as exc:  # a scrape still answers; the job gauges keep their last values
        log.warning("metrics.jobs_unavailable", error=repr(exc))
    return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)


# ---- HTTP middleware ------------------------------------------------------------------------


def _included_route_templates(routes: Sequence[BaseRoute]) -> dict[int, str]:
    """Full templates by route object id. FastAPI (0.16x) includes routers lazily: the route in
    scope["route"] is the router's own object, whose path_format lacks the include prefixes."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # older FastAPI copies routes on include: path_format is complete
        return {}
    return {
        id(context.original_route): context.path_format
        for context in iter_route_contexts(routes)
        if context.path_format is not None
    }


class RouteTemplates:
    """Maps a request's matched route to its template, with any mount prefix; `unmatched` when
    nothing matched."""

    def __init__(self, routes: Sequence[BaseRoute]) -> None:
        self._routes = routes  # the app's (final by the first request)
        self._templates: dict[int, str] | None = None

    def __call__(self, scope: Scope, outer_root_path: str) -> str:
        route = scope.get("route")
        if route is None:
            return UNMATCHED_ROUTE
        if self._templates is None:
            self._templates = _included_route_templates(self._routes)
        # Inside a mounted app, root_path has grown by the mount's path.
        prefix = str(scope.get("root_path", ""))[len(outer_root_path) :]
        if isinstance(route, Mount):  # a mounted app that routes nothing itself (static files)
            return prefix + "/{path}"
        known = self._templates.get(id(route))
        if known is not None and not prefix:
            return known
        path_format = getattr(route, "path_format", None)
        return prefix + path_format if isinstance(path_format, str) else UNMATCHED_ROUTE


class HttpMetricsMiddleware:
    """Pure ASGI: times every HTTP request by method, route template and status class."""

    def __init__(self, app: ASGIApp, metrics: Metrics, routes: Sequence[BaseRoute]) -> None:
        self.app = app
        self.metrics = metrics
        self.route_template = RouteTemplates(routes)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        outer_root_path = str(scope.get("root_path", ""))
        status = 500  # an exception without a response becomes a 500 further out

        async def send_with_status(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, send_with_status)
        finally:
            self.metrics.http_request_duration.labels(
                scope["method"], self.route_template(scope, outer_root_path), f"{status // 100}xx"
            ).observe(time.perf_counter() - started)
