"""What the rest of enrollpay needs from a payment gateway. `RazorpayClient` implements it for
both real Razorpay and the built-in sandbox (same REST API, different base URL and keys)."""

from __future__ import annotations

from typing import Protocol

from enrollpay.payments.gateway.entities import RazorpayOrder, RazorpayPayment, RazorpayRefund


class PaymentGateway(Protocol):
    key_id: str

    async def create_order(
        self,
        *,
        amount: int,
        currency: str,
        receipt: str,
        notes: dict[str, str],
        may_exist: bool = False,
    ) -> RazorpayOrder: ...

    async def fetch_order(self, order_id: str) -> RazorpayOrder: ...

    async def find_orders_by_receipt(self, receipt: str) -> list[RazorpayOrder]: ...

    async def order_payments(self, order_id: str) -> list[RazorpayPayment]: ...

    async def fetch_payment(self, payment_id: str) -> RazorpayPayment: ...

    async def capture_payment(
        self, payment_id: str, *, amount: int, currency: str
    ) -> RazorpayPayment: ...

    async def create_refund(
        self,
        payment_id: str,
        *,
        amount: int | None,
        idempotency_key: str,
        notes: dict[str, str] | None = None,
        speed: str = "normal",
    ) -> RazorpayRefund: ...

    async def fetch_refund(self, refund_id: str) -> RazorpayRefund: ...

    async def payment_refunds(self, payment_id: str) -> list[RazorpayRefund]: ...

    async def aclose(self) -> None: ...
