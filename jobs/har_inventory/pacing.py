"""Request pacing: a smooth, adaptive pace under a hard ceiling (API-NOTES §6).

Harness allows 400 calls per minute per API key and sends no `Retry-After`
or `X-RateLimit-*` headers, so the client paces itself. The pace is an
`aiolimiter.AsyncLimiter` of capacity 1, which spaces requests evenly at
`rate` requests/s with no burst at start.

The pace adapts by AIMD (additive increase, multiplicative decrease):

- A 429 halves the pace (never below `MIN_RATE`), but only when the request
  was sent at the current pace (a 429 for a request sent before the last
  slow-down says nothing new) and at most once per `period` seconds: a
  burst of 429s from requests already in flight counts as one signal.
- After `period` seconds without any 429 (and without a pace change), the
  next answered request raises the pace by `max(ceiling / 50, rate / 10)` requests/s,
  never above the ceiling (`--rate`). So a pace cut deep by a long 429
  spell climbs back in seconds, and one near the ceiling climbs slowly.
"""

from __future__ import annotations

import logging
import time
from typing import Callable

from aiolimiter import AsyncLimiter

log = logging.getLogger(__name__)

MIN_RATE = 0.2  # requests/s: the floor the pace never drops below
PERIOD_S = 1.0  # seconds between two pace changes at most (one per period)


class Pacer:
    """Adaptive, burst-free request pacing.

    `ceiling` is the configured `--rate` in requests/s (> 0; ValueError
    otherwise). `await wait()` returns when the next request may start and
    gives a ticket (the pace's `epoch`) to hand back to `throttled()`.
    `throttled(ticket)` is called on a 429, `succeeded()` on any answered
    request that was not a 429. `on_change(old, new, why)` is called on each
    pace change (rates in requests/s). `clock` returns monotonic seconds
    (tests may pass their own).
    """

    def __init__(self, ceiling: float, on_change: Callable[[float, float, str], None] | None = None,
                 *, period: float = PERIOD_S, clock: Callable[[], float] = time.monotonic):
        if ceiling <= 0:
            raise ValueError("rate must be > 0 requests/s")
        self.ceiling = ceiling
        self.rate = ceiling
        self.period = period
        self.epoch = 0  # bumped on every slow-down
        self.changes = 0
        self._limiter = self._make(ceiling)
        self._on_change = on_change
        self._clock = clock
        self._last_change = clock() - period  # any change: gates the increases
        self._last_decrease = float("-inf")  # gates the decreases
        self._last_429 = float("-inf")  # any 429, counted or not, also holds the increases back

    @staticmethod
    def _make(rate: float) -> AsyncLimiter:
        # max_rate=1 over 1/rate seconds: one request every 1/rate s, no burst.
        return AsyncLimiter(1, 1.0 / rate)

    async def wait(self) -> int:
        """Block until the pace allows one more request; returns the ticket (current epoch)."""
        while True:
            limiter = self._limiter
            await limiter.acquire()
            if limiter is self._limiter:
                return self.epoch
            # The pace changed while we waited: obey the new one too.

    def _set(self, rate: float, why: str) -> None:
        rate = max(MIN_RATE, min(self.ceiling, rate))
        self._last_change = self._clock()
        if abs(rate - self.rate) < 1e-9:
            return
        old, self.rate = self.rate, rate
        self._limiter = self._make(rate)
        self.changes += 1
        if self._on_change:
            self._on_change(old, rate, why)

    def throttled(self, ticket: int | None = None) -> bool:
        """A 429 came back for a request sent with `ticket` (None: count it regardless).

        Halves the pace unless the request predates the last slow-down or the
        pace changed less than `period` seconds ago. Returns True if it slowed down.
        """
        self._last_429 = self._clock()
        if ticket is not None and ticket != self.epoch:
            return False
        if self._clock() - self._last_decrease < self.period:
            return False
        self.epoch += 1
        self._last_decrease = self._clock()
        self._set(self.rate / 2, "rate limited (429)")
        return True

    def succeeded(self) -> bool:
        """An answered request that was not a 429: speed up if the last change and the last
        429 are both at least `period` s old.

        Returns True if the pace went up.
        """
        quiet_since = max(self._last_change, self._last_429)
        if self.rate >= self.ceiling or self._clock() - quiet_since < self.period:
            return False
        step = max(self.ceiling / 50, self.rate / 10)
        self._set(self.rate + step, f"no 429 for {self.period:g} s")
        return True
