"""Request pacing: a smooth, adaptive pace under a hard ceiling (API-NOTES §6).

Harness allows 400 calls per minute per API key and sends no `Retry-After`
or `X-RateLimit-*` headers, so the client paces itself.

The pace is a slot schedule: request n may start at `slot_n = max(slot_{n-1}
+ 1/rate, now)`. Slots are reserved ahead (`reserve()`), so a worker that
wakes a little late does not push every later slot back: the achieved pace
is the asked one (0.999 of it at 50 and 1,000 requests/s). Time left idle is
never caught up: after a pause the next slot is "now", so there is no burst
at start or after a pause. Nor after a stall of the event loop (a slow disk
under the journal, a busy machine), when several reserved slots come due at
once: at release (`release()`) two requests are always at least half an
interval apart, so a late schedule catches up at twice the pace at most.

Why not a maintained limiter (the team's rule: "pacing: a maintained limiter
unless it fails our no-burst rule"): `aiolimiter.AsyncLimiter(1, 1/rate)`
(capacity 1, no burst) starts each interval from the moment a waiter
actually woke up, so every wake-up's lateness is lost: it reached only 0.92
of `--rate` at 50 requests/s and 0.76 at 1,000/s. With a capacity of 2 or
more it reaches the rate but lets that many requests go at once, which the
no-burst rule forbids. Hence this small schedule of our own.

The pace adapts by AIMD (additive increase, multiplicative decrease):

- A 429 halves the pace (never below `MIN_RATE`), but only when the request
  was sent at the current pace (a 429 for a request sent before the last
  slow-down says nothing new) and at most once per `period` seconds: a
  burst of 429s from requests already in flight counts as one signal. A
  slow-down also moves the slots already reserved: their holders reserve
  again at the new pace (the ticket tells them, see `Pacer.current`).
- After `period` seconds without any 429 (and without a pace change), the
  next answered request raises the pace by `max(ceiling / 50, rate / 10)` requests/s,
  never above the ceiling (`--rate`). So a pace cut deep by a long 429
  spell climbs back in seconds, and one near the ceiling climbs slowly.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Callable

log = logging.getLogger(__name__)

MIN_RATE = 0.2  # requests/s: the floor the pace never drops below
PERIOD_S = 1.0  # seconds between two pace changes at most (one per period)


class Pacer:
    """Adaptive, burst-free request pacing.

    `ceiling` is the configured `--rate` in requests/s (> 0; ValueError
    otherwise). Two ways to wait for the pace:

    - `await wait()` returns when the next request may start and gives a
      ticket (the pace's `epoch`) to hand back to `throttled()`;
    - `reserve()` -> `(delay_s, ticket)` reserves the next slot without
      waiting: the caller sleeps `delay_s` seconds itself (e.g. a sleep that
      a stop cuts short), then calls `release(ticket)`: None means the pace
      slowed down meanwhile (reserve again), else the seconds still to wait
      (0.0 almost always) before the request goes.

    `throttled(ticket)` is called on a 429, `succeeded()` on any answered
    request that was not a 429. `on_change(old, new, why)` is called on each
    pace change (rates in requests/s). `clock` returns monotonic seconds
    (tests may pass their own; `wait()` needs the real one, the event loop's).
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
        self._slots_epoch = 0  # the epoch of the last real slow-down: older reservations are stale
        self._interval = 1.0 / ceiling  # seconds between two slots
        self._next_slot = float("-inf")  # the earliest time the next request may start
        self._floor = float("-inf")  # the earliest time the next request may be released
        self._on_change = on_change
        self._clock = clock
        self._last_change = clock() - period  # any change: gates the increases
        self._last_decrease = float("-inf")  # gates the decreases
        self._last_429 = float("-inf")  # any 429, counted or not, also holds the increases back

    def reserve(self) -> tuple[float, int]:
        """Reserve the next slot: `(seconds to wait from now, >= 0; ticket)`."""
        now = self._clock()
        slot = self._next_slot if self._next_slot > now else now
        self._next_slot = slot + self._interval
        return slot - now, self.epoch

    def current(self, ticket: int) -> bool:
        """False if the pace slowed down since `ticket` was given: reserve a new slot."""
        return ticket >= self._slots_epoch

    def release(self, ticket: int) -> float | None:
        """The slot of `ticket` is due: None if it went stale (reserve again), else the seconds
        to wait before sending so that it goes at least half an interval after the previous one."""
        if ticket < self._slots_epoch:
            return None
        now = self._clock()
        at = self._floor if self._floor > now else now
        self._floor = at + self._interval / 2
        return at - now

    async def wait(self) -> int:
        """Block until the pace allows one more request; returns the ticket (current epoch)."""
        while True:
            delay, ticket = self.reserve()
            if delay > 0:
                await asyncio.sleep(delay)
            extra = self.release(ticket)
            if extra is None:
                continue  # the pace slowed down while we waited: obey the new one too
            if extra > 0:
                await asyncio.sleep(extra)
            return ticket

    def _set(self, rate: float, why: str) -> None:
        rate = max(MIN_RATE, min(self.ceiling, rate))
        now = self._clock()
        self._last_change = now
        if abs(rate - self.rate) < 1e-9:
            return
        old, self.rate = self.rate, rate
        self._interval = 1.0 / rate
        if rate < old:  # slots reserved at the old pace are given up (their tickets are stale)
            self._next_slot = now + self._interval
            self._slots_epoch = self.epoch
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
