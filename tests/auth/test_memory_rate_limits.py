"""memory:// rate limits: our moving windows answer exactly as limits' own MemoryStorage does
(the oracle), without sweeping every key on every hit."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from limits import parse
from limits.aio.storage import MemoryStorage
from limits.aio.strategies import MovingWindowRateLimiter

from enrollpay.auth import ratelimit
from enrollpay.auth.ratelimit import MemoryMovingWindows

LIMITS = [parse("3/10 seconds"), parse("5/minute")]
KEYS = ["learner-a", "learner-b"]

step = st.tuples(
    st.sampled_from(["hit"] * 6 + ["test", "stats", "clear"]),  # mostly hits: windows fill up
    st.sampled_from(LIMITS),
    st.sampled_from(KEYS),
    # Seconds that pass before the step: often none, some at window edges.
    st.one_of(st.just(0.0), st.sampled_from([0.5, 2.0, 9.5, 10.0, 10.5, 61.0]), st.floats(0, 12)),
)


class FakeClock:
    def __init__(self) -> None:
        self.now = 1_800_000_000.0

    def time(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    clock = FakeClock()
    monkeypatch.setattr(ratelimit.time, "time", clock.time)  # the module both storages read
    return clock


# The clock only moves forward, so sharing it between examples is harmless.
@settings(
    max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(steps=st.lists(step, max_size=40))
async def test_answers_match_limits_own_memory_storage(clock, steps):
    ours = MovingWindowRateLimiter(MemoryMovingWindows())
    oracle = MovingWindowRateLimiter(MemoryStorage())
    for action, item, key, elapsed in steps:
        clock.now += elapsed
        if action == "hit":
            assert await ours.hit(item, key) == await oracle.hit(item, key)
        elif action == "test":
            assert await ours.test(item, key) == await oracle.test(item, key)
        elif action == "stats":
            mine, theirs = (
                await ours.get_window_stats(item, key),
                await oracle.get_window_stats(item, key),
            )
            assert mine.remaining == theirs.remaining
            if mine.remaining < item.amount:  # an empty window's reset time means nothing
                assert mine.reset_time == theirs.reset_time
        else:
            await ours.clear(item, key)
            await oracle.clear(item, key)


async def test_a_hit_touches_its_own_window_and_empty_windows_are_swept(clock):
    storage = MemoryMovingWindows()
    limiter = MovingWindowRateLimiter(storage)
    item = parse("2/10 seconds")
    for learner in range(1000):
        assert await limiter.hit(item, f"learner-{learner}")
    assert len(storage._windows) == 1000
    clock.now += 11  # every window has emptied, but nothing has swept them yet
    assert await limiter.hit(item, "learner-0")
    assert len(storage._windows) == 1000
    clock.now += MemoryMovingWindows.SWEEP_INTERVAL_SECONDS
    assert await limiter.hit(item, "learner-1")
    assert set(storage._windows) == {item.key_for("learner-1")}
