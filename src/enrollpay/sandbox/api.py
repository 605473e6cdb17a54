"""The REST subset (facts §1-§4) at `/v1/…`, behind Razorpay's HTTP Basic auth.

Auth: `Authorization: Basic base64(key_id:key_secret)` with exactly the scheme word `Basic`;
only the sandbox's own key pair is accepted; anything else is 401 `BAD_REQUEST_ERROR`
"Authentication failed" (the status has third-party evidence; the wording is unconfirmed).
Every answer is 200 on success; each request is one transaction, committed before the answer.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import JSONResponse

from enrollpay.sandbox import service
from enrollpay.sandbox.deps import SandboxConfigDep, SandboxDatabaseDep
from enrollpay.sandbox.errors import AUTHENTICATION_FAILED, SandboxError
from enrollpay.sandbox.validation import query, read_body


def require_basic_auth(request: Request, config: SandboxConfigDep) -> None:
    header = request.headers.get("authorization", "")
    if not header.startswith("Basic "):
        raise SandboxError(AUTHENTICATION_FAILED, status=401)
    try:
        decoded = base64.b64decode(header[len("Basic ") :], validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        raise SandboxError(AUTHENTICATION_FAILED, status=401) from None
    key_id, separator, secret = decoded.partition(":")
    key_ok = hmac.compare_digest(key_id.encode(), config.key_id.encode())
    secret_ok = hmac.compare_digest(secret.encode(), config.key_secret.encode())
    if not (separator and key_ok and secret_ok):
        raise SandboxError(AUTHENTICATION_FAILED, status=401)


router = APIRouter(prefix="/v1", dependencies=[Depends(require_basic_auth)])


def _ok(body: dict[str, Any]) -> JSONResponse:
    return JSONResponse(body)


def _expand(request: Request) -> list[str]:
    return request.query_params.getlist("expand[]")


def _fetch_params(request: Request) -> None:
    query(request).reject_unknown(("expand[]",))


# ---- orders -------------------------------------------------------------------------------------


@router.post("/orders")
async def create_order(
    request: Request, config: SandboxConfigDep, db: SandboxDatabaseDep
) -> JSONResponse:
    body = await read_body(request)
    async with db.transaction() as session:
        order = await service.create_order(session, config, body)
    return _ok(order)


@router.get("/orders")
async def list_orders(
    request: Request, config: SandboxConfigDep, db: SandboxDatabaseDep
) -> JSONResponse:
    async with db.transaction() as session:
        orders = await service.list_orders(session, config, query(request), _expand(request))
    return _ok(orders)


@router.get("/orders/{order_id}")
async def fetch_order(
    order_id: str, request: Request, config: SandboxConfigDep, db: SandboxDatabaseDep
) -> JSONResponse:
    _fetch_params(request)
    async with db.transaction() as session:
        order = await service.fetch_order(session, config, order_id, _expand(request))
    return _ok(order)


@router.patch("/orders/{order_id}")
async def update_order(
    order_id: str, request: Request, config: SandboxConfigDep, db: SandboxDatabaseDep
) -> JSONResponse:
    body = await read_body(request)
    async with db.transaction() as session:
        order = await service.update_notes(session, config, "order", order_id, body)
    return _ok(order)


@router.get("/orders/{order_id}/payments")
async def order_payments(
    order_id: str, request: Request, config: SandboxConfigDep, db: SandboxDatabaseDep
) -> JSONResponse:
    query(request).reject_unknown(())
    async with db.transaction() as session:
        payments = await service.order_payments(session, config, order_id)
    return _ok(payments)


# ---- payments -----------------------------------------------------------------------------------


@router.get("/payments")
async def list_payments(
    request: Request, config: SandboxConfigDep, db: SandboxDatabaseDep
) -> JSONResponse:
    async with db.transaction() as session:
        payments = await service.list_payments(session, config, query(request))
    return _ok(payments)


@router.get("/payments/{payment_id}")
async def fetch_payment(
    payment_id: str, request: Request, config: SandboxConfigDep, db: SandboxDatabaseDep
) -> JSONResponse:
    _fetch_params(request)
    async with db.transaction() as session:
        payment = await service.fetch_payment(session, config, payment_id, _expand(request))
    return _ok(payment)


@router.patch("/payments/{payment_id}")
async def update_payment(
    payment_id: str, request: Request, config: SandboxConfigDep, db: SandboxDatabaseDep
) -> JSONResponse:
    body = await read_body(request)
    async with db.transaction() as session:
        payment = await service.update_notes(session, config, "payment", payment_id, body)
    return _ok(payment)


@router.post("/payments/{payment_id}/capture")
async def capture_payment(
    payment_id: str, request: Request, config: SandboxConfigDep, db: SandboxDatabaseDep
) -> JSONResponse:
    body = await read_body(request)
    async with db.transaction() as session:
        payment = await service.capture_payment(session, config, payment_id, body)
    return _ok(payment)


@router.post("/payments/{payment_id}/refund")
async def create_refund(
    payment_id: str, request: Request, config: SandboxConfigDep, db: SandboxDatabaseDep
) -> JSONResponse:
    body = await read_body(request)
    key = request.headers.get("x-refund-idempotency")
    refund = await service.create_refund(db, config, payment_id, body, key)
    return _ok(refund)


@router.get("/payments/{payment_id}/refunds")
async def payment_refunds(
    payment_id: str, request: Request, config: SandboxConfigDep, db: SandboxDatabaseDep
) -> JSONResponse:
    async with db.transaction() as session:
        refunds = await service.list_refunds(session, config, query(request), payment_id)
    return _ok(refunds)


@router.get("/payments/{payment_id}/refunds/{refund_id}")
async def payment_refund(
    payment_id: str,
    refund_id: str,
    request: Request,
    config: SandboxConfigDep,
    db: SandboxDatabaseDep,
) -> JSONResponse:
    query(request).reject_unknown(())
    async with db.transaction() as session:
        refund = await service.fetch_payment_refund(session, config, payment_id, refund_id)
    return _ok(refund)


# ---- refunds ------------------------------------------------------------------------------------


@router.get("/refunds")
async def list_refunds(
    request: Request, config: SandboxConfigDep, db: SandboxDatabaseDep
) -> JSONResponse:
    async with db.transaction() as session:
        refunds = await service.list_refunds(session, config, query(request))
    return _ok(refunds)


@router.get("/refunds/{refund_id}")
async def fetch_refund(
    refund_id: str, request: Request, config: SandboxConfigDep, db: SandboxDatabaseDep
) -> JSONResponse:
    query(request).reject_unknown(())
    async with db.transaction() as session:
        refund = await service.fetch_refund(session, config, refund_id)
    return _ok(refund)


@router.patch("/refunds/{refund_id}")
async def update_refund(
    refund_id: str, request: Request, config: SandboxConfigDep, db: SandboxDatabaseDep
) -> JSONResponse:
    body = await read_body(request)
    async with db.transaction() as session:
        refund = await service.update_notes(session, config, "refund", refund_id, body)
    return _ok(refund)
