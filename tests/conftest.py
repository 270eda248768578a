"""Shared fixtures: the HAR sandbox over real loopback HTTP.

- `sandbox`: a fresh sandbox per test, default data set, rate limit off.
- `make_sandbox(**options)`: start sandboxes with `SandboxOptions` fields
  (rate limit off unless given); all are stopped at teardown.
"""

from __future__ import annotations

import pytest

from har_inventory.sandbox import SandboxHandle, start_in_thread


@pytest.fixture
def make_sandbox():
    started: list[SandboxHandle] = []

    def make(**options) -> SandboxHandle:
        options.setdefault("rate_limit", 0)
        handle = start_in_thread(**options)
        started.append(handle)
        return handle

    yield make
    for handle in started:
        handle.stop()


@pytest.fixture
def sandbox(make_sandbox) -> SandboxHandle:
    return make_sandbox()


class RawResponse:
    """A response read whole: `status`, `headers` (case-insensitive), `body` bytes."""

    def __init__(self, status: int, headers, body: bytes):
        self.status, self.headers, self.body = status, headers, body

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")

    def json(self):
        import json

        return json.loads(self.body)


@pytest.fixture
def raw_get():
    """`raw_get(url, api_key=None, timeout=5.0) -> RawResponse`: one GET with aiohttp, URL sent as is.

    The URL is passed as `yarl.URL(url, encoded=True)` so neither aiohttp nor
    yarl re-quotes the path (API-NOTES §2). Connection errors and timeouts raise.
    """
    import asyncio

    import aiohttp
    from yarl import URL

    def get(url: str, api_key: str | None = None, timeout: float = 5.0, headers=None) -> RawResponse:
        async def go() -> RawResponse:
            hdrs = dict(headers or {})
            if api_key is not None:
                hdrs["x-api-key"] = api_key
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=timeout)) as session:
                async with session.get(URL(url, encoded=True), headers=hdrs) as resp:
                    return RawResponse(resp.status, resp.headers, await resp.read())

        return asyncio.run(go())

    return get
