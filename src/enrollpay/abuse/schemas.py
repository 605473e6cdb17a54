"""API shapes of the abuse package (admin only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class RiskFlagOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    subject: str  # a user id, or `ip:` + a keyed hash of the client address
    details: dict[str, Any]
    created_at: datetime
    reviewed_at: datetime | None
    reviewed_by: str | None


class PaymentAttemptOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    user_id: str
    enrollment_id: str | None
    action: str
    client_ip: str
    user_agent: str | None
    amount: int | None  # minor units (paise), when the enrollment was known
    currency: str | None
    outcome: str  # `success` or the error code answered
    created_at: datetime
