"""API shapes of the dev mailbox."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict


class MailboxMessageOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    to_address: str
    subject: str
    status: str
    message_id: str
    text_body: str
    html_body: str
    created_at: datetime
    sent_at: datetime | None
