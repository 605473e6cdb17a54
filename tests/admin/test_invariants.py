"""`check_invariants` (and `enrollpay check-invariants`): quiet on a database the app itself
wrote (paid, partly refunded, free, failed), and each promise reported once broken by hand."""

from __future__ import annotations

from typing import Any

import pytest
import stamina
from click.testing import CliRunner
from sqlalchemy import update

from enrollpay.admin.invariants import check_invariants
from enrollpay.cli import main
from enrollpay.courses.models import Course
from enrollpay.enrollments.models import Enrollment
from enrollpay.kit.clock import utcnow
from enrollpay.kit.ids import new_id
from enrollpay.refunds.models import Refund
from tests.courses.factories import create_course
from tests.enrollments.helpers import API, drain_jobs, initialize, pay, verify


@pytest.fixture(autouse=True)
def _no_backoff_waits():
    with stamina.set_testing(True, attempts=2, cap=True):
        yield


async def paid_enrollment(client, headers, course_id: str) -> dict[str, Any]:
    started = await initialize(client, headers, course_id)
    assert started.status_code == 201, started.text
    body = started.json()
    paid = await pay(client, body["payment_session"]["razorpay_order_id"])
    verified = await verify(client, headers, body["enrollment_id"], paid)
    assert verified.status_code == 200, verified.text
    return {"enrollment_id": body["enrollment_id"], **paid}


async def test_the_apps_own_writes_keep_every_promise_and_breaks_are_named(
    client, db, settings, make_user, admin_headers
):
    course = await create_course(client, admin_headers, price=1000, capacity=2)
    free = await create_course(client, admin_headers, price=0)
    (_, ana), (_, ben), (_, cal) = [await make_user() for _ in range(3)]
    kept = await paid_enrollment(client, ana, course["id"])
    refunded = await paid_enrollment(client, ben, course["id"])
    partial = await client.post(
        f"{API}/admin/enrollments/{refunded['enrollment_id']}/refund",
        json={"amount": 100, "reason": "goodwill"},
        headers=admin_headers,
    )
    assert partial.status_code in (201, 202), partial.text
    assert (await initialize(client, cal, free["id"])).status_code == 201
    await drain_jobs(db, settings)

    async with db.transaction() as session:
        report = await check_invariants(session)
    assert report.ok, report.violations
    assert (report.enrollments, report.captured_payments) == (3, 2)

    # Break each promise by hand; each shows up under its own name.
    async with db.transaction() as session:
        await session.execute(update(Course).where(Course.id == course["id"]).values(capacity=0))
        session.add(
            Refund(
                id=new_id("rfd"),
                payment_id=(
                    await session.get(Enrollment, kept["enrollment_id"])
                ).current_payment_id,
                enrollment_id=kept["enrollment_id"],
                razorpay_payment_id=kept["razorpay_payment_id"],
                amount=10_000_000,
                currency="INR",
                status="processed",
                kind="admin",
                reason="a bug that refunds too much",
                created_at=utcnow(),
                updated_at=utcnow(),
            )
        )
        await session.execute(
            update(Enrollment)
            .where(Enrollment.id == refunded["enrollment_id"])
            .values(status="cancelled")
        )
    async with db.transaction() as session:
        report = await check_invariants(session)
    broken = {name for name, found in report.violations.items() if found}
    assert broken == {
        "seats",
        "refunds_within_capture",
        "access_needs_money",
        "captured_money_accounted",
    }
    assert kept["razorpay_payment_id"] in report.violations["refunds_within_capture"][0]
    assert refunded["razorpay_payment_id"] in report.violations["captured_money_accounted"][0]


def test_the_cli_prints_every_promise_and_exits_0_when_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path}/cli.db")
    monkeypatch.setenv("VAR_DIR", str(tmp_path))
    runner = CliRunner()
    assert runner.invoke(main, ["migrate"]).exit_code == 0
    assert runner.invoke(main, ["seed-demo"]).exit_code == 0
    clean = runner.invoke(main, ["check-invariants"])
    assert clean.exit_code == 0, clean.output
    assert "ok     captured_money_accounted" in clean.output
