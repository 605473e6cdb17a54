"""Injected faults (POST /_sandbox/faults): the next `count` REST calls (paths under `/v1/`)
matching `method` and `path_prefix` misbehave, so a client's timeouts and retries can be tested.

- `delay_ms`: wait that long first (then answer normally, unless a failure is also asked for).
- `status`: answer with it instead — a Razorpay-shaped body (`SERVER_ERROR` for 5xx; 429 with a
  `Retry-After` header), or with `"body": "html"` / `"empty"` what a proxy in front would send.
- `reset`: the connection breaks mid-answer (over HTTP the socket closes after a partial body;
  in process the client gets a truncated body, or `SimulatedConnectionReset` — an
  `httpx.RemoteProtocolError` — when its ASGI transport re-raises app exceptions).
- `after: true`: a *lost response* — the call is applied (and committed) first, then the delay,
  status or reset is applied to the answer.

Faults are rows (shared by every process on the database) and are used up atomically: two
concurrent matching calls never both take the last one.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

import httpx
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from enrollpay.sandbox import repository
from enrollpay.sandbox.deps import app_config, app_database
from enrollpay.sandbox.errors import (
    AUTHENTICATION_FAILED,
    BAD_REQUEST_ERROR,
    SERVER_ERROR,
    SERVER_ERROR_DESCRIPTION,
    error_body,
)
from enrollpay.sandbox.models import SandboxFault

REST_PREFIX = "/v1/"


class SimulatedConnectionReset(httpx.RemoteProtocolError):
    """Raised by the app to break the connection on purpose (a `reset` fault)."""

    def __init__(self) -> None:
        super().__init__("connection reset by the sandbox (injected fault)")


@dataclass(frozen=True)
class Fault:
    id: str
    path_prefix: str
    method: str | None
    status: int | None
    delay_ms: int
    after: bool
    reset: bool
    retry_after: int | None
    body: str

    @classmethod
    def of(cls, row: SandboxFault) -> Fault:
        return cls(
            id=row.id,
            path_prefix=row.path_prefix,
            method=row.method,
            status=row.status,
            delay_ms=row.delay_ms,
            after=row.after,
            reset=row.reset,
            retry_after=row.retry_after,
            body=row.body,
        )

    def matches(self, method: str, path: str) -> bool:
        return path.startswith(self.path_prefix) and self.method in (None, method)


def fault_entity(row: SandboxFault) -> dict[str, Any]:
    return {
        "id": row.id,
        "path_prefix": row.path_prefix,
        "method": row.method,
        "status": row.status,
        "count": row.count,
        "remaining": row.remaining,
        "delay_ms": row.delay_ms,
        "after": row.after,
        "reset": row.reset,
        "retry_after": row.retry_after,
        "body": row.body,
        "created_at": int(row.created.timestamp()),
    }


def route_path(scope: Scope) -> str:
    """The path inside the sandbox app, whether it is mounted or served at the root."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    return path[len(root) :] if root and path.startswith(root) else path


def fault_response(fault: Fault) -> Response:
    assert fault.status is not None
    status = fault.status
    if fault.body == "empty":
        return Response(b"", status_code=status)
    if fault.body == "html":
        phrase = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else ""
        title = f"{status} {phrase}".strip()
        html = f"<html><head><title>{title}</title></head><body><h1>{title}</h1></body></html>"
        return Response(html, status_code=status, media_type="text/html")
    headers = {}
    if status >= 500:
        body = error_body(SERVER_ERROR_DESCRIPTION, code=SERVER_ERROR)
    elif status == 429:
        body = error_body("Too many requests", code=BAD_REQUEST_ERROR)
        headers["Retry-After"] = str(fault.retry_after if fault.retry_after is not None else 1)
    elif status == 401:
        body = error_body(AUTHENTICATION_FAILED)
    else:
        body = error_body(f"Injected sandbox fault {fault.id}")
    return JSONResponse(body, status_code=status, headers=headers)


class FaultMiddleware:
    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not route_path(scope).startswith(REST_PREFIX):
            await self.app(scope, receive, send)
            return
        fault = await self._take(scope)
        if fault is None:
            await self.app(scope, receive, send)
            return
        if not fault.after:
            if fault.delay_ms:
                await asyncio.sleep(fault.delay_ms / 1000)
            await self._misbehave(fault, scope, receive, send, answer=None)
            return
        answer: list[Message] = []

        async def keep(message: Message) -> None:
            answer.append(message)

        await self.app(scope, receive, keep)  # applied: the handler has committed
        if fault.delay_ms:
            await asyncio.sleep(fault.delay_ms / 1000)
        await self._misbehave(fault, scope, receive, send, answer=answer)

    async def _misbehave(
        self,
        fault: Fault,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        answer: list[Message] | None,
    ) -> None:
        if fault.reset:
            await send(
                {
                    "type": "http.response.start",
                    "status": 200,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", b"4096"),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": b'{"id":', "more_body": True})
            raise SimulatedConnectionReset()
        if fault.status is not None:
            await fault_response(fault)(scope, receive, send)
            return
        if answer is None:
            await self.app(scope, receive, send)
            return
        for message in answer:
            await send(message)

    async def _take(self, scope: Scope) -> Fault | None:
        app = scope["app"]
        config = app_config(app)
        method = scope["method"].upper()
        path = route_path(scope)
        async with app_database(app).transaction() as session:
            for row in await repository.active_faults(session, config.key_id):
                fault = Fault.of(row)
                if fault.matches(method, path) and await repository.take_fault(session, row.id):
                    return fault
        return None
