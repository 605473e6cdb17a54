"""API shapes: the answer Razorpay gets, and the inbox rows the admin console will show."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict


class WebhookAck(BaseModel):
    """`accepted`: stored now (and queued for processing unless unusable); `duplicate`: this
    event id was stored before, nothing new was written."""

    status: Literal["accepted", "duplicate"]


class WebhookEventSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    event_id: str
    event_id_derived: bool
    event: str | None
    account_id: str | None
    status: str
    attempts: int
    deliveries: int
    replays: int
    outcome: str | None
    last_error: str | None
    razorpay_payment_id: str | None
    razorpay_order_id: str | None
    event_created_at: datetime | None
    received_at: datetime
    processed_at: datetime | None


class WebhookEventDetail(WebhookEventSummary):
    raw_body: str
    body_encoding: str
    body_sha256: str
    headers: dict[str, Any]
