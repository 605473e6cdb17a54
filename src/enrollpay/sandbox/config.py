"""Who the sandbox is: its API keys, webhook target and secret, and where it lives.

Embedded mode (`derive_sandbox_config`) derives every value from `SECRET_KEY` with HMAC, so the
keys survive restarts, differ per install, and are the same in every process of one install
(`serve`, `worker`, and `enrollpay sandbox` with its defaults). Explicit `RAZORPAY_WEBHOOK_SECRET`
wins over the derived webhook secret so that what the sandbox signs is what our endpoint checks.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import re
import string
from dataclasses import dataclass

from enrollpay.config import Settings

SANDBOX_MOUNT_PATH = "/sandbox/razorpay"
WEBHOOK_PATH = "/api/v1/webhooks/razorpay"
KEY_ID_PREFIX = "rzp_test_"
KEY_ID_PATTERN = re.compile(r"^rzp_test_[A-Za-z0-9]{14}$")
_ALPHANUMERIC = string.digits + string.ascii_uppercase + string.ascii_lowercase

# Razorpay retries failed deliveries with exponential backoff for 24 hours. With the job
# system's full-jitter backoff (base 60 s, cap 2 h, see sandbox/jobs.py) 30 attempts span
# about that long on average; the 24 h window itself is enforced per delivery too.
DEFAULT_WEBHOOK_MAX_ATTEMPTS = 30
DEFAULT_WEBHOOK_RETRY_WINDOW_SECONDS = 24 * 3600.0
DEFAULT_WEBHOOK_TIMEOUT_SECONDS = 5.0
DEFAULT_SHUFFLE_WINDOW_SECONDS = 2.0
# Embedded mode settles refunds on its own so the demo's refund flow completes.
EMBEDDED_REFUND_SETTLE_SECONDS = 10.0


@functools.lru_cache(maxsize=64)
def derive_token(secret: str, purpose: str, length: int) -> str:
    """`length` alphanumerics from HMAC(secret, purpose): stable for one secret, unguessable
    without it. Cached: requests ask for the same few tokens (webhook secret, key) each time."""
    digest = hmac.new(secret.encode(), f"enrollpay.sandbox.{purpose}".encode(), hashlib.sha512)
    number = int.from_bytes(digest.digest(), "big")
    chars = []
    for _ in range(length):
        number, index = divmod(number, len(_ALPHANUMERIC))
        chars.append(_ALPHANUMERIC[index])
    return "".join(chars)


@dataclass(frozen=True)
class SandboxConfig:
    """One sandbox "account".

    `webhook_url` None disables deliveries (events are still recorded). The remaining fields tune
    behaviour that tests like to compress; their defaults follow Razorpay where it is known."""

    key_id: str
    key_secret: str
    webhook_url: str | None
    webhook_secret: str
    base_url: str  # where the REST API lives: {base_url}/v1/orders, {base_url}/_sandbox/…
    webhook_timeout_seconds: float = DEFAULT_WEBHOOK_TIMEOUT_SECONDS
    webhook_max_attempts: int = DEFAULT_WEBHOOK_MAX_ATTEMPTS
    webhook_retry_window_seconds: float = DEFAULT_WEBHOOK_RETRY_WINDOW_SECONDS
    webhook_shuffle_window_seconds: float = DEFAULT_SHUFFLE_WINDOW_SECONDS
    # None: refunds stay `pending` until POST /_sandbox/refunds/{id}/settle.
    refund_settle_seconds: float | None = None

    def __post_init__(self) -> None:
        if not KEY_ID_PATTERN.match(self.key_id):
            raise ValueError("a sandbox key id is rzp_test_ followed by 14 letters or digits")
        if not self.key_secret or not self.webhook_secret:
            raise ValueError("the sandbox needs a key secret and a webhook secret")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    @property
    def account_id(self) -> str:
        """`acc_…` in every webhook envelope: stable for this key pair."""
        return "acc_" + derive_token(self.key_secret, f"account:{self.key_id}", 14)

    @property
    def checkout_js_url(self) -> str:
        return f"{self.base_url}/checkout.js"

    @property
    def key_secret_hint(self) -> str:
        return _hint(self.key_secret)

    @property
    def webhook_secret_hint(self) -> str:
        return _hint(self.webhook_secret)


def _hint(secret: str) -> str:
    return f"{secret[:4]}… ({len(secret)} characters)"


def derived_key_id(settings: Settings) -> str:
    return KEY_ID_PREFIX + derive_token(settings.secret_key, "key_id", 14)


def derive_sandbox_config(settings: Settings, *, base_url: str | None = None) -> SandboxConfig:
    """The embedded sandbox's identity for this install (see the module docstring)."""
    secrets = settings.webhook_secrets
    return SandboxConfig(
        key_id=derived_key_id(settings),
        key_secret=derive_token(settings.secret_key, "key_secret", 24),
        webhook_url=f"{settings.PUBLIC_BASE_URL}{WEBHOOK_PATH}",
        webhook_secret=secrets[0] if secrets else derive_token(settings.secret_key, "webhook", 32),
        base_url=base_url or f"{settings.PUBLIC_BASE_URL}{SANDBOX_MOUNT_PATH}",
        refund_settle_seconds=EMBEDDED_REFUND_SETTLE_SECONDS,
    )


# Jobs (refund settlement) run without a request; they find their sandbox's config here.
_active: dict[str, SandboxConfig] = {}


def register_active(config: SandboxConfig) -> None:
    _active[config.key_id] = config


def active_config(key_id: str, settings: Settings) -> SandboxConfig | None:
    """The running sandbox with this key id, else the embedded one if the key is ours."""
    config = _active.get(key_id)
    if config is None and settings.sandbox_mode and derived_key_id(settings) == key_id:
        config = derive_sandbox_config(settings)
    return config
