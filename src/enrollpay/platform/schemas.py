"""API shapes for platforms, their API keys, and what a key does (learners, course sync).

The HS256 secret is write-only: answers say whether one is set, never what it is."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    EmailStr,
    Field,
    StrictBool,
    StringConstraints,
)

from enrollpay.auth.schemas import FullName, Phone, StrictBody
from enrollpay.courses.models import CourseStatus
from enrollpay.courses.schemas import (
    AccessUrl,
    Capacity,
    Description,
    DurationWeeks,
    Instructor,
    RefundWindowDays,
    Title,
)
from enrollpay.platform.models import Platform
from enrollpay.pricing.schemas import NotNull, Price, UtcDatetime

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
SsoIdentifier = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=500)
]
# RFC 7518 §3.2: an HS256 key must be at least as long as the hash, 256 bits.
Hs256Secret = Annotated[str, Field(min_length=32, max_length=500)]
_LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})


def _jwks_url(value: str) -> str:
    # Keys fetched over plain http could be swapped in transit; loopback is for local testing.
    parts = urlsplit(value)
    secure = parts.scheme == "https" and bool(parts.hostname)
    if not (secure or (parts.scheme == "http" and parts.hostname in _LOOPBACK_HOSTS)):
        raise ValueError("must be an https URL (http only for 127.0.0.1 or localhost)")
    return value


JwksUrl = Annotated[str, Field(max_length=2048), AfterValidator(_jwks_url)]


class PlatformCreate(StrictBody):
    """Single sign-on is on when `sso_issuer` is set: then `sso_audience` and exactly one of
    `sso_hs256_secret` (HS256) and `sso_jwks_url` (RS256) are required."""

    name: Name
    sso_issuer: SsoIdentifier | None = None
    sso_audience: SsoIdentifier | None = None
    sso_hs256_secret: Hs256Secret | None = None
    sso_jwks_url: JwksUrl | None = None


class PlatformPatch(StrictBody):
    """Only the fields sent change; null clears an SSO field. The rules of `PlatformCreate`
    apply to the result."""

    name: Annotated[Name | None, NotNull] = None
    is_active: Annotated[StrictBool | None, NotNull] = None
    sso_issuer: SsoIdentifier | None = None
    sso_audience: SsoIdentifier | None = None
    sso_hs256_secret: Hs256Secret | None = None
    sso_jwks_url: JwksUrl | None = None


class PlatformOut(BaseModel):
    id: str
    name: str
    is_active: bool
    sso_issuer: str | None
    sso_audience: str | None
    sso_jwks_url: str | None
    sso_hs256_secret_set: bool
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, platform: Platform) -> PlatformOut:
        return cls(
            id=platform.id,
            name=platform.name,
            is_active=platform.is_active,
            sso_issuer=platform.sso_issuer,
            sso_audience=platform.sso_audience,
            sso_jwks_url=platform.sso_jwks_url,
            sso_hs256_secret_set=platform.sso_hs256_secret is not None,
            created_at=platform.created_at,
            updated_at=platform.updated_at,
        )


class ApiKeyCreate(StrictBody):
    name: Name


class ApiKeyOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    platform_id: str
    name: str
    prefix: str  # the key's first characters, to tell keys apart
    created_by: str | None
    created_at: datetime
    last_used_at: datetime | None  # to the minute
    revoked_at: datetime | None


class ApiKeyCreated(BaseModel):
    id: str
    platform_id: str
    name: str
    prefix: str
    key: str = Field(description="The full key. Shown only in this answer: store it now.")
    created_at: datetime


# ---- what a key does ----------------------------------------------------------------------------

# The platform's own id for a learner: printable ASCII without spaces, like course external ids.
LearnerExternalId = Annotated[
    str, StringConstraints(min_length=1, max_length=200, pattern=r"^[!-~]+$")
]


class LearnerUpsert(StrictBody):
    email: EmailStr = Field(max_length=320)
    full_name: FullName
    phone: Phone = None


class LearnerOut(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: str
    external_id: str
    email: str
    full_name: str
    phone: str | None
    created_at: datetime


class CourseSync(StrictBody):
    """A course as the platform has it. On create, fields left out take the admin API's
    defaults; on update, fields left out keep their value and null clears a nullable one.
    Prerequisites are managed in the admin API."""

    title: Title
    price: Price
    description: Annotated[Description | None, NotNull] = None
    instructor: Annotated[Instructor | None, NotNull] = None
    currency: Annotated[Literal["INR"] | None, NotNull] = None
    discount_price: Price | None = None
    discount_starts_at: UtcDatetime | None = None
    discount_ends_at: UtcDatetime | None = None
    duration_weeks: DurationWeeks | None = None
    enrollment_deadline: UtcDatetime | None = None
    capacity: Capacity | None = None
    refund_window_days: Annotated[RefundWindowDays | None, NotNull] = None
    status: Annotated[CourseStatus | None, NotNull] = None
    access_url: AccessUrl | None = None
