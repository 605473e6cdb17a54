"""Gateway errors keep everything Razorpay said (the official SDK drops all but `description`)."""

from __future__ import annotations

from typing import Any


class GatewayError(Exception):
    """Razorpay answered with an error, or could not be reached.

    `status` is the HTTP status (None when no response arrived); the rest are Razorpay's error
    fields: `code` (BAD_REQUEST_ERROR | GATEWAY_ERROR | SERVER_ERROR), `description`, `field`,
    `source`, `step`, `reason`, `metadata`."""

    def __init__(
        self,
        description: str,
        *,
        status: int | None = None,
        code: str | None = None,
        field: str | None = None,
        source: str | None = None,
        step: str | None = None,
        reason: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(description)
        self.description = description
        self.status = status
        self.code = code
        self.field = field
        self.source = source
        self.step = step
        self.reason = reason
        self.metadata = metadata or {}

    @classmethod
    def from_response(cls, status: int, body: Any) -> GatewayError:
        error = body.get("error") if isinstance(body, dict) else None
        if not isinstance(error, dict):
            return cls(f"HTTP {status} without a Razorpay error body", status=status)

        def text(name: str) -> str | None:
            value = error.get(name)
            return value if isinstance(value, str) and value not in ("", "NA") else None

        metadata = error.get("metadata")
        kind = GatewayRejected if status < 500 and status != 429 else GatewayUnavailable
        return kind(
            text("description") or f"HTTP {status}",
            status=status,
            code=text("code"),
            field=text("field"),
            source=text("source"),
            step=text("step"),
            reason=text("reason"),
            metadata=metadata if isinstance(metadata, dict) else None,
        )

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(status={self.status!r}, code={self.code!r}, "
            f"description={self.description!r}, field={self.field!r}, reason={self.reason!r})"
        )


class GatewayRejected(GatewayError):
    """A 4xx: the request itself was refused (validation, unknown id, bad credentials).
    Retrying the same request cannot help."""


class GatewayUnavailable(GatewayError):
    """Timeouts, connection failures, 429 and 5xx that outlasted our retries. The request may or
    may not have taken effect; callers treat the outcome as unknown and reconcile later."""
