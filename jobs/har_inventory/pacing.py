"""Request pacing: a smooth, adaptive pace under a hard ceiling (API-NOTES §6).

Harness allows 400 calls per minute per API key and sends no `Retry-After`
or `X-RateLimit-*` headers, so the client paces itself. The pace is an
`aiolimiter.AsyncLimiter` of capacity 1, which spaces requests evenly at
`rate` requests/s with no burst at start. On a 429 the pace is halved
(multiplicative decrease), and after a run of successes it climbs back by
a tenth of the ceiling (additive increase), never above the configured rate.
"""

from __future__ import annotations

import logging
from typing import Callable

from aiolimiter import AsyncLimiter

log = logging.getLogger(__name__)

MIN_RATE = 0.2  # requests/s: the floor the pace never drops below


class Pacer:
    """Adaptive, burst-free request pacing.

    `ceiling` is the configured `--rate` in requests/s (> 0). `wait()` returns
    when the next request may start. `throttled()` is called on a 429,
    `succeeded()` on any answered request that was not a 429.
    `on_change(old, new)` is called whenever the pace changes.
    """

    def __init__(self, ceiling: float, on_change: Callable[[float, float, str], None] | None = None):
        if ceiling <= 0:
            raise ValueError("rate must be > 0 requests/s")
        self.ceiling = ceiling
        self.rate = ceiling
        self._limiter = self._make(ceiling)
        self._streak = 0
        self._on_change = on_change
        self.changes = 0

    @staticmethod
    def _make(rate: float) -> AsyncLimiter:
        # max_rate=1 over 1/rate seconds: one request every 1/rate s, no burst.
        return AsyncLimiter(1, 1.0 / rate)

    async def wait(self) -> None:
        """Block until the pace allows one more request."""
        while True:
            limiter = self._limiter
            await limiter.acquire()
            if limiter is self._limiter:
                return
            # The pace changed while we waited: obey the new one too.

    def _set(self, rate: float, why: str) -> None:
        rate = max(MIN_RATE, min(self.ceiling, rate))
        if abs(rate - self.rate) < 1e-9:
            return
        old, self.rate = self.rate, rate
        self._limiter = self._make(rate)
        self.changes += 1
        if self._on_change:
            self._on_change(old, rate, why)

    def throttled(self) -> None:
        """A 429 came back: halve the pace."""
        self._streak = 0
        self._set(self.rate / 2, "rate limited (429)")

    def succeeded(self) -> None:
        """An answered request: after enough of them in a row, speed up again."""
        if self.rate >= self.ceiling:
            return
        self._streak += 1
        # About five seconds' worth of requests at the current pace without a 429.
        if self._streak >= max(5, int(self.rate * 5)):
            self._streak = 0
            self._set(self.rate + self.ceiling / 10, "no 429 for a while")
