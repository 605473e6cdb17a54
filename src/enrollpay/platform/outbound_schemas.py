"""API shapes for managing outbound webhook endpoints and inspecting their deliveries."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, Field, StrictBool, StringConstraints

from enrollpay.auth.schemas import StrictBody
from enrollpay.platform.outbound_models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
    WebhookMessage,
)
from enrollpay.pricing.schemas import NotNull

# Plain http only to this machine: a receiver under development. Anywhere else the body
# (learners' ids, amounts) must not travel in the clear.
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

SubscribableEventType = Literal[
    "enrollment.enrolled",
    "enrollment.refunded",
    "enrollment.expired",
    "enrollment.cancelled",
    "payment.failed",
]


def _webhook_url(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError("must be an absolute https URL")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK_HOSTS:
        raise ValueError("must use https (plain http is only allowed to localhost / 127.0.0.1)")
    if parts.username is not None or parts.password is not None:
        raise ValueError("must not contain credentials")
    if parts.fragment:
        raise ValueError("must not contain a #fragment")
    return url


WebhookUrl = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=2048),
    AfterValidator(_webhook_url),
]
Description = Annotated[str, StringConstraints(strip_whitespace=True, max_length=500)]


def _unique(types: list[str]) -> list[str]:
    return list(dict.fromkeys(types))


EventTypes = Annotated[list[SubscribableEventType], Field(max_length=20), AfterValidator(_unique)]


class EndpointCreate(StrictBody):
    url: WebhookUrl
    description: Description = ""
    # Empty: every event type.
    event_types: EventTypes = Field(default_factory=list)
    # A platform's endpoint gets its learners' events only; without one, every learner's.
    platform_id: Annotated[str, StringConstraints(max_length=32)] | None = None


class EndpointPatch(StrictBody):
    """Only the fields sent change (`model_fields_set`)."""

    url: Annotated[WebhookUrl | None, NotNull] = None
    description: Annotated[Description | None, NotNull] = None
    event_types: Annotated[EventTypes | None, NotNull] = None
    is_enabled: Annotated[StrictBool | None, NotNull] = None


class EndpointOut(BaseModel):
    id: str
    platform_id: str | None
    url: str
    description: str
    event_types: list[str]
    is_enabled: bool
    disabled_reason: str | None
    failing_since: datetime | None
    # Until then deliveries also carry a signature made with the secret before the last rotation.
    previous_secret_expires_at: datetime | None
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, endpoint: WebhookEndpoint, now: datetime) -> EndpointOut:
        overlap = endpoint.previous_secret_expires_at
        return cls(
            id=endpoint.id,
            platform_id=endpoint.platform_id,
            url=endpoint.url,
            description=endpoint.description,
            event_types=list(endpoint.event_types),
            is_enabled=endpoint.is_enabled,
            disabled_reason=endpoint.disabled_reason,
            failing_since=endpoint.failing_since,
            previous_secret_expires_at=overlap if overlap is not None and overlap > now else None,
            created_at=endpoint.created_at,
            updated_at=endpoint.updated_at,
        )


class EndpointWithSecret(EndpointOut):
    """Only the answers to create and rotate carry the secret."""

    secret: str


class AttemptOut(BaseModel):
    attempted_at: datetime
    status_code: int | None
    error: str | None
    duration_ms: int
    response_excerpt: str | None

    @classmethod
    def of(cls, attempt: WebhookAttempt) -> AttemptOut:
        return cls(
            attempted_at=attempt.attempted_at,
            status_code=attempt.status_code,
            error=attempt.error,
            duration_ms=attempt.duration_ms,
            response_excerpt=attempt.response_excerpt,
        )


class DeliveryOut(BaseModel):
    id: str
    endpoint_id: str
    message_id: str  # the webhook-id header, the same on every attempt
    event_type: str
    status: DeliveryStatus
    attempt_count: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    delivered_at: datetime | None
    created_at: datetime
    attempts: list[AttemptOut]

    @classmethod
    def of(
        cls, delivery: WebhookDelivery, event_type: str, attempts: list[WebhookAttempt]
    ) -> DeliveryOut:
        return cls(
            id=delivery.id,
            endpoint_id=delivery.endpoint_id,
            message_id=delivery.message_id,
            event_type=event_type,
            status=DeliveryStatus(delivery.status),
            attempt_count=delivery.attempts,
            next_attempt_at=(
                delivery.next_attempt_at if delivery.status == DeliveryStatus.pending else None
            ),
            last_status_code=delivery.last_status_code,
            last_error=delivery.last_error,
            delivered_at=delivery.delivered_at,
            created_at=delivery.created_at,
            attempts=[AttemptOut.of(attempt) for attempt in attempts],
        )


class DeliveryDetail(DeliveryOut):
    payload: dict[str, Any]  # the body as sent

    @classmethod
    def with_payload(
        cls, delivery: WebhookDelivery, message: WebhookMessage, attempts: list[WebhookAttempt]
    ) -> DeliveryDetail:
        summary = DeliveryOut.of(delivery, message.event_type, attempts)
        return cls(**summary.model_dump(), payload=json.loads(message.body))


class SentTestEvent(BaseModel):
    message_id: str
    delivery_id: str
