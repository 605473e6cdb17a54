"""Fixtures for notifications: the app with the dev mailbox, a worker that runs due jobs, and
a real SMTP server (aiosmtpd) on a free port in the test's event loop."""

from __future__ import annotations

import asyncio
import email
import email.policy
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from email.message import EmailMessage as MimeMessage
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session
from sqlalchemy import func, select

from enrollpay.config import Settings
from enrollpay.db.engine import Database
from enrollpay.jobs.models import Job
from enrollpay.jobs.worker import JobOutcome, Worker
from enrollpay.notifications.models import EmailMessage

RunJobs = Callable[[], Awaitable[list[JobOutcome]]]


@pytest.fixture
def run_jobs(db: Database, settings: Settings) -> RunJobs:
    """Run every due job once; retries are due at once (no backoff jitter)."""
    worker = Worker(db, settings)
    worker.jitter = lambda: 0.0

    async def _run() -> list[JobOutcome]:
        return await worker.run_once(schedules=False)

    return _run


async def load_email(db: Database, email_id: str) -> EmailMessage:
    async with db.sessionmaker() as session:
        row = await session.get(EmailMessage, email_id)
        assert row is not None
        return row


async def count(db: Database, model: type[Any]) -> int:
    async with db.sessionmaker() as session:
        return int((await session.execute(select(func.count()).select_from(model))).scalar_one())


async def jobs_of(db: Database) -> list[Job]:
    async with db.sessionmaker() as session:
        return list((await session.execute(select(Job).order_by(Job.id))).scalars())


@dataclass
class Received:
    mail_from: str
    rcpt_tos: list[str]
    message: MimeMessage


@dataclass
class FakeSmtpServer:
    """Records every accepted message and login; `rcpt_reply` set to e.g. "550 …" refuses
    recipients with that reply."""

    port: int = 0
    received: list[Received] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)
    rcpt_reply: str | None = None

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        if self.rcpt_reply is not None:
            return self.rcpt_reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        assert envelope.original_content is not None
        message = email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        assert isinstance(message, MimeMessage)
        self.received.append(Received(str(envelope.mail_from), list(envelope.rcpt_tos), message))
        return "250 Message accepted for delivery"

    def authenticate(
        self, server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any
    ) -> AuthResult:
        assert isinstance(data, LoginPassword)
        self.logins.append((data.login.decode(), data.password.decode()))
        return AuthResult(success=True)


@pytest.fixture
async def smtp_server() -> AsyncIterator[FakeSmtpServer]:
    fake = FakeSmtpServer()
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(fake, authenticator=fake.authenticate, auth_require_tls=False, loop=loop),
        host="127.0.0.1",
        port=0,  # a free port, chosen by the OS
    )
    fake.port = server.sockets[0].getsockname()[1]
    yield fake
    server.close()
    await server.wait_closed()
