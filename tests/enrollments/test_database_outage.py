"""The database going away in the middle of a checkout (PostgreSQL, through a TCP proxy the test
cuts): the request answers a clean 503, what was committed before the outage is consistent (a
pending enrollment, its payment without an order id), and the learner's retry afterwards ends
with exactly one Razorpay order — the one created while the database was gone, found again by
its receipt — never a second charge or a half-written enrollment."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import stamina
from asgi_lifespan import LifespanManager
from sqlalchemy import select, update

from enrollpay.app import create_app
from enrollpay.auth.tokens import issue_access_token
from enrollpay.enrollments.models import Enrollment
from enrollpay.idempotency.models import IdempotencyKey
from enrollpay.kit.clock import utcnow
from enrollpay.payments.models import Payment
from enrollpay.users.models import Role
from enrollpay.users.service import create_user
from tests.conftest import TEST_PASSWORD, assert_error, make_settings
from tests.courses.factories import create_course
from tests.enrollments.helpers import initialize, sandbox_orders

pytestmark = pytest.mark.postgresql_only


class CuttableProxy:
    """Forwards TCP to PostgreSQL until `cut()`: then every connection is dropped and new ones
    are refused, as when the database host goes away; `restore()` brings it back."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.server: asyncio.Server | None = None
        self.links: set[asyncio.StreamWriter] = set()
        self.tasks: set[asyncio.Task[Any]] = set()

    async def start(self, port: int = 0) -> int:
        self.server = await asyncio.start_server(self._link, "127.0.0.1", port)
        bound: int = self.server.sockets[0].getsockname()[1]
        return bound

    async def _link(self, client_r: asyncio.StreamReader, client_w: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.tasks.add(task)
        server_r, server_w = await asyncio.open_connection(*self.target)
        self.links |= {client_w, server_w}

        async def pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            with contextlib.suppress(ConnectionError, OSError):
                while data := await reader.read(65536):
                    writer.write(data)
                    await writer.drain()
            writer.close()

        await asyncio.gather(pipe(client_r, server_w), pipe(server_r, client_w))

    async def cut(self) -> None:
        assert self.server is not None
        self.server.close()
        for writer in self.links:
            writer.transport.abort()
        self.links.clear()
        await asyncio.gather(*self.tasks, return_exceptions=True)  # every pipe has ended
        self.tasks.clear()

    async def restore(self, port: int) -> None:
        await self.start(port)


@pytest.fixture(autouse=True)
def _no_backoff_waits():
    with stamina.set_testing(True, attempts=2, cap=True):
        yield


async def _tokens(app: Any) -> tuple[dict[str, str], dict[str, str]]:
    """Bearer headers of an admin and a learner, made through the app's own database."""
    async with app.state.db.transaction() as session:
        users = [
            await create_user(
                session, email=email, password=TEST_PASSWORD, full_name="Test", role=role
            )
            for email, role in (("ops@example.com", Role.admin), ("asha@example.com", Role.learner))
        ]
    settings = app.state.settings
    admin, learner = (
        {"Authorization": f"Bearer {issue_access_token(settings, user.id).token}"} for user in users
    )
    return admin, learner


async def test_the_database_lost_during_the_gateway_call_is_503_then_one_order(database, tmp_path):
    target = urlsplit(database.url)
    proxy = CuttableProxy(target.hostname or "127.0.0.1", target.port or 5432)
    port = await proxy.start()
    proxied = database.url.replace(target.netloc, f"{target.username}@127.0.0.1:{port}")
    app = create_app(make_settings(proxied, tmp_path))
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    try:
        async with (
            LifespanManager(app),
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as client,
        ):
            await _outage_then_retry(app, client, proxy, port)
    finally:
        await proxy.cut()


async def _outage_then_retry(
    app: Any, client: httpx.AsyncClient, proxy: CuttableProxy, port: int
) -> None:
    admin, learner = await _tokens(app)
    course = await create_course(client, admin, price=4999)

    # The gateway creates the order; while it answers, the database goes away.
    gateway: Any = app.state.gateway
    create_order = gateway.create_order

    async def then_cut(**kwargs: Any) -> Any:
        order = await create_order(**kwargs)
        await proxy.cut()
        return order

    gateway.create_order = then_cut
    key = {"extra_headers": {"Idempotency-Key": "outage-1"}}
    lost = await initialize(client, learner, course["id"], **key)
    assert_error(lost, 503, "service_unavailable")
    assert lost.headers["retry-after"]

    # The database is back. The lost request never released its Idempotency-Key: a retry now
    # is told to wait.
    gateway.create_order = create_order
    await proxy.restore(port)
    waiting = await initialize(client, learner, course["id"], **key)
    assert_error(waiting, 409, "request_in_progress")

    # What the outage left is consistent: the reservation committed before the gateway call.
    db = app.state.db
    async with db.transaction() as session:
        enrollment = (await session.scalars(select(Enrollment))).one()
        payment = (await session.scalars(select(Payment))).one()
        assert (enrollment.status, enrollment.current_payment_id) == ("pending", payment.id)
        assert payment.razorpay_order_id is None  # never recorded: the outage hit first
        # The learner retries once the lost request's claims have run out.
        await session.execute(update(Payment).values(order_lease_expires_at=utcnow()))
        await session.execute(update(IdempotencyKey).values(locked_until=utcnow()))
    assert len(await sandbox_orders(db, receipt=payment.id)) == 1

    again = await initialize(client, learner, course["id"], **key)
    assert again.status_code == 200, again.text  # the pending enrollment, resumed
    body = again.json()
    assert body["enrollment_id"] == enrollment.id
    orders = await sandbox_orders(db, receipt=payment.id)
    assert [order.id for order in orders] == [body["payment_session"]["razorpay_order_id"]]
    async with db.transaction() as session:
        assert (await session.scalars(select(Enrollment))).one().id == enrollment.id
        recorded = (await session.scalars(select(Payment))).one().razorpay_order_id
    assert recorded == orders[0].id
