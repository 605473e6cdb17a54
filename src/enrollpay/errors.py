"""One error envelope for every failure (SPEC §1.5, statuses of SPEC §4.3).

Raise an `AppError` subclass anywhere; `install_error_handlers` renders it as
`{"error": {"code", "message", "hint", "details"}}`. Framework errors (validation, unknown
routes, wrong methods) and unexpected exceptions are mapped onto the same shape.
"""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeoutError
from starlette.exceptions import HTTPException as StarletteHTTPException

log = structlog.get_logger(__name__)


class AppError(Exception):
    status_code: int = 400
    code: str = "bad_request"
    message: str = "The request could not be processed."
    hint: str | None = None

    def __init__(
        self,
        message: str | None = None,
        *,
        hint: str | None = None,
        details: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
        code: str | None = None,
        status_code: int | None = None,
    ) -> None:
        self.message = message or type(self).message
        self.hint = hint if hint is not None else type(self).hint
        self.details = details or {}
        self.headers = headers or {}
        if code is not None:
            self.code = code
        if status_code is not None:
            self.status_code = status_code
        super().__init__(self.message)


class BadRequest(AppError):
    status_code = 400


class Unauthenticated(AppError):
    status_code = 401
    code = "unauthenticated"
    message = "Sign in to continue: the access token is missing, invalid or expired."
    hint = "Send 'Authorization: Bearer <access_token>' from POST /api/v1/auth/login."


class InvalidCredentials(AppError):
    status_code = 401
    code = "invalid_credentials"
    message = "The email or password is incorrect."


class Forbidden(AppError):
    status_code = 403
    code = "forbidden"
    message = "You are not allowed to do this."


class NotFound(AppError):
    status_code = 404
    code = "not_found"
    message = "Not found."


class Conflict(AppError):
    status_code = 409
    code = "conflict"


class ValidationFailed(AppError):
    status_code = 422
    code = "validation_error"
    message = "The request body or parameters are not valid."


def field_problem(field: str, message: str, location: str = "body") -> dict[str, str]:
    """One entry of `details.fields`, in the shape the 422 handler gives Pydantic's errors,
    for rules a schema cannot express (across fields, or needing the database)."""
    return {"field": field, "location": location, "message": message, "type": "value_error"}


def raise_field_problems(problems: list[dict[str, str]]) -> None:
    """422 `validation_error` listing every problem found, or nothing when there are none."""
    if problems:
        raise ValidationFailed(
            hint="See details.fields for what to fix.", details={"fields": problems}
        )


class TooManyRequests(AppError):
    status_code = 429
    code = "too_many_requests"
    message = "Too many requests. Wait a little and try again."

    def __init__(self, retry_after: int, message: str | None = None) -> None:
        retry_after = max(1, int(retry_after))
        super().__init__(
            message,
            details={"retry_after_seconds": retry_after},
            headers={"Retry-After": str(retry_after)},
        )


class ServiceUnavailable(AppError):
    status_code = 503
    code = "service_unavailable"
    message = "The service is temporarily unavailable. Try again shortly."


class ErrorDetail(BaseModel):
    code: str
    message: str
    hint: str | None = None
    details: dict[str, Any] = {}


class ErrorEnvelope(BaseModel):
    """The body of every error response."""

    error: ErrorDetail


def documented(description: str) -> dict[str, Any]:
    return {"model": ErrorEnvelope, "description": description}


# Declared on the API router so the OpenAPI document lists the envelope for every route.
COMMON_ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: documented("Business rule refused the request"),
    401: documented("Missing, invalid or expired token"),
    403: documented("Not allowed"),
    404: documented("No such resource (also other users' objects)"),
    405: documented("Method not allowed"),
    409: documented("Conflicts with the current state"),
    413: documented("Request body too large"),
    422: documented("Invalid body or parameters; details.fields lists them"),
    429: documented("Throttled; see Retry-After"),
    500: documented("Unexpected error; details.request_id identifies it"),
    503: documented("A dependency (database) is unavailable"),
}


def error_body(
    code: str,
    message: str,
    hint: str | None = None,
    details: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "hint": hint, "details": details or {}}}


def error_response(
    status_code: int,
    code: str,
    message: str,
    *,
    hint: str | None = None,
    details: dict[str, Any] | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        error_body(code, message, hint, details), status_code=status_code, headers=headers
    )


def _request_id(request: Request) -> str | None:
    return getattr(request.state, "request_id", None)


# A body of a megabyte with 60 000 unknown keys would otherwise answer 6 MB of errors.
MAX_FIELD_ERRORS = 50


def _field_errors(exc: RequestValidationError) -> list[dict[str, Any]]:
    fields = []
    for error in exc.errors()[:MAX_FIELD_ERRORS]:
        loc = [str(part) for part in error.get("loc", ())]
        # FastAPI prefixes the location with "body"/"query"/...; keep it: it says where to look.
        fields.append(
            {
                "field": ".".join(loc[1:]) if len(loc) > 1 else ".".join(loc),
                "location": loc[0] if loc else "body",
                "message": error.get("msg", "invalid value"),
                "type": error.get("type", "value_error"),
            }
        )
    return fields


_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}

_HTTP_MESSAGES = {
    404: "No such resource. Check the path and the id.",
    405: "This method is not allowed on this path.",
    413: "The request body is too large.",
}


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(AppError)
    async def _app_error(request: Request, exc: AppError) -> JSONResponse:
        return error_response(
            exc.status_code,
            exc.code,
            exc.message,
            hint=exc.hint,
            details=exc.details,
            headers=exc.headers,
        )

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        return error_response(
            422,
            "validation_error",
            ValidationFailed.message,
            hint="See details.fields for what to fix.",
            details={"fields": _field_errors(exc)},
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        code = _HTTP_CODES.get(exc.status_code, "http_error")
        message = _HTTP_MESSAGES.get(exc.status_code) or str(exc.detail)
        return error_response(exc.status_code, code, message, headers=getattr(exc, "headers", None))

    @app.exception_handler(OperationalError)
    async def _database_down(request: Request, exc: OperationalError) -> JSONResponse:
        log.error("database_unavailable", error=type(exc.orig).__name__ if exc.orig else None)
        return error_response(
            503,
            ServiceUnavailable.code,
            ServiceUnavailable.message,
            details={"request_id": _request_id(request)},
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(PoolTimeoutError)
    async def _pool_exhausted(request: Request, exc: PoolTimeoutError) -> JSONResponse:
        # Every pooled connection stayed busy for pool_timeout: overloaded, not broken.
        log.error("database_pool_exhausted")
        return error_response(
            503,
            ServiceUnavailable.code,
            ServiceUnavailable.message,
            details={"request_id": _request_id(request)},
            headers={"Retry-After": "5"},
        )

    @app.exception_handler(DBAPIError)
    async def _database_error(request: Request, exc: DBAPIError) -> JSONResponse:
        if exc.connection_invalidated:
            return await _database_down(request, exc)  # type: ignore[arg-type]
        if "NUL (0x00)" in str(exc.orig):
            # PostgreSQL text cannot hold U+0000 (psycopg refuses to send it): bad input, not a
            # server error. (SQLite stores it; found by the contract fuzzing.)
            return error_response(
                422,
                ValidationFailed.code,
                "Text values may not contain the NUL character (U+0000).",
                hint="Remove the \\u0000 characters from the body and the parameters.",
            )
        return await _unexpected(request, exc)

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        request_id = _request_id(request)
        log.exception("unhandled_error", request_id=request_id, error_type=type(exc).__name__)
        return error_response(
            500,
            "internal_error",
            "Something went wrong on our side. It has been logged.",
            hint="Quote the request_id if you contact support.",
            details={"request_id": request_id},
            # This handler runs outside the request-id middleware, so it sets the header itself.
            headers={"X-Request-ID": request_id} if request_id else None,
        )
