"""SMTP delivery: `SMTP_URL` → connection options, an outbox row → a MIME message, and which
SMTP errors are worth retrying.

The URL's password is only ever handed to aiosmtplib: it is not logged and not kept in errors.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from email.message import EmailMessage as MimeMessage
from email.utils import format_datetime
from urllib.parse import unquote, urlsplit

import aiosmtplib

from enrollpay.notifications.models import EmailMessage

SMTP_TIMEOUT_SECONDS = 30.0


@dataclass(frozen=True)
class SmtpConfig:
    hostname: str
    port: int | None  # None: 465 for smtps://, 25 for smtp://
    implicit_tls: bool  # smtps://; smtp:// upgrades with STARTTLS when the server offers it
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @classmethod
    def from_url(cls, url: str) -> SmtpConfig:
        parts = urlsplit(url)
        if parts.scheme not in ("smtp", "smtps") or not parts.hostname:
            raise ValueError("SMTP_URL must look like smtp://user:pass@host:port")
        return cls(
            hostname=parts.hostname,
            port=parts.port,
            implicit_tls=parts.scheme == "smtps",
            # Percent-encoded in the URL, so a password may contain @ or :.
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


def build_message(email: EmailMessage, *, sender: str, date: datetime) -> MimeMessage:
    """multipart/alternative (text, then HTML) with the Message-ID fixed at queue time."""
    message = MimeMessage()
    message["From"] = sender
    message["To"] = email.to_address
    message["Subject"] = email.subject
    message["Date"] = format_datetime(date)
    message["Message-ID"] = email.message_id
    message.set_content(email.text_body)
    message.add_alternative(email.html_body, subtype="html")
    return message


async def deliver(config: SmtpConfig, message: MimeMessage) -> None:
    await aiosmtplib.send(
        message,
        hostname=config.hostname,
        port=config.port,
        username=config.username,
        password=config.password,
        use_tls=config.implicit_tls,
        # None: STARTTLS if the server offers it; implicit TLS excludes it.
        start_tls=False if config.implicit_tls else None,
        timeout=SMTP_TIMEOUT_SECONDS,
    )


def is_permanent(exc: Exception) -> bool:
    """The server refused this message (its recipient or its content) with a 5xx reply:
    resending it cannot help.

    A refused login or sender is left to retries: that is our configuration, and an operator
    fixing SMTP_URL or EMAIL_FROM should not find every email of the meantime failed."""
    if isinstance(exc, aiosmtplib.SMTPRecipientsRefused):
        return all(refusal.code >= 500 for refusal in exc.recipients)
    if isinstance(exc, aiosmtplib.SMTPDataError):
        return exc.code >= 500
    return False
