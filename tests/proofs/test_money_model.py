"""A model-based test of SPEC §1's money promises: hypothesis drives random interleavings of
learners and admins, the sandbox (payments that succeed, fail, are authorized late, paid for
the wrong amount; webhooks on or off, duplicated, shuffled, dropped, delivered again late),
expiry, cancellation, refunds and their settlement, reconciliation and the job worker —
against the real app, the built-in sandbox and the real database (SQLite, and PostgreSQL when
TEST_DATABASE_URL is set).

After every step the rows are checked (`invariants.always`); the `quiesce` rule (and the end
of every run) lets everything in flight land — deliveries, jobs, a reconciliation pass, time
for delayed jobs — and checks what must hold at rest (`invariants.at_rest`): every captured
payment ends in exactly one enrollment or a refund, and our records equal the gateway's.

A failure prints the steps that reproduce it (and a `@reproduce_failure` blob); the seed is
fixed (`derandomize`) at CI size and random at full size."""

from __future__ import annotations

import secrets
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import stamina
from hypothesis import HealthCheck, note
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from hypothesis.stateful import initialize as initialize_rule
from sqlalchemy import select, update

from enrollpay.enrollments.expiry import expire_due
from enrollpay.enrollments.models import UNPAID_STATUSES, Enrollment
from enrollpay.jobs.models import Job, JobStatus
from enrollpay.kit.clock import utcnow
from enrollpay.payments.gateway.signatures import payment_signature
from enrollpay.payments.models import Payment
from enrollpay.reconciliation.service import reconcile_pass
from enrollpay.refunds.models import Refund
from enrollpay.sandbox.models import SandboxEvent, SandboxRefund
from enrollpay.sandbox.webhooks import delivery_headers
from enrollpay.users.models import Role
from tests.conftest import MigratedDatabase, full_size
from tests.courses.factories import create_coupon, create_course
from tests.enrollments.helpers import (
    API,
    SANDBOX,
    drain_jobs,
    initialize,
    live_enrollments,
    pay,
    shorten_shuffle_window,
    verify,
)
from tests.proofs import invariants
from tests.proofs.harness import AppHarness

# ---- size: CI runs it small (about a minute per database); TEST_SIZE=full runs it big ----------
EXAMPLES, STEPS = (200, 50) if full_size() else (18, 30)

LEARNERS = 3
# Course 0: small capacity; course 1: unlimited. Prices in rupees (the admin API's units);
# 18 % GST on top. The coupon takes 10 % off and may be held by one live enrollment at a time.
COURSES = ({"price": 1000, "capacity": 1}, {"price": 500, "capacity": None})
COUPON = {"code": "ONCE", "discount_type": "percent", "discount_value": 10, "max_redemptions": 1}
WEBHOOK_URL = f"{API}/webhooks/razorpay"

pick = st.integers(min_value=0, max_value=1_000)


def _checked(response: httpx.Response, *allowed: int) -> httpx.Response:
    """A response the model allows; never a 5xx (no gateway faults are injected here)."""
    assert response.status_code < 500, (response.request.url, response.text)
    if allowed:
        assert response.status_code in allowed, (response.request.url, response.text)
    return response


class MoneyModel(RuleBasedStateMachine):
    migrated: MigratedDatabase  # set by the test before the machine runs
    var_dir: Path
    reached: Counter[str] = Counter()

    def __init__(self) -> None:
        super().__init__()
        self.h = AppHarness(self.migrated, self.var_dir)
        shorten_shuffle_window(self.h.app)
        self.key_secret: str = self.h.app.state.sandbox_config.key_secret
        self.learners: list[tuple[str, dict[str, str]]] = []
        self.admin: dict[str, str] = {}
        self.courses: list[str] = []
        self.enrollments: list[tuple[str, int]] = []  # (enrollment id, learner)
        self.orders: list[tuple[str, str, int]] = []  # (order id, enrollment id, learner)
        # Sandbox payments made: (payment id, order id, enrollment id, learner, signature|None)
        self.payments: list[tuple[str, str, str, int, str | None]] = []

    def run(self, coroutine: Any) -> Any:
        return self.h.run(coroutine)

    @property
    def http(self) -> httpx.AsyncClient:
        return self.h.http

    def teardown(self) -> None:
        try:
            # A run that ended normally: let everything land, then check the rest state (not
            # after a failure, whose error must not be masked by a second one).
            if self.courses and sys.exc_info()[0] is None:
                self._quiesce()
        finally:
            self.h.close()

    # ---- setup ----------------------------------------------------------------------------------

    @initialize_rule()
    def catalog(self) -> None:
        async def setup() -> None:
            _, self.admin = await self.h.make_user(Role.admin)
            for _ in range(LEARNERS):
                self.learners.append(await self.h.make_user())
            for fields in COURSES:
                course = await create_course(self.http, self.admin, **fields)
                self.courses.append(course["id"])
            await create_coupon(self.http, self.admin, **COUPON)

        self.run(setup())

    # ---- learners -------------------------------------------------------------------------------

    @rule(learner=pick, course=pick, coupon=st.booleans())
    def initialize(self, learner: int, course: int, coupon: bool) -> None:
        learner %= LEARNERS
        course_id = self.courses[course % len(self.courses)]
        body: dict[str, Any] = {"course_id": course_id}
        if coupon:
            body["coupon_code"] = COUPON["code"]
        response = _checked(
            self.run(
                self.http.post(
                    f"{API}/enrollments/initialize", json=body, headers=self.learners[learner][1]
                )
            ),
            200,
            201,
            409,
            429,
        )
        note(f"initialize learner {learner} {body}: {response.status_code}")
        if response.status_code in (200, 201):
            self._started(response.json(), learner)

    @rule(
        learner=pick,
        course=pick,
        coupon=st.booleans(),
        success=st.booleans(),
        webhooks=st.booleans(),
        verify=st.booleans(),
    )
    def checkout(
        self, learner: int, course: int, coupon: bool, success: bool, webhooks: bool, verify: bool
    ) -> None:
        """The whole browser flow in one step: initialize, pay in Checkout, and (unless the
        browser closed) verify."""
        before = len(self.orders)
        self.initialize(learner, course, coupon)
        if len(self.orders) == before and not self.orders:
            return
        order_index = len(self.orders) - 1 if len(self.orders) > before else None
        if order_index is None:  # the live enrollment's session: pay its latest order
            learner %= LEARNERS
            mine = [i for i, (_, _, owner) in enumerate(self.orders) if owner == learner]
            if not mine:
                return
            order_index = mine[-1]
        paid_before = len(self.payments)
        self.pay(order_index, success, webhooks, None)
        if verify and len(self.payments) > paid_before:
            self.verify(len(self.payments) - 1, 0, "own")

    def _started(self, started: dict[str, Any], learner: int) -> None:
        enrollment_id = started["enrollment_id"]
        if (enrollment_id, learner) not in self.enrollments:
            self.enrollments.append((enrollment_id, learner))
        session = started["payment_session"]
        assert session is not None, started  # every price here is above zero
        order = (session["razorpay_order_id"], enrollment_id, learner)
        if order not in self.orders:
            self.orders.append(order)

    @precondition(lambda self: self.enrollments)
    @rule(which=pick)
    def retry_payment(self, which: int) -> None:
        enrollment_id, learner = self.enrollments[which % len(self.enrollments)]
        response = _checked(
            self.run(
                self.http.post(
                    f"{API}/enrollments/{enrollment_id}/retry-payment",
                    headers=self.learners[learner][1],
                )
            ),
            200,
            201,
            409,
            429,
        )
        note(f"retry {enrollment_id}: {response.status_code}")
        if response.status_code in (200, 201):
            self._started(response.json(), learner)

    @precondition(lambda self: self.enrollments)
    @rule(which=pick)
    def cancel(self, which: int) -> None:
        enrollment_id, learner = self.enrollments[which % len(self.enrollments)]
        response = _checked(
            self.run(
                self.http.post(
                    f"{API}/enrollments/{enrollment_id}/cancel",
                    json={"reason": "changed my mind"},
                    headers=self.learners[learner][1],
                )
            ),
            200,
            409,
        )
        note(f"cancel {enrollment_id}: {response.status_code}")

    @precondition(lambda self: self.enrollments)
    @rule(which=pick)
    def learner_refund(self, which: int) -> None:
        enrollment_id, learner = self.enrollments[which % len(self.enrollments)]
        response = _checked(
            self.run(
                self.http.post(
                    f"{API}/enrollments/{enrollment_id}/refund",
                    json={"reason": "not for me"},
                    headers=self.learners[learner][1],
                )
            ),
            200,
            201,
            400,
        )
        note(f"learner refund {enrollment_id}: {response.status_code}")

    # ---- the gateway (the sandbox's Checkout and control API) ------------------------------------

    @precondition(lambda self: self.orders)
    @rule(
        which=pick,
        success=st.booleans(),
        webhooks=st.booleans(),
        amount=st.sampled_from([None, None, None, -100, 100]),
    )
    def pay(self, which: int, success: bool, webhooks: bool, amount: int | None) -> None:
        """A Checkout attempt; `amount` ≠ None pays the order's amount plus that (tampered)."""
        order_id, enrollment_id, learner = self.orders[which % len(self.orders)]
        body: dict[str, Any] = {
            "outcome": "success" if success else "failure",
            "method": "upi",
            "webhooks": webhooks,
        }
        if amount is not None:
            body["amount"] = self._order_amount(order_id) + amount
        response = _checked(
            self.run(self.http.post(f"{SANDBOX}/orders/{order_id}/pay", json=body)), 200, 400
        )
        note(f"pay {order_id} {body}: {response.status_code}")
        if response.status_code == 200:
            paid = response.json()
            self.payments.append(
                (
                    paid["razorpay_payment_id"],
                    order_id,
                    enrollment_id,
                    learner,
                    paid["razorpay_signature"],
                )
            )

    def _order_amount(self, order_id: str) -> int:
        with self.h.engine.connect() as conn:
            amount = conn.scalar(
                select(Payment.amount).where(Payment.razorpay_order_id == order_id)
            )
        assert amount is not None
        return int(amount)

    @precondition(lambda self: self.payments)
    @rule(which=pick, webhooks=st.booleans())
    def capture_late(self, which: int, webhooks: bool) -> None:
        """Late authorization (and capture) of a failed payment."""
        payment_id = self.payments[which % len(self.payments)][0]
        response = _checked(
            self.run(
                self.http.post(
                    f"{SANDBOX}/payments/{payment_id}/capture-late", json={"webhooks": webhooks}
                )
            ),
            200,
            400,
        )
        note(f"capture-late {payment_id} webhooks={webhooks}: {response.status_code}")

    @precondition(lambda self: self.payments)
    @rule(
        which=pick,
        other=pick,
        how=st.sampled_from(["own", "own", "other_pair", "swapped", "forged", "not_owner"]),
    )
    def verify(self, which: int, other: int, how: str) -> None:
        """Checkout's handler calls verify — honestly, or with a stale or tampered signature."""
        payment_id, order_id, enrollment_id, learner, signature = self.payments[
            which % len(self.payments)
        ]
        headers = self.learners[learner][1]
        if how == "other_pair":  # a valid triple of another payment, sent for this enrollment
            payment_id, order_id, _, _, signature = self.payments[other % len(self.payments)]
        elif how == "swapped":  # this order, another payment id, this signature
            payment_id = self.payments[other % len(self.payments)][0]
        elif how == "not_owner":  # another learner's enrollment id: 404, whatever the body
            headers = self.learners[(learner + 1) % LEARNERS][1]
        if how == "forged" or signature is None:  # failed payments have no signature
            signature = secrets.token_hex(32)
        response = _checked(
            self.run(
                self.http.post(
                    f"{API}/enrollments/{enrollment_id}/verify-payment",
                    json={
                        "razorpay_payment_id": payment_id,
                        "razorpay_order_id": order_id,
                        "razorpay_signature": signature or secrets.token_hex(32),
                    },
                    headers=headers,
                )
            )
        )
        note(f"verify {enrollment_id} {how} {payment_id}/{order_id}: {response.status_code}")
        valid = signature == payment_signature(order_id, payment_id, self.key_secret)
        ours = any(o == order_id and e == enrollment_id for o, e, _ in self.orders)
        if how == "not_owner":
            assert response.status_code == 404, response.text
        elif valid and ours:
            assert response.status_code in (200, 429), response.text
        else:
            assert response.status_code in (400, 429), response.text

    @precondition(lambda self: self.payments)
    @rule(outcome=st.sampled_from(["processed", "failed"]), webhooks=st.booleans(), which=pick)
    def settle_refund(self, outcome: str, webhooks: bool, which: int) -> None:
        with self.h.engine.connect() as conn:
            pending = list(
                conn.scalars(
                    select(SandboxRefund.id)
                    .where(SandboxRefund.status == "pending")
                    .order_by(SandboxRefund.id)
                )
            )
        if not pending:
            return
        refund_id = pending[which % len(pending)]
        response = _checked(
            self.run(
                self.http.post(
                    f"{SANDBOX}/refunds/{refund_id}/settle",
                    json={"outcome": outcome, "webhooks": webhooks},
                )
            ),
            200,
        )
        note(f"settle {refund_id} {outcome} webhooks={webhooks}: {response.status_code}")

    # ---- webhooks -------------------------------------------------------------------------------

    @rule(
        duplicate=st.integers(min_value=0, max_value=2),
        shuffle=st.booleans(),
        drop=st.booleans(),
        count=st.integers(min_value=1, max_value=4),
    )
    def webhook_behaviour(self, duplicate: int, shuffle: bool, drop: bool, count: int) -> None:
        """How the sandbox delivers the next `count` events."""
        body = {"duplicate": duplicate, "shuffle": shuffle, "drop": drop, "count": count}
        _checked(self.run(self.http.post(f"{SANDBOX}/webhooks", json=body)), 200)
        note(f"webhooks {body}")

    @precondition(lambda self: self.payments)
    @rule(which=pick)
    def redeliver_event(self, which: int) -> None:
        """An event delivered again, late (or for the first time, if it was dropped)."""
        with self.h.engine.connect() as conn:
            events = list(
                conn.execute(select(SandboxEvent.__table__).order_by(SandboxEvent.created))
            )
        if not events:
            return
        event = events[which % len(events)]
        response = _checked(
            self.run(
                self.http.post(WEBHOOK_URL, content=event.body, headers=delivery_headers(event))
            ),
            200,
            202,
        )
        note(f"redeliver {event.event} {event.id}: {response.status_code}")

    # ---- admins and operations -----------------------------------------------------------------

    @precondition(lambda self: self.enrollments)
    @rule(which=pick, amount=st.sampled_from([None, None, 100, 250.5]))
    def admin_refund(self, which: int, amount: float | None) -> None:
        enrollment_id, _ = self.enrollments[which % len(self.enrollments)]
        body: dict[str, Any] = {"reason": "goodwill"}
        if amount is not None:
            body["amount"] = amount
        response = _checked(
            self.run(
                self.http.post(
                    f"{API}/admin/enrollments/{enrollment_id}/refund", json=body, headers=self.admin
                )
            ),
            200,
            201,
            400,
        )
        note(f"admin refund {enrollment_id} {body}: {response.status_code}")

    @precondition(lambda self: self.enrollments)
    @rule(which=pick)
    def expire(self, which: int) -> None:
        """The hold of a live unpaid enrollment runs out, and the expiry sweep runs."""
        enrollment_id, _ = self.enrollments[which % len(self.enrollments)]

        async def age() -> int:
            async with self.h.db.transaction() as session:
                await session.execute(
                    update(Enrollment)
                    .where(Enrollment.id == enrollment_id, Enrollment.status.in_(UNPAID_STATUSES))
                    .values(expires_at=utcnow() - timedelta(seconds=1))
                )
            return await expire_due(self.h.db, now=utcnow())

        note(f"expire {enrollment_id}: {self.run(age())} expired")

    @rule()
    def run_jobs(self) -> None:
        """The worker runs whatever is due (webhook deliveries, processing, refunds…)."""
        outcomes = self.run(drain_jobs(self.h.db, self.h.settings))
        note(f"jobs: {len(outcomes)} ran")

    @rule()
    def time_passes(self) -> None:
        """Every delayed job is due now (retries, the refund safety net, the sandbox's own
        refund settlement), then the worker runs."""
        self.run(self._time_passes())

    async def _time_passes(self) -> None:
        async with self.h.db.transaction() as session:
            await session.execute(
                update(Job).where(Job.status == JobStatus.pending).values(run_at=utcnow())
            )
        await drain_jobs(self.h.db, self.h.settings)

    @rule()
    def reconcile(self) -> None:
        report = self.run(self._reconcile())
        note(f"reconcile: checked {report.checked}, repaired {report.repaired}")

    async def _reconcile(self) -> Any:
        # A full pass, as if hours had gone by (more than the longest gap between two checks
        # of a refund): pending refunds are due for a check too. A pass stamps the refunds it
        # checked with its `now`; an earlier pass's stamp, in the future of the real clock,
        # goes back to the real clock, or the next pass would think no time had passed.
        async with self.h.db.transaction() as session:
            await session.execute(
                update(Refund).where(Refund.updated_at > utcnow()).values(updated_at=utcnow())
            )
        later = utcnow() + timedelta(hours=7)
        return await reconcile_pass(
            self.h.db, self.h.app.state.gateway, self.h.settings, now=later, full=True
        )

    @rule()
    def quiesce(self) -> None:
        self._quiesce()

    def _quiesce(self) -> None:
        """Let everything in flight land, then check what must hold at rest."""

        async def land() -> None:
            await self.http.post(f"{SANDBOX}/webhooks", json={})  # deliver normally from now
            for _ in range(3):
                await drain_jobs(self.h.db, self.h.settings)
                await self._time_passes()
                await self._reconcile()
            await drain_jobs(self.h.db, self.h.settings)

        self.run(land())
        with self.h.engine.connect() as conn:
            rows = invariants.read(conn)
        kept = set(invariants.at_rest(rows))
        MoneyModel.reached["capture kept after a failed refund"] += len(kept)
        # What the runs reached at rest (printed at the end; `-s` shows it): a model that
        # never enrolls or refunds anyone proves little.
        for e in rows.enrollments:
            MoneyModel.reached[f"enrollment {e.status}"] += 1
        for r in rows.refunds:
            reason = f" ({r.reason})" if r.kind == "automatic" else ""
            MoneyModel.reached[f"refund {r.kind} {r.status}{reason}"] += 1
        self.run(self._access_agrees(rows))

    async def _access_agrees(self, rows: invariants.Rows) -> None:
        """The access API says what the rows say."""
        for user_id, headers in self.learners:
            for course_id in self.courses:
                response = _checked(
                    await self.http.get(f"{API}/courses/{course_id}/access", headers=headers), 200
                )
                enrolled = any(
                    e.user_id == user_id and e.course_id == course_id and e.status == "enrolled"
                    for e in rows.enrollments
                )
                assert response.json()["has_access"] is enrolled, (user_id, course_id)

    # ---- after every step -------------------------------------------------------------------

    @invariant()
    def money_promises_hold(self) -> None:
        with self.h.engine.connect() as conn:
            rows = invariants.read(conn)
        invariants.always(rows)


def test_money_promises_hold_under_random_interleavings(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    MoneyModel.migrated = request.getfixturevalue(f"_{backend}_database")
    MoneyModel.var_dir = tmp_path
    MoneyModel.reached = Counter()
    # Failed payments are part of the model: the card-testing brake must not stop the run.
    monkeypatch.setattr("enrollpay.abuse.service.FAILED_PAYMENTS_PER_LEARNER_PER_DAY", 10**6)
    with stamina.set_testing(True, attempts=2, cap=True):
        run_state_machine_as_test(
            MoneyModel,
            settings=hypothesis_settings(
                max_examples=EXAMPLES,
                stateful_step_count=STEPS,
                deadline=None,
                # CI replays the same interleavings every run (no flakes); full size explores
                # anew each time (reproduce with the printed steps, `@reproduce_failure` blob or
                # `pytest --hypothesis-seed=N`).
                derandomize=not full_size(),
                database=None,
                print_blob=True,
                suppress_health_check=list(HealthCheck),
            ),
        )
    reached = MoneyModel.reached
    print(
        f"money model, {EXAMPLES} examples x {STEPS} steps, at rest:", dict(sorted(reached.items()))
    )
    assert reached["enrollment enrolled"] and any(k.startswith("refund") for k in reached), reached


# ---- violations the model found, minimised ------------------------------------------------------


async def test_a_late_capture_cannot_revive_a_coupon_hold_someone_else_took(
    client: httpx.AsyncClient, db: Any, settings: Any, admin_headers: dict[str, str], make_user: Any
) -> None:
    """Found by the model: expiry released learner A's coupon hold, B took it, then A's old
    order was paid — the revival gave the coupon two live redemptions of a limit of one. Now the
    capture is refunded instead (SPEC §3: never more redemptions than the limit)."""
    course = await create_course(client, admin_headers, price=500)
    await create_coupon(client, admin_headers, **COUPON)
    _, first = await make_user()
    _, second = await make_user()
    held = (await initialize(client, first, course["id"], coupon_code="ONCE")).json()
    await _age(db, held["enrollment_id"])
    assert await expire_due(db, now=utcnow()) == 1
    taken = await initialize(client, second, course["id"], coupon_code="ONCE")
    assert taken.status_code == 201, taken.text

    paid = await pay(client, held["payment_session"]["razorpay_order_id"], webhooks=False)
    answer = await verify(client, first, held["enrollment_id"], paid)
    assert answer.status_code == 200, answer.text
    assert answer.json()["enrollment_status"] == "expired"
    await drain_jobs(db, settings)
    [refund] = await refunds_of(db, paid["razorpay_payment_id"])
    assert (refund.kind, refund.reason) == ("automatic", "expired_not_revivable")
    assert refund.amount == paid["payment"]["amount"]
    holders = [e for e in await live_enrollments(db) if e.coupon_id is not None]
    assert [e.id for e in holders] == [taken.json()["enrollment_id"]]


async def test_a_late_capture_on_an_order_already_paid_is_found_without_its_webhook(
    app: Any,
    client: httpx.AsyncClient,
    db: Any,
    settings: Any,
    admin_headers: dict[str, str],
    make_user: Any,
) -> None:
    """Found by the model: two failed attempts on one order (Checkout's retry inside the same
    session); the bank authorizes both late. The first capture enrolls the learner; the
    second one's webhooks are lost. Reconciliation used to stop asking about the order once
    our payment was `captured`, and the money was kept with no enrollment and no refund
    (SPEC §1.1: "even when a webhook is lost"); it now watches an order while any of its
    attempts is still open."""
    course = await create_course(client, admin_headers, price=500)
    _, learner = await make_user()
    started = (await initialize(client, learner, course["id"])).json()
    order_id = started["payment_session"]["razorpay_order_id"]
    first = await pay(client, order_id, outcome="failure", webhooks=True)
    second = await pay(client, order_id, outcome="failure", webhooks=True)
    await _capture_late(client, first["razorpay_payment_id"], webhooks=True)
    await drain_jobs(db, settings)
    status = await client.get(
        f"{API}/enrollments/{started['enrollment_id']}/payment-status", headers=learner
    )
    assert status.json()["enrollment_status"] == "enrolled"

    await _capture_late(client, second["razorpay_payment_id"], webhooks=False)  # webhook lost
    later = utcnow() + timedelta(hours=7)
    await reconcile_pass(db, app.state.gateway, settings, now=later, full=True)
    await drain_jobs(db, settings)
    [refund] = await refunds_of(db, second["razorpay_payment_id"])
    assert (refund.kind, refund.reason) == ("automatic", "already_enrolled")


async def _age(db: Any, enrollment_id: str) -> None:
    async with db.transaction() as session:
        await session.execute(
            update(Enrollment)
            .where(Enrollment.id == enrollment_id)
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )


async def _capture_late(client: httpx.AsyncClient, payment_id: str, *, webhooks: bool) -> None:
    response = await client.post(
        f"{SANDBOX}/payments/{payment_id}/capture-late", json={"webhooks": webhooks}
    )
    assert response.status_code == 200, response.text


async def refunds_of(db: Any, razorpay_payment_id: str) -> list[Refund]:
    async with db.sessionmaker() as session:
        stmt = select(Refund).where(Refund.razorpay_payment_id == razorpay_payment_id)
        return list((await session.execute(stmt)).scalars())
