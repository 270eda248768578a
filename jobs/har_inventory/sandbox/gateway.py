"""What the Harness gateway adds in front of the server: rate limit, request log, proxy pages.

- `RateLimiter`: per API key, a sliding window of 60 s (API-NOTES §6: 400
  calls per minute per key); over the limit the app answers 429 with an HTML
  body and no `Retry-After`.
- `RequestLog`: every request as a `RequestRecord`, kept in memory and
  optionally appended as one JSON object per line to a file (flushed per line).
- `html_page`: the nginx-style pages a proxy sends for 429, 502, 504.
"""

from __future__ import annotations

import collections
import json
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import IO


class RateLimiter:
    """Sliding-window limit: at most `per_minute` accepted requests per key in any 60 s; 0 = off."""

    def __init__(self, per_minute: int, window_s: float = 60.0):
        self.per_minute = per_minute
        self.window_s = window_s
        self._hits: dict[str, collections.deque[float]] = {}
        self._lock = threading.Lock()

    def allow(self, key: str, now: float | None = None) -> bool:
        """Count a request for `key` (monotonic seconds); False when over the limit (not counted)."""
        if self.per_minute <= 0:
            return True
        now = time.monotonic() if now is None else now
        with self._lock:
            hits = self._hits.setdefault(key, collections.deque())
            while hits and hits[0] <= now - self.window_s:
                hits.popleft()
            if len(hits) >= self.per_minute:
                return False
            hits.append(now)
            return True


@dataclass(frozen=True)
class RequestRecord:
    """One request as the sandbox saw it.

    `seq` 1-based arrival order; `time` UTC epoch seconds; `path` the raw path
    (no query); `query` the raw query string; `api_key_present` whether an
    `x-api-key` header was sent; `status` the HTTP status sent (None when the
    connection was reset; for a stall, the status of the late answer, recorded
    before the stall starts); `fault` the injected fault kind, "rate_limit" for a
    limiter 429, or None; `key` the details request key
    `registry_ref|artifact|version|version_type|digest` (or path?query for a
    list call; None when unrouted).
    """

    seq: int
    time: float
    method: str
    path: str
    query: str
    api_key_present: bool
    status: int | None
    fault: str | None
    key: str | None


class RequestLog:
    """Thread-safe list of `RequestRecord`, optionally mirrored to a JSON-lines file."""

    def __init__(self, path: str | Path | None = None):
        self.records: list[RequestRecord] = []
        self._lock = threading.Lock()
        self._seq = 0
        self._file: IO[str] | None = open(path, "a", encoding="utf-8") if path else None

    def next_seq(self) -> int:
        with self._lock:
            self._seq += 1
            return self._seq

    def add(self, record: RequestRecord) -> None:
        with self._lock:
            self.records.append(record)
            if self._file is not None:
                self._file.write(json.dumps(asdict(record), sort_keys=True) + "\n")
                self._file.flush()

    def close(self) -> None:
        with self._lock:
            if self._file is not None:
                self._file.close()
                self._file = None


_REASONS = {
    429: "Too Many Requests",
    502: "Bad Gateway",
    503: "Service Temporarily Unavailable",
    504: "Gateway Time-out",
}


def html_page(status: int) -> str:
    """An nginx-style error page for `status` (what a proxy in front of Harness sends)."""
    title = f"{status} {_REASONS.get(status, 'Error')}"
    return (
        f"<html>\r\n<head><title>{title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{title}</h1></center>\r\n<hr><center>nginx</center>\r\n</body>\r\n</html>\r\n"
    )


MAINTENANCE_PAGE = (
    "<!DOCTYPE html>\n<html><head><title>Harness - Scheduled maintenance</title></head>"
    "<body><h1>We'll be back soon</h1><p>Harness is undergoing scheduled maintenance.</p>"
    "</body></html>\n"
)
