"""The `jobs` table: the transactional outbox every side effect leaves through (SPEC §1.4)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import JSON, CheckConstraint, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from enrollpay.db.base import Base, TimestampMixin
from enrollpay.db.types import UTCDateTime


class JobStatus(StrEnum):
    pending = "pending"  # waiting for run_at (new, or retrying after a failure)
    running = "running"  # claimed; owned by whoever holds lease_token until locked_until
    done = "done"
    dead = "dead"  # gave up after max_attempts (or a permanent error); an admin may retry it


class Job(TimestampMixin, Base):
    __tablename__ = "jobs"
    __table_args__ = (
        # The claim query filters on status and orders by run_at.
        Index("ix_jobs_status_run_at", "status", "run_at"),
        CheckConstraint(
            "status IN ('pending', 'running', 'done', 'dead')",
            name="status",
        ),
    )

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    kind: Mapped[str] = mapped_column(String(100), nullable=False)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=JobStatus.pending)
    # Attempts *started*: the claim counts it, so a worker that dies mid-job still uses one up.
    attempts: Mapped[int] = mapped_column(Integer, nullable=False, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer, nullable=False)
    run_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    # The lease: a running job whose locked_until has passed may be claimed by another worker.
    locked_until: Mapped[datetime | None] = mapped_column(UTCDateTime())
    # New random value per claim; completion only counts while the row still carries it.
    lease_token: Mapped[str | None] = mapped_column(String(64))
    locked_by: Mapped[str | None] = mapped_column(String(200))  # worker name, for operators
    last_error: Mapped[str | None] = mapped_column(Text)
    # NULLs never collide, so only jobs that ask for deduplication are deduplicated.
    dedupe_key: Mapped[str | None] = mapped_column(String(255), unique=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
