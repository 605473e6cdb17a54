from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, Field

from enrollpay.auth.schemas import StrictBody


class CourseAccess(BaseModel):
    """PRD shape of GET /courses/{course_id}/access."""

    has_access: bool
    enrollment_id: str | None
    enrollment_date: datetime | None
    access_expires: datetime | None = None  # access does not expire in version 1
    course_progress: int
    next_lesson_url: str | None


class ProgressUpdate(StrictBody):
    progress: int = Field(ge=0, le=100, strict=True, description="percent complete, 0-100")
