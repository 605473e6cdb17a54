"""Reconciliation heals what verify and webhooks missed, through the same transition function
(both databases, the built-in sandbox)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
import stamina
from click.testing import CliRunner
from sqlalchemy import update

from enrollpay import cli
from enrollpay.jobs.worker import Worker
from enrollpay.kit.clock import utcnow
from enrollpay.payments.models import Payment
from enrollpay.reconciliation.service import WATCH_DAYS, next_check, reconcile_pass
from tests.courses.factories import create_course
from tests.enrollments.helpers import (
    SANDBOX,
    add_fault,
    clear_faults,
    drain_jobs,
    initialize,
    pay,
    payment_status,
)


@pytest.fixture(autouse=True)
def _no_backoff_waits():
    with stamina.set_testing(True, attempts=2, cap=True):
        yield


@pytest.fixture
async def pending(client, admin_headers, make_user) -> dict[str, Any]:
    course = await create_course(client, admin_headers, price=1000)
    _, headers = await make_user()
    body = (await initialize(client, headers, course["id"])).json()
    return {"headers": headers, **body}


async def _status(client, pending) -> str:
    status = await payment_status(client, pending["headers"], pending["enrollment_id"])
    return str(status["enrollment_status"])


async def test_a_paid_order_whose_webhooks_never_arrive_is_enrolled_in_one_interval(
    app, client, db, settings, admin_headers, pending
):
    await pay(client, pending["payment_session"]["razorpay_order_id"], webhooks=False)
    assert await _status(client, pending) == "pending"

    # One tick of the worker: the periodic pass is due at once for a never-checked order.
    await Worker(db, settings).run_once()
    assert await _status(client, pending) == "enrolled"

    repairs = await client.get("/api/v1/admin/reconciliation/repairs", headers=admin_headers)
    assert repairs.status_code == 200, repairs.text
    [repair] = repairs.json()["items"]
    assert repair["enrollment_id"] == pending["enrollment_id"]
    assert repair["status"] == "captured" and repair["note"] == "captured: enrolled"


async def test_a_late_capture_after_a_failure_is_found(app, client, db, settings, pending):
    order_id = pending["payment_session"]["razorpay_order_id"]
    failed = await pay(client, order_id, outcome="failure", webhooks=False)
    report = await reconcile_pass(db, app.state.gateway, settings, now=utcnow())
    assert report.checked == 1 and report.repaired == 1
    assert await _status(client, pending) == "failed"

    late = await client.post(
        f"{SANDBOX}/payments/{failed['razorpay_payment_id']}/capture-late", json={"webhooks": False}
    )
    assert late.status_code == 200, late.text
    # Not due again yet: checks grow rarer with age; a full pass checks every open order.
    assert (await reconcile_pass(db, app.state.gateway, settings, now=utcnow())).checked == 0
    report = await reconcile_pass(db, app.state.gateway, settings, now=utcnow(), full=True)
    assert report.repaired >= 1
    assert await _status(client, pending) == "enrolled"
    # Repeating it is harmless: the same facts are duplicates now.
    again = await reconcile_pass(db, app.state.gateway, settings, now=utcnow(), full=True)
    assert again.repaired == 0


async def test_a_paid_order_is_watched_only_while_another_attempt_may_still_capture(
    app, client, db, settings, pending
):
    """Checkout retries inside one order: the failed attempt can be captured days after the
    other paid, so the order stays watched; once every attempt is final it is not asked about."""
    order_id = pending["payment_session"]["razorpay_order_id"]
    failed = await pay(client, order_id, outcome="failure", webhooks=True)
    await pay(client, order_id, webhooks=True)
    await drain_jobs(db, settings)
    assert await _status(client, pending) == "enrolled"
    report = await reconcile_pass(db, app.state.gateway, settings, now=utcnow(), full=True)
    assert report.checked == 1

    late = await client.post(
        f"{SANDBOX}/payments/{failed['razorpay_payment_id']}/capture-late", json={"webhooks": False}
    )
    assert late.status_code == 200, late.text
    report = await reconcile_pass(db, app.state.gateway, settings, now=utcnow(), full=True)
    assert report.repaired == 1  # the late capture, to be refunded: the learner is enrolled
    report = await reconcile_pass(db, app.state.gateway, settings, now=utcnow(), full=True)
    assert report.selected == 0


async def test_an_order_whose_creation_answer_was_lost_is_found_by_its_receipt(
    app, client, db, settings, admin_headers, make_user
):
    course = await create_course(client, admin_headers, price=1000)
    _, headers = await make_user()
    # Razorpay creates the order, then the answer is lost on every try.
    await add_fault(
        client, path_prefix="/v1/orders", method="POST", status=503, after=True, count=5
    )
    await add_fault(client, path_prefix="/v1/orders", method="GET", status=503, count=5)
    response = await initialize(client, headers, course["id"])
    assert response.status_code == 503, response.text
    await clear_faults(client)

    report = await reconcile_pass(db, app.state.gateway, settings, now=utcnow())
    assert report.orders_found == 1
    async with db.sessionmaker() as session:
        payment = (await session.execute(Payment.__table__.select())).one()
    assert payment.razorpay_order_id is not None


async def test_throttling_stops_the_pass_and_errors_never_crash_it(
    app, client, db, settings, pending
):
    await add_fault(client, path_prefix="/v1/orders", status=429, count=10)
    report = await reconcile_pass(db, app.state.gateway, settings, now=utcnow())
    assert report.throttled and report.errors == 1 and report.checked == 0
    await clear_faults(client)
    await add_fault(client, path_prefix="/v1/orders", status=500, count=10)
    later = utcnow() + timedelta(minutes=10)
    report = await reconcile_pass(db, app.state.gateway, settings, now=later)
    assert report.errors == 1 and not report.throttled
    await clear_faults(client)
    report = await reconcile_pass(db, app.state.gateway, settings, now=later + timedelta(minutes=6))
    assert report.checked == 1 and report.errors == 0


async def test_checks_grow_rarer_with_age_and_stop_after_the_watch(app, db, settings, pending):
    async with db.sessionmaker() as session:
        payment = (await session.execute(Payment.__table__.select())).one()
    created = payment.created_at
    interval = timedelta(seconds=settings.RECONCILE_INTERVAL_SECONDS)
    gaps = [
        next_check(payment, settings, created + age) - (created + age)
        for age in (timedelta(minutes=1), timedelta(hours=1), timedelta(days=1), timedelta(days=6))
    ]
    assert gaps[0] == interval and gaps == sorted(gaps) and gaps[-1] == timedelta(hours=6)

    async with db.transaction() as session:
        await session.execute(
            update(Payment).values(created_at=utcnow() - timedelta(days=WATCH_DAYS, minutes=1))
        )
    report = await reconcile_pass(db, app.state.gateway, settings, now=utcnow(), full=True)
    assert report.selected == 0


@pytest.fixture
async def paid_without_webhooks(client, pending) -> dict[str, Any]:
    await pay(client, pending["payment_session"]["razorpay_order_id"], webhooks=False)
    return pending


def test_the_reconcile_command_runs_a_full_pass(settings, monkeypatch, paid_without_webhooks):
    monkeypatch.setattr(cli, "load_settings", lambda: settings)
    result = CliRunner().invoke(cli.main, ["reconcile"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("checked 1 orders: 1 facts applied"), result.output


async def test_a_refund_whose_webhook_was_lost_is_completed(
    app, client, db, settings, admin_headers, make_user
):
    from tests.refunds.conftest import enroll, learner_refund, refunds

    course = await create_course(client, admin_headers, price=1000, refund_window_days=7)
    _, headers = await make_user()
    enrollment_id, _ = await enroll(client, headers, course["id"])
    assert (await learner_refund(client, headers, enrollment_id)).status_code in (201, 202)
    [refund] = await refunds(db)
    assert refund.status == "pending" and refund.razorpay_refund_id is not None
    settled = await client.post(
        f"{SANDBOX}/refunds/{refund.razorpay_refund_id}/settle",
        json={"outcome": "processed", "webhooks": False},  # the webhook is lost
    )
    assert settled.status_code == 200, settled.text

    later = utcnow() + timedelta(minutes=2)
    report = await reconcile_pass(db, app.state.gateway, settings, now=later)
    assert report.refunds_checked == 1 and report.repaired == 1
    [refund] = await refunds(db)
    assert refund.status == "processed"
    again = await reconcile_pass(db, app.state.gateway, settings, now=later + timedelta(hours=1))
    assert again.refunds_checked == 0  # processed refunds are no longer watched
