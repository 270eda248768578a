"""The only module that talks HTTP: one aiohttp session, pacing, concurrency, retries.

`ArtifactRef` in, `FetchResult` out, one per distinct request key. Every rule
about what a response means lives in `har.py`; this module only moves bytes,
waits and counts. Failures are values: nothing a server does escapes a worker.
"""

from __future__ import annotations

import asyncio
import logging
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from typing import Awaitable, Callable, Iterable, Iterator

import aiohttp
import yarl
from tenacity import AsyncRetrying, RetryCallState, retry_if_result, wait_random_exponential

from har_inventory import har
from har_inventory.pacing import Pacer
from har_inventory.records import ArtifactRef, FetchResult, Status
from har_inventory.transport import (EnvProxy, InsecureURLError, ProxySetting, check_base_url, new_session,
                                     transport_message)

__all__ = ["Aborted", "FetchConfig", "FetchStats", "Fetcher", "InsecureURLError", "THROTTLE_BUDGET",
           "check_base_url"]

log = logging.getLogger(__name__)

THROTTLE_BUDGET = 3  # a row may meet this many times `max_attempts` 429s before it fails

_OUTCOME_STATUS = {
    har.Outcome.OK: Status.OK,
    har.Outcome.NOT_FOUND: Status.NOT_FOUND,
    har.Outcome.FORBIDDEN: Status.FORBIDDEN,
    har.Outcome.UNAUTHORIZED: Status.UNAUTHORIZED,
    har.Outcome.BAD_REQUEST: Status.FAILED,
    har.Outcome.RETRY: Status.FAILED,
}


@dataclass(frozen=True)
class FetchConfig:
    """Options of the fetch stage. Units: seconds and requests/s.

    `api_key` is kept out of `repr()` so it never reaches a log or a traceback.
    `max_attempts`: requests per row answered other than 429 (a row may also
    meet `THROTTLE_BUDGET` times as many 429s). `down_after`: abort when no
    HTTP response at all has come for this many seconds while requests keep
    failing (server down). `backoff_base`, `backoff_max`: jittered exponential
    backoff between attempts, seconds.
    """

    base_url: str
    api_key: str = field(repr=False)
    concurrency: int = 8
    rate: float = 6.6
    timeout: float = 30.0
    max_attempts: int = 5
    max_retry_wait: float = 120.0
    down_after: float = 60.0
    backoff_base: float = 0.5
    backoff_max: float = 30.0


@dataclass
class FetchStats:
    """Counters of one fetch run: HTTP requests sent, retries, 429s, pace changes."""

    requests: int = 0
    retries: int = 0
    throttled: int = 0
    pace_changes: int = 0
    aborted: str | None = None


@dataclass(frozen=True, slots=True)
class _Attempt:
    """One HTTP attempt: a classified response, or a transport error (no response)."""

    decoded: har.Decoded | None
    transport_error: str | None = None
    retry_after: float | None = None

    @property
    def throttled(self) -> bool:
        return self.decoded is not None and self.decoded.status == 429

    @property
    def retryable(self) -> bool:
        return self.decoded is None or self.decoded.outcome == har.Outcome.RETRY


class Aborted(Exception):
    """Internal: the run stops taking rows (refused key, server down, signal)."""


class Fetcher:
    """Fetch details for many refs with one session.

    Use `await Fetcher(config).run(refs, on_result)`. `on_result(result,
    final)` is called once per ref as it finishes, in completion order;
    `final` as in `fetch_row`. At most `concurrency` requests are in flight;
    each worker pulls the next ref from `refs` when it is free (lazily).
    `stop(reason)` asks the run to stop taking new rows: in-flight requests
    finish, backoff waits and paced waits end at once.
    """

    def __init__(self, config: FetchConfig, *, session_factory: Callable[[], aiohttp.ClientSession] | None = None):
        self.config = config
        self.stats = FetchStats()
        self._pacer = Pacer(config.rate, on_change=self._pace_changed)
        self._stopping: str | None = None
        self._sleepers: set[asyncio.Future] = set()  # paced waits and backoff sleeps: stop() wakes them
        self._last_response = time.monotonic()
        self._session_factory = session_factory
        self._proxy = EnvProxy(config.base_url)

    # -- control

    def stop(self, reason: str) -> None:
        """Stop taking new rows; in-flight rows finish (or end early between retries)."""
        if self._stopping is None:
            self._stopping = reason
            for waker in self._sleepers:
                _wake(waker)

    @property
    def stopping(self) -> str | None:
        return self._stopping

    def _pace_changed(self, old: float, new: float, why: str) -> None:
        self.stats.pace_changes += 1
        log.info("pace %.2f -> %.2f requests/s: %s", old, new, why,
                 extra={"event": "pace", "old_rate": round(old, 3), "new_rate": round(new, 3), "reason": why})

    # -- run

    async def run(self, refs: Iterable[ArtifactRef],
                  on_result: Callable[[FetchResult, bool], None | Awaitable[None]]) -> FetchStats:
        """Fetch every ref (until stopped). Returns the counters.

        Cancelling the task running this cancels every in-flight request at
        once (the second Ctrl-C); an exception from `on_result` does the same
        and propagates.
        """
        todo = iter(refs)
        try:
            async with self.open_session() as session, asyncio.TaskGroup() as group:
                for _ in range(self.config.concurrency):
                    group.create_task(self._worker(session, todo, on_result))
        except BaseExceptionGroup as group_error:  # a worker failed (e.g. the journal's disk): its error
            raise group_error.exceptions[0] from None
        self.stats.aborted = self._stopping
        return self.stats

    async def _worker(self, session, todo: Iterator[ArtifactRef], on_result) -> None:
        for ref in todo:  # workers share one iterator: each takes the next ref when free
            if self._stopping:
                return  # rows not started stay unfetched
            result, final = await self.fetch_row(session, ref)
            maybe = on_result(result, final)
            if asyncio.iscoroutine(maybe):
                await maybe

    async def fetch_row(self, session: aiohttp.ClientSession, ref: ArtifactRef) -> tuple[FetchResult, bool]:
        """All attempts for one ref: `(result, final)`, never raises.

        `final` is True when the result is the row's real outcome, to be
        journaled: a permanent answer (ok, not_found, forbidden, bad request),
        or a transient failure after all `max_attempts`. It is False for a
        row cut short by a stop (not sent, or stopped between retries) and
        for `unauthorized` (the key, not the row, is at fault).
        """
        cfg = self.config
        url = har.details_url(cfg.base_url, ref.registry_ref, ref.artifact, ref.version,
                              ref.digest, ref.version_type)
        try:
            last, attempts, exhausted = await self.request(session, url, f"line {ref.line}")
        except Aborted as exc:
            return FetchResult(ref.key, Status.FAILED, None, f"not fetched: {exc}", 0,
                               datetime.now(timezone.utc), None), False
        result = self._result(ref, last, attempts)
        if last.retryable:
            final = exhausted
            if not final:
                result = replace(result, error=f"{result.error} (stopped: {self._stopping})")
        else:
            final = result.status != Status.UNAUTHORIZED
        return result, final

    async def get(self, session: aiohttp.ClientSession, url: str, label: str) -> tuple[har.Decoded | None, str | None, int]:
        """GET any HAR URL (already in plain `/+` form) with the same pacing and retries.

        Returns `(decoded, error, attempts)`: `decoded` is the last classified
        response (None when none came), `error` a readable reason when the
        outcome is not ok. Raises `Aborted` when the run is stopping.
        """
        last, attempts, _ = await self.request(session, url, label)
        if last.decoded is not None and last.decoded.outcome == har.Outcome.OK:
            return last.decoded, None, attempts
        return last.decoded, _error_text(last, attempts), attempts

    def open_session(self) -> aiohttp.ClientSession:
        """The one aiohttp session: key header, timeout, connection limit (`transport.new_session`).

        Proxy settings from the environment are applied per request (`transport.EnvProxy`).
        """
        if self._session_factory:
            return self._session_factory()
        cfg = self.config
        return new_session(cfg.api_key, timeout=cfg.timeout, concurrency=cfg.concurrency)

    async def request(self, session: aiohttp.ClientSession, url_text: str, label: str
                      ) -> tuple["_Attempt", int, bool]:
        """Attempts with tenacity until a non-retryable answer, the retry budget, or a stop.

        Budget: `max_attempts` answers that are not 429 (transport errors
        included), plus up to `THROTTLE_BUDGET * max_attempts` 429s: a rate
        limit spell (Harness counts per minute, API-NOTES §6) slows the pace
        instead of failing rows. Backoff: jittered exponential (`backoff_base`
        * 2^n s, capped at `backoff_max`), or the server's `Retry-After`
        capped at `max_retry_wait`. A stop cuts any wait short.
        Returns `(last attempt, HTTP requests made, budget exhausted)`.
        Raises `Aborted` if the run stops before the first request is sent.

        The first attempt is made here; tenacity takes over only when it is
        retryable (most rows need one request, and setting tenacity up costs
        more than the request's own bookkeeping), starting from that attempt.
        """
        url = yarl.URL(url_text, encoded=True)  # never re-quote the path (API-NOTES §2)
        proxy = self._proxy.for_url(url_text, url)
        first = await self._attempt(session, url, proxy)  # Aborted if stopping: nothing sent
        tries = {"throttled": 0, "other": 0}
        tries["throttled" if first.throttled else "other"] += 1
        if not first.retryable:
            return first, 1, False
        return await self._retry(session, url, proxy, label, first, tries)

    async def _retry(self, session: aiohttp.ClientSession, url: yarl.URL, proxy: ProxySetting, label: str,
                     first: "_Attempt", tries: dict[str, int]) -> tuple["_Attempt", int, bool]:
        """The tenacity loop of `request`, whose attempt 1 is `first` (already made and counted)."""
        cfg = self.config
        backoff = wait_random_exponential(multiplier=cfg.backoff_base, max=cfg.backoff_max)

        def wait(state: RetryCallState) -> float:
            attempt: _Attempt = state.outcome.result()
            if attempt.retry_after is not None:
                delay = min(attempt.retry_after, cfg.max_retry_wait)
                log.info("%s: server asked to retry after %.1f s (waiting %.1f s)", label,
                         attempt.retry_after, delay,
                         extra={"event": "retry_after", "item": label, "asked_s": round(attempt.retry_after, 3),
                                "wait_s": round(delay, 3)})
                return delay
            return backoff(state)

        def exhausted() -> bool:
            return (tries["other"] >= cfg.max_attempts
                    or tries["throttled"] >= THROTTLE_BUDGET * cfg.max_attempts)

        def give_up(state: RetryCallState) -> bool:
            return self._stopping is not None or exhausted()

        def before_sleep(state: RetryCallState) -> None:
            self.stats.retries += 1
            attempt: _Attempt = state.outcome.result()
            log.info("%s: attempt %d failed (%s); retrying in %.2f s", label, state.attempt_number,
                     _describe(attempt), state.next_action.sleep,
                     extra={"event": "retry", "item": label, "attempt": state.attempt_number,
                            "reason": _describe(attempt), "wait_s": round(state.next_action.sleep, 3)})

        retrying = AsyncRetrying(
            sleep=self._sleep,
            stop=give_up,
            wait=wait,
            retry=retry_if_result(lambda a: a.retryable),
            before_sleep=before_sleep,
            retry_error_callback=lambda state: state.outcome.result(),
        )
        previous: _Attempt = first
        replay = True

        async def attempt_once() -> _Attempt:
            nonlocal previous, replay
            if replay:  # tenacity's attempt 1: the one `request` made
                replay = False
                return first
            if self._stopping:
                return previous  # stopped during a backoff: keep the last real answer
            try:
                this = await self._attempt(session, url, proxy)
            except Aborted:
                return previous
            previous = this
            tries["throttled" if this.throttled else "other"] += 1
            return this

        last: _Attempt = await retrying(attempt_once)
        return last, tries["throttled"] + tries["other"], last.retryable and exhausted()

    async def _sleep(self, seconds: float) -> None:
        """Sleep `seconds` (paced waits, backoff); a stop ends it at once."""
        if self._stopping is not None:
            return
        loop = asyncio.get_running_loop()
        waker = loop.create_future()
        timer = loop.call_later(seconds, _wake, waker)
        self._sleepers.add(waker)
        try:
            await waker
        finally:
            timer.cancel()
            self._sleepers.discard(waker)

    async def _paced(self) -> int:
        """Wait for the pace (cut short by a stop: raises Aborted); returns the pace ticket.

        No wait at all (no sleep, no task) when the pace has room now."""
        pacer = self._pacer
        while self._stopping is None:
            delay, ticket = pacer.reserve()
            if delay > 0:
                await self._sleep(delay)
                if self._stopping is not None:
                    break
            extra = pacer.release(ticket)
            if extra is None:
                continue  # the pace slowed down meanwhile: reserve again
            if extra > 0:
                await self._sleep(extra)
                if self._stopping is not None:
                    break
            return ticket
        raise Aborted(self._stopping)

    async def _attempt(self, session: aiohttp.ClientSession, url: yarl.URL, proxy: ProxySetting) -> _Attempt:
        ticket = await self._paced()
        self.stats.requests += 1
        try:
            async with session.get(url, allow_redirects=False, proxy=proxy[0], proxy_auth=proxy[1]) as resp:
                body = await resp.read()
                status, headers = resp.status, dict(resp.headers)
        except asyncio.TimeoutError:
            self._check_down()
            return _Attempt(None, f"timeout after {self.config.timeout:g} s")
        except aiohttp.ClientError as exc:
            self._check_down()
            return _Attempt(None, transport_message(exc))
        self._last_response = time.monotonic()
        decoded = har.classify(status, headers, body)
        if log.isEnabledFor(logging.DEBUG):  # -v: every answer (the key is a header, never in the URL)
            log.debug("GET %s: HTTP %d, %d bytes, %s", url.raw_path_qs, status, len(body), decoded.outcome,
                      extra={"event": "response", "status": status, "bytes": len(body)})
        retry_after = har.retry_after_seconds(headers) if decoded.outcome == har.Outcome.RETRY else None
        if status == 429:
            self.stats.throttled += 1
            self._pacer.throttled(ticket)
        else:
            self._pacer.succeeded()
        if decoded.outcome == har.Outcome.UNAUTHORIZED:
            self.stop(f"API key refused (HTTP 401: {decoded.message}); check HARNESS_API_KEY or --api-key-file")
        return _Attempt(decoded, None, retry_after)

    def _check_down(self) -> None:
        silent = time.monotonic() - self._last_response
        if silent >= self.config.down_after:
            self.stop(f"server unreachable: no HTTP response for {silent:.0f} s")

    def _result(self, ref: ArtifactRef, last: _Attempt, attempts: int) -> FetchResult:
        now = datetime.now(timezone.utc)
        d = last.decoded
        if d is not None and d.outcome == har.Outcome.OK:
            return FetchResult(ref.key, Status.OK, d.status, None, attempts, now, d.data)
        status = _OUTCOME_STATUS[d.outcome] if d is not None else Status.FAILED
        error = _error_text(last, attempts)
        return FetchResult(ref.key, status, d.status if d else None, error, attempts, now, None)


def _error_text(a: _Attempt, attempts: int) -> str:
    """`HTTP 503 after 5 attempts: service unavailable`, or the reason of a permanent answer."""
    if not a.retryable:
        return _describe(a)
    d = a.decoded
    head, tail = (f"HTTP {d.status}", d.message or f"HTTP {d.status}") if d else \
        ("no response", a.transport_error or "no response")
    return f"{head} after {attempts} attempt{'s' * (attempts != 1)}: {tail}"


def _describe(a: _Attempt) -> str:
    if a.decoded is None:
        return a.transport_error or "no response"
    return f"HTTP {a.decoded.status}: {a.decoded.message}" if a.decoded.message else f"HTTP {a.decoded.status}"


def _wake(waker: asyncio.Future) -> None:
    if not waker.done():
        waker.set_result(None)
