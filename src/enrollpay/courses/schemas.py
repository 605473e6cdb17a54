"""API shapes for courses: admin writes (major units in, strict) and the public PRD shape."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, Field, StringConstraints

from enrollpay.auth.schemas import StrictBody
from enrollpay.courses.models import CourseStatus
from enrollpay.pricing.schemas import NotNull, Price, QuoteOut, UtcDatetime

Title = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=20_000)]
Instructor = Annotated[str, StringConstraints(strip_whitespace=True, max_length=200)]
# Printable ASCII without spaces: host platforms' ids are slugs, numbers, UUIDs, URNs.
ExternalId = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128, pattern=r"^[!-~]+$")
]
CourseIdRef = Annotated[str, Field(min_length=1, max_length=64)]
# Counts are strict: `true` or "5" is a mistake, not 1 or 5.
DurationWeeks = Annotated[int, Field(ge=1, le=520, strict=True)]
Capacity = Annotated[int, Field(ge=0, le=10_000_000, strict=True)]
RefundWindowDays = Annotated[int, Field(ge=0, le=365, strict=True)]

_ABSOLUTE_URL = re.compile(r"^https?://[^\s/?#]+[^\s]*$", re.IGNORECASE)
_ROOT_PATH = re.compile(r"^/(?!/)[^\s]*$")


def _access_url(value: str) -> str:
    # http(s) or a path on the host platform: never javascript:, data: or protocol-relative.
    value = value.strip()
    if not (_ABSOLUTE_URL.match(value) or _ROOT_PATH.match(value)):
        raise ValueError("must be an http(s) URL or a path starting with '/'")
    return value


AccessUrl = Annotated[str, Field(max_length=2048), AfterValidator(_access_url)]


class CourseCreate(StrictBody):
    title: Title
    description: Description = ""
    instructor: Instructor = ""
    price: Price
    currency: Literal["INR"] = "INR"
    discount_price: Price | None = None
    discount_starts_at: UtcDatetime | None = None
    discount_ends_at: UtcDatetime | None = None
    prerequisites: list[CourseIdRef] = Field(default_factory=list, max_length=20)
    duration_weeks: DurationWeeks | None = None
    enrollment_deadline: UtcDatetime | None = None
    capacity: Capacity | None = None
    refund_window_days: RefundWindowDays = 7
    status: CourseStatus = CourseStatus.draft
    access_url: AccessUrl | None = None
    external_id: ExternalId | None = None


class CoursePatch(StrictBody):
    """Only the fields sent change (`model_fields_set`); null clears a nullable field."""

    title: Annotated[Title | None, NotNull] = None
    description: Annotated[Description | None, NotNull] = None
    instructor: Annotated[Instructor | None, NotNull] = None
    price: Annotated[Price | None, NotNull] = None
    currency: Annotated[Literal["INR"] | None, NotNull] = None
    discount_price: Price | None = None
    discount_starts_at: UtcDatetime | None = None
    discount_ends_at: UtcDatetime | None = None
    prerequisites: Annotated[list[CourseIdRef] | None, NotNull, Field(max_length=20)] = None
    duration_weeks: DurationWeeks | None = None
    enrollment_deadline: UtcDatetime | None = None
    capacity: Capacity | None = None
    refund_window_days: Annotated[RefundWindowDays | None, NotNull] = None
    status: Annotated[CourseStatus | None, NotNull] = None
    access_url: AccessUrl | None = None
    external_id: ExternalId | None = None


EnrollmentState = Literal["not_enrolled", "pending", "failed", "enrolled"]


class CourseRef(BaseModel):
    id: str
    title: str


class CourseOut(BaseModel):
    """The PRD's course shape plus what a course page needs (SPEC §4.1)."""

    id: str
    title: str
    description: str
    instructor: str
    status: CourseStatus
    price: float
    currency: str
    discount_price: float | None
    discount_starts_at: datetime | None
    discount_ends_at: datetime | None
    has_active_discount: bool
    prerequisites: list[str]
    prerequisite_courses: list[CourseRef]
    duration_weeks: int | None
    enrollment_deadline: datetime | None
    capacity: int | None
    seats_left: int | None
    refund_window_days: int
    access_url: str | None
    # The caller's view: not_enrolled for anonymous callers and for final states.
    enrollment_status: EnrollmentState
    enrollment_id: str | None
    can_enroll: bool
    can_enroll_reason: str | None
    # The quote without a coupon, so a page can show the total with GST.
    pricing: QuoteOut


class CourseDetailResponse(BaseModel):
    course: CourseOut


class CourseAdminOut(BaseModel):
    id: str
    title: str
    description: str
    instructor: str
    status: CourseStatus
    price: float
    currency: str
    discount_price: float | None
    discount_starts_at: datetime | None
    discount_ends_at: datetime | None
    has_active_discount: bool
    prerequisites: list[str]
    duration_weeks: int | None
    enrollment_deadline: datetime | None
    capacity: int | None
    # Live enrollments (pending, failed, enrolled) and what remains of the capacity.
    seats_taken: int
    seats_left: int | None
    refund_window_days: int
    access_url: str | None
    external_id: str | None
    created_at: datetime
    updated_at: datetime
