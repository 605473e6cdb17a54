"""API shapes of the funnel report (names after the PRD's `EnrollmentAnalytics`)."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, ConfigDict, Field

from enrollpay.auth.schemas import StrictBody


class CourseViewIn(StrictBody):
    visitor_id: str | None = Field(
        default=None,
        min_length=8,
        max_length=200,
        description="your own random id of an anonymous visitor (ignored when signed in)",
    )


class CourseViewOut(BaseModel):
    recorded: bool = Field(description="false: this visitor's view was already counted")


class FunnelSteps(BaseModel):
    """Distinct (visitor or learner, course) pairs per step."""

    course_views: int
    enrollment_initiations: int
    payment_initiations: int
    payment_completions: int
    enrollment_completions: int


class ConversionRates(BaseModel):
    """Each step ÷ the step before it (overall: last ÷ first), 0-1 rounded to 4 places; null
    when the denominator is 0. A rate can exceed 1: anonymous viewers are not linked to the
    accounts they later make, and admin grants enroll without earlier steps."""

    view_to_enrollment: float | None = Field(description="enrollment_initiations / course_views")
    enrollment_to_payment: float | None = Field(
        description="payment_initiations / enrollment_initiations"
    )
    payment_to_completion: float | None = Field(
        description="payment_completions / payment_initiations"
    )
    completion_to_enrollment: float | None = Field(
        description="enrollment_completions / payment_completions"
    )
    overall_conversion: float | None = Field(description="enrollment_completions / course_views")


class RevenueDay(BaseModel):
    """One day (in `tz`) of money movement, in major units."""

    date: date
    captured: float
    refunded: float
    net: float
    currency: str


class FunnelReport(BaseModel):
    model_config = ConfigDict(populate_by_name=True)

    course_id: str | None
    from_date: date = Field(alias="from", description="first day, inclusive, in `tz`")
    to_date: date = Field(alias="to", description="last day, inclusive, in `tz`")
    tz: str
    steps: FunnelSteps
    conversion_rates: ConversionRates
    revenue: list[RevenueDay]
