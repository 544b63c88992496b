"""The one retry/backoff helper: exponential delays with full jitter, capped."""

import asyncio
import contextlib
import random
from collections.abc import Iterator


def delays(base_s: float = 0.5, cap_s: float = 30.0, rng: random.Random | None = None) -> Iterator[float]:
    """Endless delays for attempt 1, 2, …: uniform in [0, min(cap, base·2^n)] (never below base/2)."""
    rnd = rng or random.Random()
    n = 0
    while True:
        ceiling = min(cap_s, base_s * (2**n))
        yield max(base_s / 2, rnd.uniform(0, ceiling))
        n = min(n + 1, 30)


async def sleep_unless(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds` or until `stop` is set; True if stopped."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)
    return stop.is_set()
