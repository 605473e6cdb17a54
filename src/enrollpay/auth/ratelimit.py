"""Rate limits on the `limits` library; storage from RATE_LIMIT_STORAGE (memory or Redis).

One `RateLimiter` per process lives on app.state; every throttle in the service goes through it
so limits are shared across replicas when Redis is configured."""

from __future__ import annotations

import math
import time
from collections import deque

from limits import RateLimitItem, parse
from limits.aio.storage import MemoryStorage, Storage
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


class MemoryMovingWindows(MemoryStorage):
    """The moving windows of `memory://`, in this process.

    limits' own MemoryStorage sweeps every key on every hit, with a thread hop per key: with
    3,000 learners inside their windows that was about 10 ms of CPU per hit, so a busy day slowed
    every request down. Here a hit prunes its own window only, and windows left empty are
    dropped by a sweep at most once a minute. No awaits inside: each call is atomic on the
    event loop."""

    SWEEP_INTERVAL_SECONDS = 60.0

    def __init__(self) -> None:
        super().__init__()
        self._windows: dict[str, tuple[int, deque[float]]] = {}  # key → (expiry, hit times)
        self._next_sweep = 0.0

    async def acquire_entry(self, key: str, limit: int, expiry: int, amount: int = 1) -> bool:
        now = time.time()
        self._sweep(now)
        if amount > limit:
            return False
        window = self._pruned(key, now)
        if window is None:
            window = deque()
            self._windows[key] = (expiry, window)
        if len(window) + amount > limit:
            return False
        window.extend([now] * amount)
        return True

    async def get_moving_window(self, key: str, limit: int, expiry: int) -> tuple[float, int]:
        """(time of the oldest hit in the window, hits in the window). As in limits, a hit
        exactly one expiry old is still counted by acquire_entry but no longer here."""
        now = time.time()
        hits = [at for at in self._pruned(key, now) or () if at > now - expiry]
        return (hits[0], len(hits)) if hits else (now, 0)

    async def clear(self, key: str) -> None:
        self._windows.pop(key, None)

    async def reset(self) -> int | None:
        count = len(self._windows)
        self._windows.clear()
        return count

    def _pruned(self, key: str, now: float) -> deque[float] | None:
        entry = self._windows.get(key)
        if entry is None:
            return None
        expiry, window = entry
        while window and window[0] < now - expiry:
            window.popleft()
        return window

    def _sweep(self, now: float) -> None:
        if now < self._next_sweep:
            return
        self._next_sweep = now + self.SWEEP_INTERVAL_SECONDS
        for key in [key for key in self._windows if not self._pruned(key, now)]:
            del self._windows[key]


def _storage(settings: Settings) -> Storage:
    if not settings.RATE_LIMIT_STORAGE.startswith("redis"):
        return MemoryMovingWindows()
    # redis-py's asyncio client, not coredis.
    redis = storage_from_string(settings.rate_limit_storage_uri, implementation="redispy")
    assert isinstance(redis, Storage), "an async+ storage URI gives an async storage"
    return redis


class RateLimiter:
    def __init__(self, settings: Settings) -> None:
        self.storage = _storage(settings)
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
