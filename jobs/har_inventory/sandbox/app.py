"""The sandbox aiohttp application: gateway checks, routing, faults, handlers.

Order per request (gateway first, then the server), API-NOTES §5, §6:
`x-api-key` (401 JSON) -> rate limit (429 HTML, no Retry-After)
-> route on the raw path (404 text/plain) -> method (405) -> `digest`
present (400 text/plain) -> injected fault -> handler (400/403/500 JSON
errors, or 200 `{"status": "SUCCESS", "data": …}`) -> the answer waits
until `latency` seconds after the request reached the handler, then goes
out (a `reset` closes the connection then; a `stall` waits on).

Latency is counted from the request's arrival, not added after the
sandbox's own work: a server "with 50 ms latency" answers 50 ms after the
request came in, and on a small machine the sandbox's CPU time would
otherwise lengthen every round trip (issue 7's latency-bound benchmark).
The rate limit counts a request on arrival, as a gateway does.

The registries listing honours `scope` (none | ancestors | descendants) and
the deprecated `recursive` (true = ancestors), as the open-source spec's
`scopeParam` / `recursiveParam` define them: see `registry_scope`.

Every request is recorded in the `RequestLog`.
"""

from __future__ import annotations

import asyncio
import json
import random
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from email.utils import format_datetime
from typing import Any, Callable

from aiohttp import web

from .dataset import Dataset
from .faults import FaultDecider, FaultSpec, unit_hash
from .gateway import MAINTENANCE_PAGE, RateLimiter, RequestLog, RequestRecord, html_page
from .responses import (
    ApiError, artifact_item, check_registry_ref, detail_data, registry_item, resolve_registry,
    tag_items, version_items,
)
from .routing import Route, parse_path

NOT_FOUND_TEXT = "404 page not found"
DIGEST_REQUIRED_TEXT = "Query argument digest is required, but not found"
DEFAULT_API_KEY = "pat.sandbox.har-inventory.0123456789abcdef"


@dataclass(frozen=True)
class AppConfig:
    """Behaviour knobs of one sandbox app.

    `rate_limit` requests per minute per key (0 = off); `latency_ms` a
    (min, max) uniform time in milliseconds from a request's arrival to its
    answer, or None; `untagged_support`
    whether an absent `version_type` means DIGEST (API-NOTES §3);
    `forbidden` extra registry_refs answered 403; `list_jitter` adjacent
    swaps applied to a list's order on each request (0 = stable order).
    """

    api_key: str = DEFAULT_API_KEY
    seed: int = 0
    rate_limit: int = 0
    rate_limit_window: float = 60.0
    latency_ms: tuple[int, int] | None = None
    faults: FaultSpec = FaultSpec()
    untagged_support: bool = True
    forbidden: tuple[str, ...] = ()
    list_jitter: int = 2


class Sandbox:
    """State of one running app: data set, config, limiter, fault decider, request log."""

    def __init__(self, dataset: Dataset, config: AppConfig, log: RequestLog):
        self.dataset = dataset
        self.config = config
        self.log = log
        self.limiter = RateLimiter(config.rate_limit, window_s=config.rate_limit_window)
        self.decider = FaultDecider(config.faults, config.seed)
        self._latency_rng = random.Random(config.seed)
        self._list_counter = 0

    # ------------------------------------------------------------ plumbing
    def _record(self, request: web.Request, seq: int, status: int | None,
                fault: str | None, key: str | None) -> None:
        path, _, query = request.raw_path.partition("?")
        self.log.add(RequestRecord(
            seq=seq, time=datetime.now(timezone.utc).timestamp(), method=request.method,
            path=path, query=query, api_key_present="x-api-key" in request.headers,
            status=status, fault=fault, key=key,
        ))

    async def handle(self, request: web.Request) -> web.StreamResponse:
        seq = self.log.next_seq()
        loop = asyncio.get_running_loop()
        due = loop.time()  # latency counts from here, so the sandbox's own work is inside it
        if self.config.latency_ms:
            lo, hi = self.config.latency_ms
            due += self._latency_rng.uniform(lo, hi) / 1000
        response, fault, key = await self._respond(request)
        self._record(request, seq, None if response is None else response.status, fault, key)
        if (wait := due - loop.time()) > 0:
            await asyncio.sleep(wait)
        if fault == "stall":  # recorded first: a stall cut short by a stop still shows in the log
            await asyncio.sleep(self.config.faults.stall_seconds)
        if response is None:  # reset: close the connection without an answer
            if request.transport is not None:
                request.transport.close()
            return web.Response(status=499)
        return response

    async def _respond(self, request: web.Request) -> tuple[web.StreamResponse | None, str | None, str | None]:
        key_header = request.headers.get("x-api-key")
        if key_header != self.config.api_key:
            return json_error(401, "invalid or missing API key (x-api-key)"), None, None
        if not self.limiter.allow(key_header):
            return web.Response(status=429, text=html_page(429), content_type="text/html"), "rate_limit", None
        path = request.raw_path.partition("?")[0]
        route = parse_path(path)
        if route is None:
            return web.Response(status=404, text=NOT_FOUND_TEXT, content_type="text/plain"), None, None
        if request.method != "GET":
            return web.Response(status=405, text="405 method not allowed", content_type="text/plain"), None, None
        query = request.query
        digest = query.get("digest", "")
        if route.kind == "details":
            if not digest:
                return web.Response(status=400, text=DIGEST_REQUIRED_TEXT, content_type="text/plain"), None, None
            key = "|".join((route.ref, route.artifact, route.version, query.get("version_type", ""), digest))
        else:
            key = request.raw_path
        fault = self.decider.decide(key, digest, route.version)
        if fault == "reset":
            return None, fault, key
        if fault is not None and fault != "stall":
            early = self._fault_response(fault)
            if early is not None:
                return early, fault, key
        try:
            body = {"status": "SUCCESS", "data": self._data(route, query)}
        except ApiError as err:
            return json_error(err.status, err.message), fault, key
        if fault == "truncated":
            raw = json.dumps(body).encode()
            return web.Response(status=200, body=raw[: len(raw) // 2], content_type="application/json"), fault, key
        if fault == "html200":
            return web.Response(status=200, text=MAINTENANCE_PAGE, content_type="text/html"), fault, key
        return web.json_response(body), fault, key

    def _fault_response(self, fault: str) -> web.Response | None:
        """The response for a fault that replaces the answer; None for faults that alter it."""
        retry = self.config.faults.retry_after
        if fault in ("503", "500"):
            message = "service unavailable" if fault == "503" else "internal error: database is locked"
            return json_error(int(fault), message)
        if fault in ("502", "504", "429"):
            return web.Response(status=int(fault), text=html_page(int(fault)), content_type="text/html")
        if fault == "429-seconds":
            return web.Response(status=429, text=html_page(429), content_type="text/html",
                                headers={"Retry-After": str(retry)})
        if fault == "429-date":
            when = datetime.now(timezone.utc) + timedelta(seconds=retry + 1)
            return web.Response(status=429, text=html_page(429), content_type="text/html",
                                headers={"Retry-After": format_datetime(when, usegmt=True)})
        return None

    # ------------------------------------------------------------ handlers
    def _data(self, route: Route, query: Any) -> dict[str, Any]:
        if route.kind == "details":
            self._check_forbidden(route.ref)
            return detail_data(self.dataset, route.ref, route.artifact, route.version,
                               query.get("version_type"), query.get("digest", ""),
                               untagged_support=self.config.untagged_support)
        if route.kind == "registries":
            return self._list_registries(route.ref, query)
        self._check_forbidden(route.ref)
        registry = resolve_registry(self.dataset, route.ref)
        if route.kind == "artifacts":
            items = [artifact_item(registry, i) for i in self.dataset.images_in(registry.ref)]
            return self._page("artifacts", items, query)
        image = self.dataset.image(registry.ref, route.artifact)
        if image is None:
            raise ApiError(500, f"failed to get artifact {route.artifact}: not found")
        if route.kind == "tags":
            return self._page("ociArtifactTags", tag_items(image), query)
        paged = query.get("sort_field") == "lastModified"  # open-source quirk (API-NOTES §7)
        return self._page("artifactVersions", version_items(registry, image), query, paged=paged)

    def _check_forbidden(self, ref: str) -> None:
        if ref in self.config.forbidden:
            raise ApiError(403, f"user is not authorized to access registry {ref}")

    def _list_registries(self, space_ref: str, query: Any) -> dict[str, Any]:
        """`data` of `GET /spaces/{space_ref}/+/registries`: the registries in `registry_scope(query)`."""
        scope = registry_scope(query)  # parameter binding comes before the handler: checked first
        segments = space_ref.split("/")
        if not 1 <= len(segments) <= 3 or not all(segments):
            raise ApiError(400, f"invalid space reference {space_ref!r}")
        if len(segments) > 1:
            check_registry_ref(space_ref)  # same segment grammar
        if self.dataset.space(space_ref) is None:
            raise ApiError(400, f"space not found: {space_ref}")
        spaces = spaces_in_scope(space_ref, scope)
        wanted = query.get("package_type")
        items = [
            registry_item(self.dataset, r) for r in self.dataset.registries
            if spaces(r.space_ref) and (not wanted or r.package_type in wanted.split(","))
        ]
        return self._page("registries", items, query)

    def _page(self, name: str, items: list[dict[str, Any]], query: Any, paged: bool = True) -> dict[str, Any]:
        """One page: LIMIT/OFFSET over an order that drifts between requests (API-NOTES §7)."""
        page, size = _int(query.get("page"), 0), _int(query.get("size"), 10)
        if size < 1:
            size = 10
        self._list_counter += 1
        rng = random.Random(int(unit_hash(self.config.seed, "list", self._list_counter) * 2**53))
        order = list(items)
        for _ in range(self.config.list_jitter if len(order) > 1 else 0):
            i = rng.randrange(len(order) - 1)
            order[i], order[i + 1] = order[i + 1], order[i]
        chosen = order[max(page, 0) * size: max(page, 0) * size + size] if paged else order
        return {
            "pageCount": -(-len(items) // size),
            "itemCount": len(items),
            "pageSize": size,
            "pageIndex": page,
            name: chosen,
        }


SCOPES = ("none", "ancestors", "descendants")
_GO_BOOLS = {"1": True, "t": True, "T": True, "TRUE": True, "true": True, "True": True,
             "0": False, "f": False, "F": False, "FALSE": False, "false": False, "False": False}


def registry_scope(query: Any) -> str:
    """The `scope` of a registries listing (spec `scopeParam`, `recursiveParam`).

    `scope` = none (default) | ancestors | descendants; the deprecated
    `recursive` (a Go `strconv.ParseBool` value) means ancestors when true,
    none when false; `scope` wins when both are sent. An unknown `scope` or
    unparsable `recursive` raises `ApiError(400)`, as the server's parameter
    binding does.
    """
    scope = query.get("scope")
    if scope is not None and scope != "":
        if scope not in SCOPES:
            raise ApiError(400, f"invalid value for parameter scope: {scope!r}, "
                                f"allowed values: {', '.join(SCOPES)}")
        return scope
    recursive = query.get("recursive")
    if recursive is None or recursive == "":
        return "none"
    if recursive not in _GO_BOOLS:
        raise ApiError(400, f"Invalid format for parameter recursive: error binding string parameter: "
                            f"strconv.ParseBool: parsing {recursive!r}: invalid syntax")
    return "ancestors" if _GO_BOOLS[recursive] else "none"


def spaces_in_scope(space_ref: str, scope: str) -> Callable[[str], bool]:
    """A test `space -> bool`: the space itself, plus its parents (ancestors) or its children (descendants)."""
    def within(space: str) -> bool:
        if space == space_ref:
            return True
        if scope == "ancestors":
            return space_ref.startswith(space + "/")
        if scope == "descendants":
            return space.startswith(space_ref + "/")
        return False
    return within


def _int(value: str | None, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except ValueError:
        return default


def json_error(status: int, message: str) -> web.Response:
    """A JSON error response with the open-source body shape (API-NOTES §5)."""
    return web.json_response(ApiError(status, message).body(), status=status)


def build_app(sandbox: Sandbox) -> web.Application:
    """An aiohttp app whose single catch-all route is `sandbox.handle` (routing is our own)."""
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", sandbox.handle)
    return app
