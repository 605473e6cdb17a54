"""Which Razorpay we talk to, and how.

- Real keys configured (`RAZORPAY_KEY_ID`/`SECRET`): Razorpay at `RAZORPAY_API_BASE` (default
  https://api.razorpay.com), its Checkout script and `RAZORPAY_WEBHOOK_SECRET`.
- Otherwise the built-in sandbox: its derived keys, its base URL (`{PUBLIC_BASE_URL}/sandbox/
  razorpay`), its `checkout.js` and webhook secret. Explicit `RAZORPAY_API_BASE`,
  `RAZORPAY_CHECKOUT_JS` and `RAZORPAY_WEBHOOK_SECRET` still win (e.g. to use a standalone
  `enrollpay sandbox` on another port).

`build_gateway` in sandbox mode (without an explicit API base) talks to the mounted sandbox app
*in process* through an ASGI transport: the server never needs to reach itself over the network.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from enrollpay.config import Settings
from enrollpay.db.engine import Database
from enrollpay.metrics import JOB_GATEWAY_METRICS
from enrollpay.payments.gateway.razorpay import RazorpayClient

RAZORPAY_API_BASE = "https://api.razorpay.com"
RAZORPAY_CHECKOUT_JS = "https://checkout.razorpay.com/v1/checkout.js"
# The host name the in-process client uses; nothing resolves it.
IN_PROCESS_SANDBOX_BASE = "http://razorpay-sandbox.internal"


@dataclass(frozen=True)
class GatewayCredentials:
    key_id: str
    key_secret: str
    api_base: str  # without /v1
    checkout_js_url: str
    webhook_secrets: tuple[str, ...]  # any of them may have signed a delivery (rotation)
    sandbox: bool


def gateway_credentials(settings: Settings) -> GatewayCredentials:
    if not settings.sandbox_mode:
        assert settings.RAZORPAY_KEY_ID and settings.RAZORPAY_KEY_SECRET
        return GatewayCredentials(
            key_id=settings.RAZORPAY_KEY_ID,
            key_secret=settings.RAZORPAY_KEY_SECRET,
            api_base=settings.RAZORPAY_API_BASE or RAZORPAY_API_BASE,
            checkout_js_url=settings.RAZORPAY_CHECKOUT_JS or RAZORPAY_CHECKOUT_JS,
            webhook_secrets=settings.webhook_secrets,
            sandbox=False,
        )
    from enrollpay.sandbox.config import derive_sandbox_config

    config = derive_sandbox_config(settings)
    return GatewayCredentials(
        key_id=config.key_id,
        key_secret=config.key_secret,
        api_base=settings.RAZORPAY_API_BASE or config.base_url,
        checkout_js_url=settings.RAZORPAY_CHECKOUT_JS or config.checkout_js_url,
        webhook_secrets=settings.webhook_secrets or (config.webhook_secret,),
        sandbox=True,
    )


def build_gateway(
    settings: Settings, *, sandbox_app: Any | None = None, **client_options: Any
) -> RazorpayClient:
    """The Razorpay client for these settings; `client_options` go to RazorpayClient (tests
    shorten timeouts and retries)."""
    credentials = gateway_credentials(settings)
    if credentials.sandbox and settings.RAZORPAY_API_BASE is None:
        if sandbox_app is None:
            raise ValueError("sandbox mode without RAZORPAY_API_BASE needs the sandbox app")
        # raise_app_exceptions=False: a sandbox bug (or a simulated reset) reaches the client
        # as a broken answer, the way it would over the network.
        transport = httpx.ASGITransport(app=sandbox_app, raise_app_exceptions=False)
        return RazorpayClient(
            key_id=credentials.key_id,
            key_secret=credentials.key_secret,
            base_url=IN_PROCESS_SANDBOX_BASE,
            transport=transport,
            **client_options,
        )
    return RazorpayClient(
        key_id=credentials.key_id,
        key_secret=credentials.key_secret,
        base_url=credentials.api_base,
        **client_options,
    )


def job_gateway(settings: Settings, db: Database) -> RazorpayClient:
    """The client job handlers use, one per Database (so per worker process), closed with it.
    In sandbox mode without an explicit API base the jobs reach a sandbox app of their own, in
    process, on the same database — so `enrollpay worker` needs no network path to a web
    replica."""
    if db.job_gateway is None:
        sandbox_app = None
        if settings.sandbox_mode and settings.RAZORPAY_API_BASE is None:
            from enrollpay.sandbox.app import create_sandbox_app
            from enrollpay.sandbox.config import derive_sandbox_config

            sandbox_app = create_sandbox_app(derive_sandbox_config(settings), database=lambda: db)
        db.job_gateway = build_gateway(
            settings, sandbox_app=sandbox_app, observer=JOB_GATEWAY_METRICS
        )
    client: RazorpayClient = db.job_gateway
    return client
