"""API shapes of the jobs table for the admin console. Payloads hold ids only (every kind puts
row ids, amounts or schedule slots in them, never secrets), so the detail shows them whole."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, ConfigDict


class JobSummary(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    kind: str
    status: str
    attempts: int  # started so far
    max_attempts: int
    run_at: datetime  # when it is (or was) due
    last_error: str | None  # type and message of the latest failure; no traceback
    locked_by: str | None  # the worker that claimed it last
    created_at: datetime
    updated_at: datetime
    finished_at: datetime | None


class JobDetail(JobSummary):
    payload: dict[str, Any]
    dedupe_key: str | None
    locked_until: datetime | None  # the lease of a running job
