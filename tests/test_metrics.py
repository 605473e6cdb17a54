"""`GET /metrics` after real requests (both databases): route templates, the SPEC's enrollment
operation metrics, webhook outcomes, Razorpay API timing and errors, job gauges from the database,
and the ops files (alert rules, Grafana dashboard) naming only metrics that are exposed."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import stamina
import yaml
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from enrollpay.jobs.models import Job, JobStatus
from enrollpay.jobs.service import enqueue
from enrollpay.kit.clock import utcnow
from enrollpay.metrics import record_reconciliation_repairs
from enrollpay.payments.gateway.errors import GatewayRejected
from enrollpay.payments.gateway.factory import job_gateway
from enrollpay.webhooks.service import PROCESS_EVENT_JOB
from tests.conftest import free_port
from tests.courses.factories import create_course
from tests.enrollments.helpers import API, drain_jobs, initialize, pay, verify
from tests.webhooks.conftest import SAMPLES, SECRET, deliver

ROOT = Path(__file__).parent.parent
ALERTS = ROOT / "ops" / "prometheus" / "alerts.yml"
DASHBOARD = ROOT / "ops" / "grafana" / "enrollpay.json"


@pytest.fixture(autouse=True)
def _no_backoff_waits():
    with stamina.set_testing(True, attempts=2, cap=True):
        yield


@pytest.fixture
def settings_overrides() -> dict[str, Any]:
    return {"RAZORPAY_WEBHOOK_SECRET": SECRET}


class Scrape:
    def __init__(self, text: str) -> None:
        self.families = {f.name: f for f in text_string_to_metric_families(text)}
        self.samples = [s for f in self.families.values() for s in f.samples]

    def value(self, name: str, **labels: str) -> float:
        """The sum of the samples named `name` whose labels include `labels` (0 if none)."""
        return sum(
            s.value
            for s in self.samples
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items())
        )

    def label_values(self, name: str, label: str) -> set[str]:
        return {s.labels[label] for s in self.samples if s.name == name and label in s.labels}

    def exposed_names(self) -> set[str]:
        """Every series name a query may use, also for metrics without samples yet."""
        suffixes = {
            "counter": ("_total", "_created"),
            "histogram": ("_bucket", "_count", "_sum", "_created"),
            "gauge": ("",),
        }
        names = {s.name for s in self.samples}
        for family in self.families.values():
            names.update(family.name + suffix for suffix in suffixes.get(family.type, ("",)))
        return names


async def scrape(client: httpx.AsyncClient) -> Scrape:
    response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return Scrape(response.text)


OPS = "enrollment_operations_total"
OK = "enrollment_operations_success_total"
FAILED = "enrollment_operations_failure_total"
DURATION_COUNT = "enrollment_operation_duration_seconds_count"


async def test_metrics_is_outside_the_api_and_not_in_the_schema(client):
    assert (await client.get(f"{API}/metrics")).status_code == 404
    schema = (await client.get("/openapi.json")).json()
    assert "/metrics" not in schema["paths"]
    metrics = await scrape(client)
    assert {"jobs_pending", "jobs_dead", "jobs_oldest_pending_age_seconds"} <= set(metrics.families)


async def test_requests_are_labelled_by_route_template_never_the_raw_path(client, learner_headers):
    missing = await client.get(f"{API}/enrollments/enr_doesnotexist123", headers=learner_headers)
    assert missing.status_code == 404
    assert (await client.get("/no/such/page/xyz123")).status_code == 404
    assert (await client.get("/healthz")).status_code == 200

    metrics = await scrape(client)
    name = "http_request_duration_seconds_count"
    routes = metrics.label_values(name, "route")
    assert not any("doesnotexist" in r or "xyz123" in r for r in routes), routes
    assert metrics.value(name, method="GET", route=f"{API}/enrollments/{{enrollment_id}}") == 1
    assert metrics.value(name, route=f"{API}/enrollments/{{enrollment_id}}", status="4xx") == 1
    assert metrics.value(name, route="unmatched", status="4xx") == 1
    assert metrics.value(name, route="/healthz", status="2xx") == 1
    assert metrics.label_values(name, "status") <= {"2xx", "3xx", "4xx", "5xx"}


async def test_mounted_apps_get_their_prefix(client):
    order = await client.get("/sandbox/razorpay/v1/orders/order_nope")
    assert order.status_code in (401, 404)
    metrics = await scrape(client)
    routes = metrics.label_values("http_request_duration_seconds_count", "route")
    assert "/sandbox/razorpay/v1/orders/{order_id}" in routes, routes


async def test_initialize_and_verify_count_as_successes_and_the_gateway_is_timed(
    client, admin_headers, learner_headers
):
    course = await create_course(client, admin_headers, price=1000)
    started = await initialize(client, learner_headers, course["id"])
    assert started.status_code == 201, started.text
    body = started.json()
    paid = await pay(client, body["payment_session"]["razorpay_order_id"])
    verified = await verify(client, learner_headers, body["enrollment_id"], paid)
    assert verified.status_code == 200, verified.text

    metrics = await scrape(client)
    for operation in ("initialize", "verify"):
        assert metrics.value(OPS, operation=operation) == 1
        assert metrics.value(OK, operation=operation) == 1
        assert metrics.value(FAILED, operation=operation) == 0
        assert metrics.value(DURATION_COUNT, operation=operation, success="true") == 1
    api = "razorpay_api_request_duration_seconds_count"
    assert metrics.value(api, operation="create_order", outcome="success") == 1
    assert metrics.value(api, operation="fetch_payment", outcome="success") >= 1
    assert metrics.value("razorpay_api_errors_total") == 0
    route = f"{API}/enrollments/{{enrollment_id}}/verify-payment"
    assert metrics.value("http_request_duration_seconds_count", route=route, status="2xx") == 1


async def test_a_failing_operation_counts_as_failure(client, learner_headers, admin_headers):
    response = await initialize(client, learner_headers, "crs_doesnotexist")
    assert response.status_code in (404, 422), response.text
    for path, headers, body in (
        (f"{API}/enrollments/enr_nope/cancel", learner_headers, None),
        (f"{API}/enrollments/enr_nope/retry-payment", learner_headers, None),
        (f"{API}/enrollments/enr_nope/refund", learner_headers, {"reason": "changed my mind"}),
        (f"{API}/admin/enrollments/enr_nope/refund", admin_headers, {"reason": "goodwill"}),
    ):
        answer = await client.post(path, headers=headers, json=body)
        assert answer.status_code == 404, (path, answer.text)

    metrics = await scrape(client)
    for operation in ("initialize", "cancel", "retry", "refund", "admin_refund"):
        assert metrics.value(OPS, operation=operation) == 1, operation
        assert metrics.value(FAILED, operation=operation) == 1, operation
        assert metrics.value(OK, operation=operation) == 0, operation
        assert metrics.value(DURATION_COUNT, operation=operation, success="false") == 1


async def test_webhook_outcomes(client):
    assert (
        await deliver(client, b'{"event":"payment.captured"}', secret="wrong")
    ).status_code == 400
    assert (
        await deliver(client, SAMPLES["payment.captured"], event_id="EvtMetrics01")
    ).status_code == 200
    again = await deliver(client, SAMPLES["payment.captured"], event_id="EvtMetrics01")
    assert again.json()["status"] == "duplicate"

    metrics = await scrape(client)
    name = "razorpay_webhook_events_total"
    assert metrics.value(name, event="unknown", outcome="rejected_signature") == 1
    assert metrics.value(name, event="payment.captured", outcome="accepted") == 1
    assert metrics.value(name, event="payment.captured", outcome="duplicate") == 1


async def test_gateway_errors_are_counted_by_kind(app, client):
    with pytest.raises(GatewayRejected):
        await app.state.gateway.fetch_payment("pay_doesnotexist0")

    metrics = await scrape(client)
    assert metrics.value("razorpay_api_errors_total", operation="fetch_payment", kind="4xx") == 1
    assert (
        metrics.value(
            "razorpay_api_request_duration_seconds_count",
            operation="fetch_payment",
            outcome="rejected",
        )
        == 1
    )


async def test_job_gauges_are_read_from_the_database_at_scrape_time(client, db):
    empty = await scrape(client)
    assert (empty.value("jobs_pending"), empty.value("jobs_dead")) == (0, 0)
    assert empty.value("jobs_oldest_pending_age_seconds") == 0

    now = utcnow()
    async with db.transaction() as session:
        await enqueue(
            session,
            PROCESS_EVENT_JOB,
            {"inbox_id": "whk_metrics"},
            run_at=now - timedelta(minutes=10),
        )
        await enqueue(
            session, PROCESS_EVENT_JOB, {"inbox_id": "whk_metrics"}, run_at=now + timedelta(hours=1)
        )
        dead = await enqueue(session, PROCESS_EVENT_JOB, {"inbox_id": "whk_metrics"})
        await session.execute(update(Job).where(Job.id == dead).values(status=JobStatus.dead))

    metrics = await scrape(client)
    assert metrics.value("jobs_pending") == 2
    assert metrics.value("jobs_dead") == 1
    assert 600 <= metrics.value("jobs_oldest_pending_age_seconds") < 900


async def test_process_wide_worker_counters_are_exposed_by_every_app(client):
    before = (await scrape(client)).value("reconciliation_repairs_total")
    record_reconciliation_repairs(2)
    record_reconciliation_repairs(0)
    assert (await scrape(client)).value("reconciliation_repairs_total") == before + 2


async def test_the_worker_counts_job_runs_processed_webhooks_and_its_gateway_calls(
    client, db, settings
):
    """What the job worker does is counted process-wide (exposed by every app; `enrollpay
    worker` serves the same registry on its port)."""
    before = await scrape(client)
    received = await deliver(client, SAMPLES["payment.captured"], event_id="EvtWorkerMetrics1")
    assert received.status_code == 200
    await drain_jobs(db, settings)
    with pytest.raises(GatewayRejected):
        await job_gateway(settings, db).fetch_payment("pay_doesnotexist1")

    after = await scrape(client)

    def grew(name: str, **labels: str) -> float:
        return after.value(name, **labels) - before.value(name, **labels)

    assert grew("jobs_runs_total", kind=PROCESS_EVENT_JOB, outcome="done") == 1
    assert grew("job_run_duration_seconds_count", kind=PROCESS_EVENT_JOB) == 1
    # The sample payment is not one of ours: handed over, and the row still ends processed.
    assert grew("razorpay_webhook_events_processed_total", status="processed") == 1
    assert grew("job_razorpay_api_errors_total", operation="fetch_payment", kind="4xx") == 1
    # The request-side series are the app's own and did not move.
    assert grew("razorpay_api_errors_total", operation="fetch_payment", kind="4xx") == 0


def test_enrollpay_worker_serves_metrics_on_its_port(tmp_path):
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{tmp_path}/worker.db",
        "VAR_DIR": str(tmp_path),
        "WORKER_METRICS_PORT": str(port),
    }
    enrollpay = Path(sys.executable).with_name("enrollpay")
    subprocess.run([str(enrollpay), "migrate"], env=env, check=True, capture_output=True)
    process = subprocess.Popen(
        [str(enrollpay), "worker"], env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=1)
                if "jobs_pending" in response.text:
                    break
            except httpx.TransportError:
                pass
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            assert time.monotonic() < deadline, "the worker did not serve metrics"
            time.sleep(0.2)
        names = Scrape(response.text).exposed_names()
        assert {
            "jobs_pending",
            "jobs_dead",
            "jobs_runs_total",
            "job_razorpay_api_request_duration_seconds_count",
            "razorpay_webhook_events_processed_total",
            "reconciliation_repairs_total",
        } <= names
    finally:
        process.terminate()
        process.communicate(timeout=30)
    assert process.returncode in (0, -15)


# ---- the ops files ------------------------------------------------------------------------------

PROMQL_WORDS = {"by", "without", "and", "or", "unless", "on", "ignoring", "bool", "offset"}


def metric_names(expr: str) -> set[str]:
    """The series names a PromQL expression reads (not functions, labels or keywords)."""
    stripped = re.sub(r"\{[^}]*\}|\[[^\]]*\]|\b(?:by|without)\s*\([^)]*\)", " ", expr)
    tokens = re.findall(r"\b[a-zA-Z_:][a-zA-Z0-9_:]*\b(?!\s*\()", stripped)
    return {t for t in tokens if t not in PROMQL_WORDS and not re.fullmatch(r"\d+\w*", t)}


async def exposed(client: httpx.AsyncClient) -> set[str]:
    return (await scrape(client)).exposed_names()


async def test_alert_rules_are_valid_and_name_only_exposed_metrics(client):
    names = await exposed(client)
    document = yaml.safe_load(ALERTS.read_text())
    rules = [rule for group in document["groups"] for rule in group["rules"]]
    assert {rule["alert"] for rule in rules} >= {
        "EnrollpayApiErrorRateHigh",
        "EnrollpayPaymentSuccessRateLow",
        "EnrollpayWebhookBacklog",
        "EnrollpayStuckPendingPayments",
        "EnrollpayDeadJobs",
    }
    used: set[str] = set()
    for rule in rules:
        assert set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
        assert re.fullmatch(r"\d+[smh]", rule["for"]), rule
        found = metric_names(rule["expr"])
        assert found, rule["expr"]
        assert found <= names, (rule["alert"], found - names)
        used |= found
    assert {"enrollment_operations_success_total", "jobs_dead", "jobs_pending"} <= used


async def test_the_dashboard_parses_and_names_only_exposed_metrics(client):
    names = await exposed(client)
    dashboard = json.loads(DASHBOARD.read_text())
    exprs = [t["expr"] for panel in dashboard["panels"] for t in panel["targets"]]
    assert len(exprs) >= 10
    used: set[str] = set()
    for expr in exprs:
        found = metric_names(expr)
        assert found and found <= names, (expr, found - names)
        used |= found
    assert {
        "http_request_duration_seconds_bucket",
        "enrollment_operations_failure_total",
        "razorpay_webhook_events_total",
        "razorpay_api_request_duration_seconds_bucket",
        "razorpay_api_errors_total",
        "jobs_oldest_pending_age_seconds",
    } <= used


def test_the_expression_parser_sees_metrics_only():
    expr = 'histogram_quantile(0.95, sum by (le, route) (rate(x_bucket{a="b"}[5m]))) > 1 or y'
    assert metric_names(expr) == {"x_bucket", "y"}
