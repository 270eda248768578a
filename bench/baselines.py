"""The baselines the job is compared with: the least code that fetches the same URLs.

- `aiohttp_loop`: one aiohttp session, a semaphore of `concurrency`, GET and
  parse JSON, nothing else (no pacing, retries, validation, journal, frame).
- `requests_loop`: the naive sequential script: one `requests.Session`, GET
  and parse JSON, one URL after the other.

URLs are built beforehand with `har.details_url` (outside the timing), so the
baselines send exactly the requests the job sends.
"""

from __future__ import annotations

import asyncio
import time
from typing import Sequence

import aiohttp
import yarl

from har_inventory import har
from .sandbox_proc import Key


def details_urls(base_url: str, keys: Sequence[Key]) -> list[str]:
    """The job's URL for each key (plain `/+` path, encoded query)."""
    return [har.details_url(base_url, k.registry_ref, k.artifact, k.version, k.digest, k.version_type)
            for k in keys]


async def _aiohttp_loop(urls: Sequence[str], api_key: str, concurrency: int, trust_env: bool) -> int:
    sem = asyncio.Semaphore(concurrency)
    headers = {har.API_KEY_HEADER: api_key, "Accept": "application/json"}
    async with aiohttp.ClientSession(headers=headers, trust_env=trust_env,
                                     connector=aiohttp.TCPConnector(limit=concurrency)) as session:
        async def one(url: str) -> bool:
            async with sem:
                async with session.get(yarl.URL(url, encoded=True)) as resp:
                    body = await resp.json(content_type=None)
                    return resp.status == 200 and "data" in body

        return sum(await asyncio.gather(*(one(u) for u in urls)))


def aiohttp_loop(urls: Sequence[str], api_key: str, concurrency: int, *,
                 trust_env: bool = False) -> tuple[float, int]:
    """Fetch every URL; returns (wall seconds, responses that were 200 with a `data` field).

    `trust_env=True` is what `fetch.py` passed to its session before issue 7: aiohttp then looks up
    `~/.netrc` and the proxy variables in a worker thread on every request."""
    t0 = time.perf_counter()
    ok = asyncio.run(_aiohttp_loop(urls, api_key, concurrency, trust_env))
    return time.perf_counter() - t0, ok


def requests_loop(urls: Sequence[str], api_key: str) -> tuple[float, int]:
    """Fetch every URL one after the other with `requests`; returns (wall seconds, ok count)."""
    import requests

    ok = 0
    t0 = time.perf_counter()
    with requests.Session() as s:
        s.headers.update({har.API_KEY_HEADER: api_key, "Accept": "application/json"})
        for url in urls:
            resp = s.get(url, allow_redirects=False)
            ok += resp.status_code == 200 and "data" in resp.json()
    return time.perf_counter() - t0, ok
