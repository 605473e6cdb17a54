"""The `course_views` table: who looked at a course page, without personal data.

`visitor_key` is a signed-in learner's user id, or a random id from the `ep_vid` cookie (never
an IP address or user agent). One row per visitor, course and 15-minute bucket: every time-zone
offset in use is a multiple of 15 minutes, so any day boundary in any `tz` falls on a bucket
boundary and distinct (visitor, course) counts over whole days are exact, while repeat views
within a bucket cost nothing."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import ForeignKey, Index, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from enrollpay.db.base import Base
from enrollpay.db.types import UTCDateTime

VIEW_BUCKET = timedelta(minutes=15)


def view_bucket(at: datetime) -> datetime:
    """The start of the 15-minute bucket (UTC) that `at` falls in."""
    at = at.astimezone(UTC)
    return at.replace(minute=at.minute - at.minute % 15, second=0, microsecond=0)


class CourseView(Base):
    __tablename__ = "course_views"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    course_id: Mapped[str] = mapped_column(String(32), ForeignKey("courses.id"), nullable=False)
    visitor_key: Mapped[str] = mapped_column(String(64), nullable=False)
    viewed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)  # the first view
    bucket_start: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)

    __table_args__ = (
        UniqueConstraint("course_id", "visitor_key", "bucket_start"),
        Index("ix_course_views_viewed_at", "viewed_at"),
    )
