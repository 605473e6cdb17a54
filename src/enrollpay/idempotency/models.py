"""The `idempotency_keys` table: one row per (learner, key), claimed before the request runs
and holding its response afterwards."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from enrollpay.db.base import Base
from enrollpay.db.types import UTCDateTime


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    user_id: Mapped[str] = mapped_column(String(32), ForeignKey("users.id"), nullable=False)
    key: Mapped[str] = mapped_column(String(255), nullable=False)
    # sha256 of the method, path and the parsed body: the same key with another body is refused.
    request_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    # None while the first request runs; set once its response is stored.
    response_status: Mapped[int | None] = mapped_column(Integer)
    response_body: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    response_headers: Mapped[dict[str, str] | None] = mapped_column(JSON)
    # A request that died without storing a response frees its key after this.
    locked_until: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (
        UniqueConstraint("user_id", "key"),
        Index("ix_idempotency_keys_created_at", "created_at"),
    )
