"""The course platforms enrollpay serves (SPEC §4.4): each has API keys for server-to-server
calls and, optionally, a single sign-on configuration; its learners carry its external ids
(`users.platform_id` + `users.external_id`)."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Boolean, ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from enrollpay.db.base import Base, TimestampMixin
from enrollpay.db.types import UTCDateTime
from enrollpay.kit.clock import utcnow


class Platform(TimestampMixin, Base):
    __tablename__ = "platforms"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # plt_…
    name: Mapped[str] = mapped_column(String(200), unique=True, nullable=False)
    is_active: Mapped[bool] = mapped_column(Boolean, nullable=False, default=True)
    # Single sign-on: the platform's tokens must name this issuer and audience, and be signed
    # with the shared HS256 secret or a key of the RS256 JWKS (one of the two).
    sso_issuer: Mapped[str | None] = mapped_column(String(500), unique=True)
    sso_audience: Mapped[str | None] = mapped_column(String(500))
    # Kept as given: verifying an HS256 signature needs the secret itself. Never shown or logged.
    sso_hs256_secret: Mapped[str | None] = mapped_column(String(500))
    sso_jwks_url: Mapped[str | None] = mapped_column(String(2048))


class ApiKey(Base):
    """`ep_live_…` keys. Only a SHA-256 digest of the key is stored (a key is 32 random bytes,
    so no slow hash is needed); `prefix` (the first characters) tells keys apart in lists."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)  # key_…
    platform_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("platforms.id"), nullable=False, index=True
    )
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    prefix: Mapped[str] = mapped_column(String(20), nullable=False)
    secret_hash: Mapped[str] = mapped_column(String(64), unique=True, nullable=False)
    created_by: Mapped[str | None] = mapped_column(String(32), ForeignKey("users.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow, nullable=False)
    last_used_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())

    @property
    def is_revoked(self) -> bool:
        return self.revoked_at is not None
