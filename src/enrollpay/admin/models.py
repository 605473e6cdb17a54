"""`admin_actions`: one row per change an admin (or the CLI acting as one) made, written in the
same transaction as the change itself, so the trail never claims a change that rolled back."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, String
from sqlalchemy.orm import Mapped, mapped_column

from enrollpay.db.base import Base
from enrollpay.db.types import UTCDateTime
from enrollpay.kit.clock import utcnow


class AdminAction(Base):
    __tablename__ = "admin_actions"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # adm_…
    actor_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("users.id"))  # None: CLI
    action: Mapped[str] = mapped_column(String(64), nullable=False)  # e.g. `enrollment.refund`
    target_type: Mapped[str] = mapped_column(String(32), nullable=False)  # e.g. `enrollment`
    target_id: Mapped[str] = mapped_column(String(64), nullable=False)
    # Set when the action concerns one enrollment, so its timeline can show it.
    enrollment_id: Mapped[str | None] = mapped_column(String(32))
    # What was asked for (changed fields, amount, reason); never secrets.
    details: Mapped[dict[str, Any]] = mapped_column(JSON, nullable=False, default=dict)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)

    __table_args__ = (
        Index("ix_admin_actions_target_id", "target_id"),
        Index("ix_admin_actions_enrollment_id", "enrollment_id"),
        Index("ix_admin_actions_actor_id", "actor_id"),
    )
