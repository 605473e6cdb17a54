"""API shapes of reconciliation's admin view."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel


class RepairOut(BaseModel):
    """A gateway fact only reconciliation learned, and what applying it did."""

    id: str
    enrollment_id: str
    payment_id: str
    razorpay_payment_id: str
    status: str  # what Razorpay said: authorized, captured, failed…
    amount: float
    currency: str
    note: str  # what the transition did, e.g. "captured: enrolled"
    actions: list[dict[str, Any]]  # follow-ups it enqueued (capture, automatic refund)
    created_at: datetime
