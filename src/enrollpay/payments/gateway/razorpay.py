"""A thin async Razorpay client on httpx.

Why not the official SDK: it is synchronous, has no default timeout, never retries 429/5xx, and
drops everything from an error but its description (razorpay-facts.md §9).

Retry rules — retry only what cannot double-charge or double-create:
- reads are retried on any transient failure;
- a failure where the request never left (connect error, pool timeout) or was refused unprocessed
  (429, honouring Retry-After) is retried as is;
- a failure after the request may have been applied (read timeout, reset, 5xx) is retried only
  after checking what exists: an order is looked up by its receipt, a capture by fetching the
  payment; refunds carry `X-Refund-Idempotency`, so Razorpay itself dedupes their retries.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any, Protocol

import httpx
import stamina
import structlog

from enrollpay.payments.gateway.entities import RazorpayOrder, RazorpayPayment, RazorpayRefund
from enrollpay.payments.gateway.errors import GatewayError, GatewayRejected, GatewayUnavailable

log = structlog.get_logger(__name__)

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=3.0)
MAX_RETRY_AFTER_SECONDS = 10.0
# Failures where the request cannot have reached Razorpay.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class Unavailable(GatewayUnavailable):
    """GatewayUnavailable that also says whether the request may have been applied."""

    def __init__(
        self,
        description: str,
        *,
        maybe_applied: bool,
        retry_after: float | None = None,
        **fields: Any,
    ) -> None:
        super().__init__(description, **fields)
        self.maybe_applied = maybe_applied
        self.retry_after = retry_after


class CallObserver(Protocol):
    """Told about every HTTP exchange (enrollpay.metrics.Metrics)."""

    def gateway_call(self, operation: str, seconds: float, error_kind: str | None) -> None: ...


def error_kind(exc: BaseException) -> str:
    """What kind of failure an exchange ended in, for razorpay_api_errors_total."""
    if isinstance(exc, httpx.TimeoutException | TimeoutError):
        return "timeout"
    if isinstance(exc, httpx.TransportError):
        return "network"
    if isinstance(exc, GatewayError):
        if exc.status is None or exc.status < 400:
            return "invalid_response"
        if exc.status == 429:
            return "rate_limited"
        return "5xx" if exc.status >= 500 else "4xx"
    return "other"


def _backoff(exc: Exception) -> bool | float:
    if not isinstance(exc, GatewayUnavailable):
        return False
    retry_after = getattr(exc, "retry_after", None)
    return min(retry_after, MAX_RETRY_AFTER_SECONDS) if retry_after else True


class RazorpayClient:
    def __init__(
        self,
        *,
        key_id: str,
        key_secret: str,
        base_url: str = "https://api.razorpay.com",
        timeout: httpx.Timeout = DEFAULT_TIMEOUT,
        attempts: int = 4,
        retry_budget_seconds: float = 20.0,
        transport: httpx.AsyncBaseTransport | None = None,
        observer: CallObserver | None = None,
    ) -> None:
        self.key_id = key_id
        self._observer = observer
        self._attempts = attempts
        self._retry_budget = retry_budget_seconds
        # ASGI transports ignore httpx timeouts, so every exchange also gets an overall deadline.
        self._deadline = (timeout.connect or 0) + (timeout.read or 0) + (timeout.write or 0)
        self._http = httpx.AsyncClient(
            base_url=base_url.rstrip("/"),
            auth=httpx.BasicAuth(key_id, key_secret),
            timeout=timeout,
            transport=transport,
            headers={"User-Agent": "enrollpay", "Accept": "application/json"},
        )

    async def aclose(self) -> None:
        await self._http.aclose()

    # ---- one exchange -----------------------------------------------------------------------

    async def _send(
        self,
        method: str,
        path: str,
        *,
        operation: str,
        params: dict[str, Any] | None = None,
        json: dict[str, Any] | None = None,
        headers: dict[str, str] | None = None,
    ) -> Any:
        """One exchange; `operation` names the client method for the metrics."""
        started = time.perf_counter()
        try:
            result = await self._exchange(
                method, path, params=params, json=json, headers=headers, started=started
            )
        except Exception as exc:
            if self._observer is not None:
                cause = exc.__cause__ if isinstance(exc.__cause__, Exception) else exc
                self._observer.gateway_call(
                    operation, time.perf_counter() - started, error_kind(cause)
                )
            raise
        if self._observer is not None:
            self._observer.gateway_call(operation, time.perf_counter() - started, None)
        return result

    async def _exchange(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, Any] | None,
        json: dict[str, Any] | None,
        headers: dict[str, str] | None,
        started: float,
    ) -> Any:
        try:
            async with asyncio.timeout(self._deadline or None):
                response = await self._http.request(
                    method, path, params=params, json=json, headers=headers
                )
        except _NOT_SENT as exc:
            raise Unavailable(f"could not reach Razorpay: {exc!r}", maybe_applied=False) from exc
        except (httpx.TransportError, TimeoutError) as exc:
            raise Unavailable(f"no answer from Razorpay: {exc!r}", maybe_applied=True) from exc
        finally:
            log.debug(
                "gateway_call",
                method=method,
                path=path,
                seconds=round(time.perf_counter() - started, 4),
            )
        try:
            body = response.json()
        except ValueError:
            body = None
        if response.is_success:
            if body is None:
                raise Unavailable(
                    "Razorpay answered without JSON",
                    maybe_applied=True,
                    status=response.status_code,
                )
            return body
        error = GatewayError.from_response(response.status_code, body)
        if isinstance(error, GatewayRejected):
            raise error
        retry_after = _retry_after(response) if response.status_code == 429 else None
        raise Unavailable(
            error.description,
            maybe_applied=response.status_code != 429,
            retry_after=retry_after,
            status=error.status,
            code=error.code,
            field=error.field,
            source=error.source,
            step=error.step,
            reason=error.reason,
            metadata=error.metadata,
        )

    def _retrying(self) -> Any:
        """`async for attempt in self._retrying(): with attempt: ...` (stamina)."""
        return stamina.retry_context(
            on=_backoff,
            attempts=self._attempts,
            timeout=self._retry_budget,
            wait_initial=0.2,
            wait_max=2.0,
        )

    async def _read(
        self, path: str, params: dict[str, Any] | None = None, *, operation: str
    ) -> Any:
        async for attempt in self._retrying():
            with attempt:
                return await self._send("GET", path, operation=operation, params=params)
        raise AssertionError("unreachable")  # pragma: no cover - stamina re-raises the last error

    # ---- orders -----------------------------------------------------------------------------

    async def create_order(
        self,
        *,
        amount: int,
        currency: str,
        receipt: str,
        notes: dict[str, str],
        may_exist: bool = False,
    ) -> RazorpayOrder:
        """Create an order; never a second one for the same receipt, whatever fails on the way.
        `may_exist`: an earlier call for this receipt may have succeeded (a crash or timeout
        before its answer was stored), so look it up first."""
        body = {
            "amount": amount,
            "currency": currency,
            "receipt": receipt,
            "notes": notes,
            "payment": {"capture": "automatic"},
        }
        async for attempt in self._retrying():
            with attempt:
                if may_exist and (found := await self._order_for(receipt, amount, currency)):
                    return found
                try:
                    return RazorpayOrder.model_validate(
                        await self._send("POST", "/v1/orders", operation="create_order", json=body)
                    )
                except Unavailable as exc:
                    may_exist = may_exist or exc.maybe_applied
                    raise
                except GatewayRejected:
                    # After an unclear first try, a duplicate-receipt refusal means it worked.
                    if may_exist and (found := await self._order_for(receipt, amount, currency)):
                        return found
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def _order_for(self, receipt: str, amount: int, currency: str) -> RazorpayOrder | None:
        for order in await self.find_orders_by_receipt(receipt):
            if order.amount == amount and order.currency == currency:
                return order
            raise GatewayRejected(
                f"order {order.id} already has receipt {receipt!r} with another amount",
                field="receipt",
            )
        return None

    async def fetch_order(self, order_id: str) -> RazorpayOrder:
        return RazorpayOrder.model_validate(
            await self._read(f"/v1/orders/{order_id}", operation="fetch_order")
        )

    async def find_orders_by_receipt(self, receipt: str) -> list[RazorpayOrder]:
        body = await self._read(
            "/v1/orders", {"receipt": receipt}, operation="find_orders_by_receipt"
        )
        return [RazorpayOrder.model_validate(item) for item in body.get("items", [])]

    async def order_payments(self, order_id: str) -> list[RazorpayPayment]:
        body = await self._read(f"/v1/orders/{order_id}/payments", operation="order_payments")
        return [RazorpayPayment.model_validate(item) for item in body.get("items", [])]

    # ---- payments ---------------------------------------------------------------------------

    async def fetch_payment(self, payment_id: str) -> RazorpayPayment:
        return RazorpayPayment.model_validate(
            await self._read(f"/v1/payments/{payment_id}", operation="fetch_payment")
        )

    async def capture_payment(
        self, payment_id: str, *, amount: int, currency: str
    ) -> RazorpayPayment:
        """Capture an authorized payment; already captured (by us or automatically) is success."""
        async for attempt in self._retrying():
            with attempt:
                try:
                    return RazorpayPayment.model_validate(
                        await self._send(
                            "POST",
                            f"/v1/payments/{payment_id}/capture",
                            operation="capture_payment",
                            json={"amount": amount, "currency": currency},
                        )
                    )
                except (Unavailable, GatewayRejected) as exc:
                    if isinstance(exc, Unavailable) and not exc.maybe_applied:
                        raise
                    payment = await self.fetch_payment(payment_id)
                    if payment.status in ("captured", "refunded") and payment.amount == amount:
                        return payment
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    # ---- refunds ----------------------------------------------------------------------------

    async def create_refund(
        self,
        payment_id: str,
        *,
        amount: int | None,
        idempotency_key: str,
        notes: dict[str, str] | None = None,
        speed: str = "normal",
    ) -> RazorpayRefund:
        """Refund (all when amount is None). Retries reuse the idempotency key, so Razorpay
        answers a repeat with the refund it already made instead of refunding twice."""
        body: dict[str, Any] = {"speed": speed}
        if amount is not None:
            body["amount"] = amount
        if notes:
            body["notes"] = notes
        headers = {"X-Refund-Idempotency": idempotency_key}
        async for attempt in self._retrying():
            with attempt:
                try:
                    return RazorpayRefund.model_validate(
                        await self._send(
                            "POST",
                            f"/v1/payments/{payment_id}/refund",
                            operation="create_refund",
                            json=body,
                            headers=headers,
                        )
                    )
                except GatewayRejected as exc:
                    if exc.status == 409 and "different request" not in exc.description.lower():
                        # The first request with this key is still in flight: wait, then repeat.
                        raise Unavailable(exc.description, maybe_applied=True, status=409) from exc
                    raise
        raise AssertionError("unreachable")  # pragma: no cover

    async def fetch_refund(self, refund_id: str) -> RazorpayRefund:
        return RazorpayRefund.model_validate(
            await self._read(f"/v1/refunds/{refund_id}", operation="fetch_refund")
        )

    async def payment_refunds(self, payment_id: str) -> list[RazorpayRefund]:
        body = await self._read(f"/v1/payments/{payment_id}/refunds", operation="payment_refunds")
        return [RazorpayRefund.model_validate(item) for item in body.get("items", [])]


def _retry_after(response: httpx.Response) -> float | None:
    try:
        return max(0.0, float(response.headers.get("retry-after", "")))
    except ValueError:
        return None
