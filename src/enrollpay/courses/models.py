"""Courses and their prerequisites. Money is paise (BigInteger), never Numeric (SQLite floats)."""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    ForeignKey,
    Integer,
    String,
    Text,
)
from sqlalchemy.orm import Mapped, mapped_column

from enrollpay.db.base import Base, TimestampMixin
from enrollpay.db.types import UTCDateTime


class CourseStatus(StrEnum):
    draft = "draft"
    published = "published"
    archived = "archived"


class Course(TimestampMixin, Base):
    __tablename__ = "courses"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    title: Mapped[str] = mapped_column(String(200), nullable=False)
    description: Mapped[str] = mapped_column(Text, nullable=False, default="")
    instructor: Mapped[str] = mapped_column(String(200), nullable=False, default="")
    price: Mapped[int] = mapped_column(BigInteger, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False, default="INR")
    discount_price: Mapped[int | None] = mapped_column(BigInteger)
    discount_starts_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    discount_ends_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    duration_weeks: Mapped[int | None] = mapped_column(Integer)
    enrollment_deadline: Mapped[datetime | None] = mapped_column(UTCDateTime())
    capacity: Mapped[int | None] = mapped_column(Integer)  # None = unlimited
    refund_window_days: Mapped[int] = mapped_column(Integer, nullable=False, default=7)
    status: Mapped[str] = mapped_column(String(16), nullable=False, default=CourseStatus.draft)
    access_url: Mapped[str | None] = mapped_column(String(2048))
    # The host platform's id; unique when set (NULLs never collide on either database).
    external_id: Mapped[str | None] = mapped_column(String(128), unique=True)
    # The platform that syncs this course (SPEC §4.4); only its API keys may change it.
    platform_id: Mapped[str | None] = mapped_column(String(32), ForeignKey("platforms.id"))

    __table_args__ = (
        CheckConstraint("status IN ('draft', 'published', 'archived')", name="status"),
        # Backstops for the API's validation: a bad row can never be priced.
        CheckConstraint(
            "price >= 0 AND (discount_price IS NULL OR "
            "(discount_price >= 0 AND discount_price < price))",
            name="price",
        ),
        CheckConstraint("capacity IS NULL OR capacity >= 0", name="capacity"),
    )


class CoursePrerequisite(Base):
    """`course_id` requires a live enrollment in `prerequisite_id`. `position` keeps the order
    the admin gave."""

    __tablename__ = "course_prerequisites"

    course_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("courses.id", ondelete="CASCADE"), primary_key=True
    )
    prerequisite_id: Mapped[str] = mapped_column(
        String(32), ForeignKey("courses.id"), primary_key=True, index=True
    )
    position: Mapped[int] = mapped_column(Integer, nullable=False, default=0)

    __table_args__ = (CheckConstraint("course_id <> prerequisite_id", name="not_self"),)
