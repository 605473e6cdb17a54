"""Razorpay's error shape for everything the sandbox answers (facts §1), never our envelope.

    {"error": {"code": "BAD_REQUEST_ERROR", "description": "...", "field": null,
               "source": "NA", "step": "NA", "reason": "NA", "metadata": {}}}

Input validation errors carry `source: business`, `step: payment_initiation`,
`reason: input_validation_failed` and the field, as in the docs' order-create sample; errors not
tied to a payment carry "NA" (observed in real responses).
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from sqlalchemy.exc import DBAPIError, OperationalError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger(__name__)

BAD_REQUEST_ERROR = "BAD_REQUEST_ERROR"
GATEWAY_ERROR = "GATEWAY_ERROR"
SERVER_ERROR = "SERVER_ERROR"
NA = "NA"

ID_DOES_NOT_EXIST = "The id provided does not exist"
URL_NOT_FOUND = "The requested URL was not found on the server."
AUTHENTICATION_FAILED = "Authentication failed"
SERVER_ERROR_DESCRIPTION = (
    "The server encountered an error. The incident has been reported to admins."
)
ORDER_ALREADY_PAID = "Your payment has been declined as the order is already paid."


class SandboxError(Exception):
    """An error the sandbox answers with, in Razorpay's shape."""

    def __init__(
        self,
        description: str,
        *,
        status: int = 400,
        code: str = BAD_REQUEST_ERROR,
        field: str | None = None,
        source: str = NA,
        step: str = NA,
        reason: str = NA,
        metadata: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
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
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return error_body(
            self.description,
            code=self.code,
            field=self.field,
            source=self.source,
            step=self.step,
            reason=self.reason,
            metadata=self.metadata,
        )

    def response(self) -> JSONResponse:
        return JSONResponse(self.body(), status_code=self.status, headers=self.headers or None)


def error_body(
    description: str,
    *,
    code: str = BAD_REQUEST_ERROR,
    field: str | None = None,
    source: str = NA,
    step: str = NA,
    reason: str = NA,
    metadata: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "error": {
            "code": code,
            "description": description,
            "field": field,
            "source": source,
            "step": step,
            "reason": reason,
            "metadata": metadata or {},
        }
    }


def validation_error(description: str, field: str | None) -> SandboxError:
    """Input validation, shaped like the docs' order-create sample."""
    return SandboxError(
        description,
        field=field,
        source="business",
        step="payment_initiation",
        reason="input_validation_failed",
    )


def not_found() -> SandboxError:
    return SandboxError(ID_DOES_NOT_EXIST)


def invalid_id(value: str) -> SandboxError:
    return SandboxError(f"{value} is not a valid id")


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(SandboxError)
    async def _sandbox_error(request: Request, exc: SandboxError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def _validation(request: Request, exc: RequestValidationError) -> JSONResponse:
        errors = exc.errors()
        first = errors[0] if errors else {}
        loc = [str(part) for part in first.get("loc", ())[1:]]
        field = ".".join(loc) or None
        message = str(first.get("msg", "The request is invalid."))
        return validation_error(f"{field}: {message}" if field else message, field).response()

    @app.exception_handler(StarletteHTTPException)
    async def _http(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code in (404, 405):
            # Razorpay lists a wrong URL *or method* as 400 with this text.
            return SandboxError(URL_NOT_FOUND).response()
        if exc.status_code == 413:
            return SandboxError("The request body is too large.", status=413).response()
        return SandboxError(str(exc.detail), status=exc.status_code).response()

    @app.exception_handler(OperationalError)
    async def _database_down(request: Request, exc: OperationalError) -> JSONResponse:
        log.error("sandbox.database_unavailable")
        return SandboxError(
            SERVER_ERROR_DESCRIPTION, status=503, code=SERVER_ERROR, headers={"Retry-After": "5"}
        ).response()

    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:
            return await _database_down(request, exc)  # type: ignore[arg-type]
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        from enrollpay.sandbox.faults import SimulatedConnectionReset

        if not isinstance(exc, SimulatedConnectionReset):
            log.exception("sandbox.unhandled_error", error_type=type(exc).__name__)
        return SandboxError(SERVER_ERROR_DESCRIPTION, status=500, code=SERVER_ERROR).response()
