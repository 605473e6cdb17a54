"""Rate limits on the `limits` library; storage from RATE_LIMIT_STORAGE (memory or Redis).

One `RateLimiter` per process lives on app.state; every throttle in the service goes through it
so limits are shared across replicas when Redis is configured."""

from __future__ import annotations

import math
import time
from typing import Any

from limits import RateLimitItem, parse
from limits.aio.storage import Storage
from limits.aio.strategies import MovingWindowRateLimiter
from limits.storage import storage_from_string

from enrollpay.config import Settings
from enrollpay.errors import TooManyRequests

# Login: failures per account and per client address, counted over a sliding 15 minutes.
LOGIN_FAILURES_PER_ACCOUNT = parse("5/15 minutes")
LOGIN_FAILURES_PER_IP = parse("20/15 minutes")
# Emails sent on request (password reset, verification): every request counts, so the answer
# is the same whether the account exists; an inbox cannot be flooded from one address either.
ACCOUNT_EMAILS_PER_ADDRESS = parse("5/hour")
ACCOUNT_EMAILS_PER_IP = parse("30/hour")
# Sign-ups per client address, every attempt counting (the API and the web form share it).
SIGNUPS_PER_IP = parse("10/hour")
# Checkout calls per learner: far above what a person clicking through Checkout needs.
INITIALIZE_PER_LEARNER = parse("30/10 minutes")
VERIFY_PER_LEARNER = parse("60/10 minutes")
RETRY_PER_LEARNER = parse("20/10 minutes")
# Refused coupon codes per client (learner id, or address when anonymous): past this, every
# coupon is refused for a while, valid or not, so codes cannot be guessed by trying.
BAD_COUPONS_PER_CLIENT = parse("10/hour")


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        options: dict[str, Any] = {}
        if settings.RATE_LIMIT_STORAGE.startswith("redis"):
            options["implementation"] = "redispy"  # redis-py's asyncio client, not coredis
        storage = storage_from_string(settings.rate_limit_storage_uri, **options)
        assert isinstance(storage, Storage), "an async+ storage URI gives an async storage"
        self.storage = storage
        self.strategy = MovingWindowRateLimiter(self.storage)

    async def is_exhausted(self, item: RateLimitItem, *identifiers: str) -> bool:
        return not await self.strategy.test(item, *identifiers)

    async def hit(self, item: RateLimitItem, *identifiers: str) -> bool:
        """Count one hit; False when the limit was already reached."""
        return await self.strategy.hit(item, *identifiers)

    async def clear(self, item: RateLimitItem, *identifiers: str) -> None:
        await self.strategy.clear(item, *identifiers)

    async def retry_after(self, item: RateLimitItem, *identifiers: str) -> int:
        stats = await self.strategy.get_window_stats(item, *identifiers)
        return max(1, math.ceil(stats.reset_time - time.time()))

    async def consume(self, item: RateLimitItem, *identifiers: str) -> None:
        """Count one request; raise 429 with Retry-After when the window was already full."""
        if not await self.hit(item, *identifiers):
            raise TooManyRequests(await self.retry_after(item, *identifiers))

    async def ensure_allowed(self, item: RateLimitItem, *identifiers: str) -> None:
        """Raise 429 with Retry-After when the window is full."""
        if await self.is_exhausted(item, *identifiers):
            raise TooManyRequests(await self.retry_after(item, *identifiers))

    async def close(self) -> None:
        reset = getattr(self.storage, "close", None)
        if reset is not None:
            await reset()
