"""Checkout stand-in routes: `checkout.js` and the JSON endpoints its modal calls.

Mounted under the sandbox base (`/sandbox/razorpay` in the app, `/` when standalone):

- `GET  /checkout.js`, `GET /checkout.css`: the script that defines `window.Razorpay`;
- `GET  /checkout/order?key_id=&order_id=`: the order the modal shows; refuses a wrong key or a
  paid order before asking for card details;
- `POST /checkout/pay`: applies the test-mode rules (`checkout_rules`) and calls
  `service.attempt_payment`;
- `GET  /checkout/demo?order_id=`: a tiny page that opens Checkout (for people and tests).

The JSON endpoints answer CORS (`*`, no credentials): a page on another origin loads the script
from a standalone sandbox and the modal calls back to it. Errors are Razorpay-shaped
(`{"error": {"code", "description", "field", "source", "step", "reason", "metadata"}}`) and carry
the CORS headers too, so the modal can read them.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import HTMLResponse, JSONResponse
from jinja2 import Environment, FileSystemLoader, select_autoescape
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from enrollpay.kit.clock import utcnow
from enrollpay.sandbox import service
from enrollpay.sandbox.checkout_rules import (
    NETBANKING_BANKS,
    WALLETS,
    CheckoutInputError,
    Method,
    Outcome,
    card_outcome,
    check_bank,
    check_card,
    check_wallet,
    mock_page_outcome,
    normalize_contact,
    normalize_email,
    upi_outcome,
)
from enrollpay.sandbox.config import SandboxConfig
from enrollpay.sandbox.deps import SandboxConfigDep, SandboxDatabaseDep
from enrollpay.sandbox.errors import ORDER_ALREADY_PAID, SandboxError

router = APIRouter(tags=["sandbox checkout"], include_in_schema=False)

_HERE = Path(__file__).parent
STATIC_DIR = _HERE / "static"
TEMPLATES_DIR = _HERE / "templates"

# The script is small and changes only with a release: short caching plus an ETag revalidation.
STATIC_CACHE_CONTROL = "public, max-age=300"
CORS_HEADERS = {
    "Access-Control-Allow-Origin": "*",
    "Access-Control-Allow-Methods": "GET, POST, OPTIONS",
    "Access-Control-Allow-Headers": "Content-Type",
    "Access-Control-Max-Age": "600",
}
JSON_HEADERS = {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-store"}


# ---- Razorpay-shaped errors -----------------------------------------------------------------


def razorpay_error(
    description: str,
    *,
    status_code: int = 400,
    field: str | None = None,
    code: str = "BAD_REQUEST_ERROR",
    reason: str = "input_validation_failed",
    source: str = "customer",
    step: str = "payment_initiation",
) -> JSONResponse:
    body: dict[str, Any] = {
        "error": {
            "code": code,
            "description": description,
            "field": field,
            "source": source,
            "step": step,
            "reason": reason,
            "metadata": {},
        }
    }
    return JSONResponse(body, status_code=status_code, headers=JSON_HEADERS)


def _sandbox_error_response(exc: SandboxError) -> JSONResponse:
    """The core's Razorpay-shaped error, with the CORS headers the modal needs to read it."""
    return JSONResponse(exc.body(), status_code=exc.status, headers={**exc.headers, **JSON_HEADERS})


def _input_error(exc: CheckoutInputError) -> JSONResponse:
    return razorpay_error(exc.description, field=exc.field)


def _validation_error(exc: ValidationError) -> JSONResponse:
    first = exc.errors()[0]
    loc = [str(part) for part in first.get("loc", ())]
    # card.number → card[number], Razorpay's way of naming nested fields.
    field = loc[0] + "".join(f"[{part}]" for part in loc[1:]) if loc else None
    return razorpay_error(f"{field or 'request'}: {first.get('msg', 'invalid value')}", field=field)


# ---- static files ---------------------------------------------------------------------------


@dataclass(frozen=True)
class _Asset:
    body: bytes
    etag: str
    media_type: str


@cache
def _asset(name: str, media_type: str) -> _Asset:
    body = (STATIC_DIR / name).read_bytes()
    return _Asset(body, '"' + hashlib.sha256(body).hexdigest()[:32] + '"', media_type)


def _serve(request: Request, asset: _Asset) -> Response:
    headers = {
        "Cache-Control": STATIC_CACHE_CONTROL,
        "ETag": asset.etag,
        "Access-Control-Allow-Origin": "*",
        "X-Content-Type-Options": "nosniff",
    }
    if asset.etag in request.headers.get("if-none-match", ""):
        return Response(status_code=304, headers=headers)
    return Response(asset.body, media_type=asset.media_type, headers=headers)


@router.api_route("/checkout.js", methods=["GET", "HEAD"])
async def checkout_js(request: Request) -> Response:
    return _serve(request, _asset("checkout.js", "application/javascript; charset=utf-8"))


@router.api_route("/checkout.css", methods=["GET", "HEAD"])
async def checkout_css(request: Request) -> Response:
    return _serve(request, _asset("checkout.css", "text/css; charset=utf-8"))


@router.get("/checkout-demo.js")
async def checkout_demo_js(request: Request) -> Response:
    return _serve(request, _asset("checkout-demo.js", "application/javascript; charset=utf-8"))


@router.get("/checkout-demo.css")
async def checkout_demo_css(request: Request) -> Response:
    return _serve(request, _asset("checkout-demo.css", "text/css; charset=utf-8"))


# ---- the order the modal shows --------------------------------------------------------------


@router.options("/checkout/order")
@router.options("/checkout/pay")
async def checkout_preflight() -> Response:
    return Response(status_code=204, headers=CORS_HEADERS)


async def _order_for_checkout(
    session: AsyncSession, config: SandboxConfig, key_id: str, order_id: str
) -> dict[str, Any]:
    """The order, or SandboxError: a wrong key or order "does not exist"; a paid order is
    refused before the customer types anything."""
    order = await service.find_order_for_checkout(session, config, key_id=key_id, order_id=order_id)
    if order.get("status") == "paid":
        raise SandboxError(
            ORDER_ALREADY_PAID,
            field="order_id",
            source="business",
            step="payment_initiation",
            reason="order_already_paid",
            metadata={"order_id": order_id},
        )
    return order


@router.get("/checkout/order")
async def checkout_order(
    db: SandboxDatabaseDep,
    config: SandboxConfigDep,
    key_id: Annotated[str, Query(max_length=100)] = "",
    order_id: Annotated[str, Query(max_length=100)] = "",
) -> JSONResponse:
    if not key_id:
        return razorpay_error("No key passed", field="key_id")
    if not order_id:
        return razorpay_error("The order_id is required.", field="order_id")
    try:
        async with db.transaction() as session:
            order = await _order_for_checkout(session, config, key_id, order_id)
    except SandboxError as exc:
        return _sandbox_error_response(exc)
    public = {
        name: order.get(name)
        for name in ("id", "entity", "amount", "amount_paid", "amount_due", "currency", "status")
    }
    body = {"order": public, "netbanking": NETBANKING_BANKS, "wallets": WALLETS}
    return JSONResponse(body, headers=JSON_HEADERS)


# ---- paying ---------------------------------------------------------------------------------


class CardInput(BaseModel):
    model_config = ConfigDict(extra="ignore")

    number: str = Field(max_length=40)
    expiry: str = Field(max_length=10)
    cvv: str = Field(max_length=10)
    name: str | None = Field(None, max_length=100)


class PayRequest(BaseModel):
    """What the modal sends. Without `otp` or `action`, a card is only checked (step one)."""

    model_config = ConfigDict(extra="ignore")

    key_id: str = Field(min_length=1, max_length=100)
    order_id: str = Field(min_length=1, max_length=100)
    method: Method
    contact: str | None = Field(None, max_length=40)
    email: str | None = Field(None, max_length=254)
    card: CardInput | None = None
    otp: str | None = Field(None, max_length=20)
    action: Literal["success", "failure"] | None = None
    vpa: str | None = Field(None, max_length=300)
    bank: str | None = Field(None, max_length=20)
    wallet: str | None = Field(None, max_length=40)


@router.post("/checkout/pay")
async def checkout_pay(
    request: Request, db: SandboxDatabaseDep, config: SandboxConfigDep
) -> JSONResponse:
    # Parsed here rather than by FastAPI so every refusal is Razorpay-shaped and CORS-readable.
    try:
        pay = PayRequest.model_validate(await request.json())
    except ValidationError as exc:
        return _validation_error(exc)
    except ValueError:
        return razorpay_error("The request body must be a JSON object.")

    try:
        # One transaction, committed before the answer; a SandboxError rolls it back.
        async with db.transaction() as session:
            return await _pay(session, config, pay)
    except SandboxError as exc:
        return _sandbox_error_response(exc)


async def _pay(session: AsyncSession, config: SandboxConfig, pay: PayRequest) -> JSONResponse:
    await _order_for_checkout(session, config, pay.key_id, pay.order_id)
    try:
        contact = normalize_contact(pay.contact)
        email = normalize_email(pay.email)
        details: dict[str, Any] = {}
        if pay.method == "card":
            if pay.card is None:
                raise CheckoutInputError("card[number]", "Enter the card details.")
            card = check_card(pay.card.number, pay.card.expiry, pay.card.cvv, today=utcnow().date())
            if pay.otp is None and pay.action is None:
                # Step one: the card is acceptable; the modal now shows the mock bank page.
                body = {
                    "status": "authentication_required",
                    "card": {
                        "last4": card.last4,
                        "network": card.network,
                        "international": card.international,
                    },
                }
                return JSONResponse(body, headers=JSON_HEADERS)
            outcome = card_outcome(card, otp=pay.otp, action=pay.action)
            details = {"card_last4": card.last4, "card_network": card.network}
        elif pay.method == "upi":
            outcome = upi_outcome(pay.vpa or "")
            details = {"vpa": (pay.vpa or "").strip().lower()}
        elif pay.method == "netbanking":
            details = {"bank": check_bank(pay.bank or "")}
            outcome = mock_page_outcome(pay.action)
        else:
            details = {"wallet": check_wallet(pay.wallet or "")}
            outcome = mock_page_outcome(pay.action)
    except CheckoutInputError as exc:
        return _input_error(exc)

    return await _attempt(session, config, pay, outcome, contact, email, details)


async def _attempt(
    session: AsyncSession,
    config: SandboxConfig,
    pay: PayRequest,
    outcome: Outcome,
    contact: str | None,
    email: str | None,
    details: dict[str, Any],
) -> JSONResponse:
    result = await service.attempt_payment(
        session,
        config,
        order_id=pay.order_id,
        method=pay.method,
        outcome=outcome.outcome,
        error_reason=outcome.error_reason,
        email=email,
        contact=contact,
        **details,
    )
    if result.handler_response is not None:
        body: dict[str, Any] = {"status": "success", "response": result.handler_response}
    else:
        body = {"status": "failed", "error": result.error}
    return JSONResponse(body, headers=JSON_HEADERS)


# ---- the demo page --------------------------------------------------------------------------


@cache
def _templates() -> Environment:
    return Environment(
        loader=FileSystemLoader(TEMPLATES_DIR),
        autoescape=select_autoescape(["html"]),
        auto_reload=False,
    )


@router.get("/checkout/demo", response_class=HTMLResponse)
async def checkout_demo(
    config: SandboxConfigDep,
    order_id: Annotated[str, Query(max_length=100)] = "",
    name: Annotated[str, Query(max_length=100)] = "enrollpay sandbox",
) -> HTMLResponse:
    html = (
        _templates()
        .get_template("checkout_demo.html")
        .render(order_id=order_id, key_id=config.key_id, name=name)
    )
    return HTMLResponse(html, headers={"Cache-Control": "no-store"})
