"""API shapes of the audit trail."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class AdminActionOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    actor_id: str | None  # None: done from the command line
    action: str
    target_type: str
    target_id: str
    enrollment_id: str | None
    details: dict[str, Any]
    created_at: datetime
