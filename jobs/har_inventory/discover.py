"""Discovery: build the input list from the registry itself (API-NOTES §7).

`discover(fetcher, registry_ref=… | space=…)` walks the list endpoints with
the fetch stage's session, pacing, retries and key handling, and returns a
`Discovery`: one `DiscoveredRow` per (registry_ref, image, tag) with the
tag's digest (`version_type=TAG`), plus, with `include_untagged`, one per
digest no tag points to (`version_type=DIGEST`, version = digest).
`write_discovered_csv` writes them as an input file `read_input` accepts.
This module does the I/O; the URLs, the registry_ref rules and the rules
that turn list items into rows are the pure functions of `discover_items`
(re-exported here: `DiscoveryError`, `Discovery`, `DiscoveredRow`,
`parse_space_ref`, `PAGE_SIZE`, `CSV_HEADER`, `SPACE_SCOPES`).

Whole spaces (issue 5): `space=` lists the space's DOCKER registries with
`scope=descendants` by default (spec `scopeParam`): the registries of the
space and of every org and project below it, so `space="acme"` audits the
whole account. `space_scope="none"` keeps to the space's own registries.
(The deprecated `recursive=true` means `scope=ancestors`, the parent spaces,
and is never sent.) Each registry's registry_ref comes from its `path`
(`discover_items.registry_ref_of`); registries are de-duplicated by
registry_ref, and each is walked once. A server that ignores `scope` gives
the space's own registries only; that cannot be told from its answer.

Paging (API-NOTES §7): `page` is 0-based and `size` (default 10 on the
server) is always sent, `PAGE_SIZE` = 100. A pass reads pages 0, 1, … until
`pageCount` (or, without it, a short page); `pageIndex` is not trusted (the
server echoes the `page` it got, or 1 when absent). The server pages with
LIMIT/OFFSET without ORDER BY, so items can move between pages: items are
de-duplicated by key (image, tag and version name; registry_ref for
registries; the last read wins) and their distinct count is checked against
`itemCount`; when short, the whole listing is read again (up to
`MAX_PASSES` reads in all, the union kept) and, if still short, a warning
is added. `discover(page_size=)` lowers `size` (tests use it to page).

Filters: `image_filter` and `tag_filter` are case-sensitive `fnmatch` globs
(`*` also matches `/`) on the image name and the tag name. The tag filter
does not apply to untagged digests (they have no tag): `include_untagged`
adds every untagged digest of the images the image filter keeps. A digest
is untagged when the versions listing names it, no tag of the (unfiltered)
tags listing points to it, and its `metadata.tags` is empty or absent.

Failures: a listing that fails (403, 400, 5xx after retries, a transport
error) gives a warning naming the registry or image and the reason, and
discovery goes on with the rest: a registry of the space the key may not
read (403) is skipped with a warning. The first listing (the space's
registries, or the artifacts of the one `registry_ref`) failing raises
`DiscoveryError` (nothing can be discovered), as does a 401 (key refused) or
the fetcher stopping (server down, signal). Registry items whose `path`
cannot be read, and items whose name fails the Docker grammar of `har.py`
(image name, tag, digest; API-NOTES §2) are skipped with a warning, never
emitted. Every warning is also logged (`event=discover_warning`).
"""

from __future__ import annotations

import asyncio
import csv
import logging
import os
import reprlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping

from har_inventory import har
from har_inventory.discover_items import (
    CSV_HEADER, PAGE_SIZE, SPACE_SCOPES, DiscoveredRow, Discovery, DiscoveryError, artifacts_url, as_int,
    docker_registry_refs, image_names, parse_space_ref, registries_url, registry_key, tag_rows, tags_url,
    untagged_rows, versions_url,
)
from har_inventory.fetch import Aborted, FetchConfig, Fetcher

log = logging.getLogger(__name__)

MAX_PASSES = 5  # reads of one listing when the distinct count stays below itemCount
MAX_PAGES = 10_000  # pages of one pass, a guard against a server that never ends

__all__ = [
    "CSV_HEADER", "MAX_PAGES", "MAX_PASSES", "PAGE_SIZE", "SPACE_SCOPES", "DiscoveredRow", "Discovery",
    "DiscoveryError", "discover", "parse_space_ref", "run_discovery", "write_discovered_csv",
]


# ---------------------------------------------------------------- listing

@dataclass
class _Listing:
    """The distinct items of one listing, by key; `error`/`status` when its first read failed."""

    items: dict[str, Mapping[str, Any]] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    error: str | None = None
    status: int | None = None


Found = tuple[list[DiscoveredRow], list[str]]  # rows and warnings of one registry or image


class _Walker:
    """One discovery: the fetcher and its session, the filters, the paging loop, the levels."""

    def __init__(self, fetcher: Fetcher, session: Any, page_size: int, image_filter: str | None,
                 tag_filter: str | None, include_untagged: bool):
        self.fetcher, self.session, self.size = fetcher, session, page_size
        self.base = fetcher.config.base_url
        self.image_filter, self.tag_filter = image_filter, tag_filter
        self.include_untagged = include_untagged
        self.slots = asyncio.Semaphore(max(1, fetcher.config.concurrency))
        self.images = 0

    async def _get(self, url: str, label: str) -> tuple[Mapping[str, Any] | None, str | None, int | None]:
        try:
            decoded, error, _ = await self.fetcher.get(self.session, url, label)
        except Aborted as exc:
            raise DiscoveryError(f"discovery stopped: {exc}") from None
        status = decoded.status if decoded is not None else None
        if decoded is not None and decoded.outcome == har.Outcome.UNAUTHORIZED:
            raise DiscoveryError(f"API key refused while listing {label} (HTTP 401: {decoded.message}); "
                                 "check HARNESS_API_KEY or --api-key-file", status)
        return (None, error, status) if error is not None else (decoded.data, None, status)

    async def _pass(self, url_of: Callable[[int], str], list_key: str, label: str
                    ) -> tuple[list[Mapping[str, Any]], int | None, str | None, int | None]:
        """One read of every page: (items, itemCount, error, status)."""
        items: list[Mapping[str, Any]] = []
        item_count: int | None = None
        for page in range(MAX_PAGES):
            data, error, status = await self._get(url_of(page), label)
            if error is not None:
                return items, item_count, error, status
            chunk = data.get(list_key) or []
            if not isinstance(chunk, list):
                return items, item_count, f"the response has no `{list_key}` list", status
            items.extend(x for x in chunk if isinstance(x, Mapping))
            item_count = as_int(data.get("itemCount"), item_count)
            page_count = as_int(data.get("pageCount"), None)
            if len(chunk) > self.size:  # the server ignored paging and sent the whole list
                break
            if (page + 1 >= page_count) if page_count is not None else len(chunk) < self.size:
                break
        else:
            return items, item_count, f"more than {MAX_PAGES} pages", None
        return items, item_count, None, None

    async def listing(self, url_of: Callable[[int], str], list_key: str, key: Callable[[Mapping[str, Any]], Any],
                      label: str, what: str) -> _Listing:
        """Read until the distinct count reaches `itemCount`, at most `MAX_PASSES` reads (the union is kept).

        `key(item)` names an item (a str; anything else: the item's text).
        """
        out = _Listing()
        for n in range(1, MAX_PASSES + 1):
            items, item_count, error, status = await self._pass(url_of, list_key, label)
            if error is not None:
                if n == 1:
                    out.error, out.status = error, status
                else:
                    out.warnings.append(f"{label}: reading {what} again failed ({error}); "
                                        f"{len(out.items)} found, some may be missing")
                return out
            for item in items:
                name = key(item)
                out.items[name if isinstance(name, str) else reprlib.repr(item)] = item
            if item_count is None or len(out.items) >= item_count:
                return out
            log.info("%s: %d distinct %s of itemCount %d after read %d; reading again", label,
                     len(out.items), what, item_count, n,
                     extra={"event": "discover_reread", "item": label, "found": len(out.items),
                            "item_count": item_count, "read": n})
        out.warnings.append(f"{label}: {len(out.items)} distinct {what} of itemCount {item_count} "
                            f"after {MAX_PASSES} read(s); some {what} may be missing")
        return out

    # ------------------------------------------------------------ levels

    async def registries_of(self, space: str, scope: str) -> tuple[list[str], list[str]]:
        """DOCKER registry_refs in `scope` of one space (sorted, distinct) and warnings; `DiscoveryError` on failure."""
        got = await self.listing(lambda p: registries_url(self.base, space, p, self.size, scope), "registries",
                                 lambda item: registry_key(space, item), f"space {space}", "registries")
        if got.error is not None:
            raise DiscoveryError(f"space {space}: listing registries failed: {got.error}", got.status)
        refs, notes = docker_registry_refs(space, got.items)
        return refs, got.warnings + notes

    async def registry(self, ref: str, *, first: bool) -> Found:
        label = f"registry {ref}"
        got = await self.listing(lambda p: artifacts_url(self.base, ref, p, self.size), "artifacts", _name,
                                 label, "images")
        if got.error is not None:
            if first:
                raise DiscoveryError(f"{label}: listing images failed: {got.error}", got.status)
            return [], [f"{label}: listing images failed: {got.error}; registry skipped"]
        names, notes = image_names(ref, got.items, self.image_filter)
        self.images += len(names)
        found = await _gather([self.image(ref, name) for name in names])
        return [r for rows, _ in found for r in rows], got.warnings + notes + [w for _, ws in found for w in ws]

    async def image(self, ref: str, name: str) -> Found:
        async with self.slots:
            label = f"registry {ref} image {name}"
            got = await self.listing(lambda p: tags_url(self.base, ref, name, p, self.size),
                                     "ociArtifactTags", _name, label, "tags")
            if got.error is not None:
                return [], [f"{label}: listing tags failed: {got.error}; image skipped"]
            rows, tagged, notes = tag_rows(ref, name, got.items, self.tag_filter)
            if not self.include_untagged:
                return rows, got.warnings + notes
            more = await self.listing(lambda p: versions_url(self.base, ref, name, p, self.size),
                                      "artifactVersions", _name, label, "versions")
            if more.error is not None:
                return rows, got.warnings + notes + [
                    f"{label}: listing versions failed: {more.error}; untagged digests not listed"]
            extra, extra_notes = untagged_rows(ref, name, more.items, tagged)
            return rows + extra, got.warnings + notes + more.warnings + extra_notes


def _name(item: Mapping[str, Any]) -> Any:
    return item.get("name")


async def _gather(coros: list[Awaitable[Found]]) -> list[Found]:
    """Run concurrently; on the first failure cancel the rest and raise that failure itself."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(c) for c in coros]
    except BaseExceptionGroup as eg:
        raise eg.exceptions[0] from None
    return [t.result() for t in tasks]


# ---------------------------------------------------------------- entry points

async def discover(fetcher: Fetcher, *, registry_ref: str | None = None, space: str | None = None,
                   image_filter: str | None = None, tag_filter: str | None = None,
                   include_untagged: bool = False, page_size: int = PAGE_SIZE,
                   space_scope: str = "descendants") -> Discovery:
    """Discover every (registry, image, tag, digest) of one registry or of a space's DOCKER registries.

    Exactly one of `registry_ref` (2-4 segments, `/+` accepted) and `space`
    (1-3 segments) must be given; `page_size` is the `size` sent (1-100).
    `space_scope` (with `space` only): "descendants" (default: the space and
    every org and project below it) or "none" (the space's own registries);
    module docstring. Opens its own session through `fetcher`. Raises
    `ValueError` (incl. `har.ProtocolError`) for bad arguments,
    `DiscoveryError` when discovery cannot go on (module docstring).
    """
    if (registry_ref is None) == (space is None):
        raise ValueError("give exactly one of registry_ref and space")
    if space_scope not in SPACE_SCOPES:
        raise ValueError(f"space_scope must be one of {', '.join(SPACE_SCOPES)}, got {space_scope!r}")
    if not 1 <= page_size <= PAGE_SIZE:
        raise ValueError(f"page_size must be 1 to {PAGE_SIZE}, got {page_size}")
    space_ref = parse_space_ref(space) if space is not None else None
    refs = [har.parse_registry_ref(registry_ref)] if registry_ref is not None else []
    start_requests = fetcher.stats.requests
    warnings: list[str] = []
    rows: set[DiscoveredRow] = set()
    async with fetcher.open_session() as session:
        walker = _Walker(fetcher, session, page_size, image_filter, tag_filter, include_untagged)
        if space_ref is not None:
            refs, notes = await walker.registries_of(space_ref, space_scope)
            warnings.extend(notes)
        for ref in refs:
            found, notes = await walker.registry(ref, first=space_ref is None)
            rows.update(found)
            warnings.extend(notes)
    for note in warnings:
        log.warning("%s", note, extra={"event": "discover_warning"})
    return Discovery(tuple(sorted(rows, key=lambda r: r.sort_key)), fetcher.stats.requests - start_requests,
                     tuple(warnings), len(refs), walker.images)


def run_discovery(config: FetchConfig, **kw: Any) -> Discovery:
    """Synchronous `discover` with a new `Fetcher(config)`; keyword arguments as for `discover`."""
    return asyncio.run(discover(Fetcher(config), **kw))


def write_discovered_csv(discovery: Discovery, path: Path) -> Path:
    """Write the rows as an input CSV (header `CSV_HEADER`, UTF-8, `\\r\\n` line ends), atomically.

    The file is written to a temporary file in the same folder (created with
    the usual permissions) and renamed over `path`; parent folders are
    created. Returns `path`. Raises `OSError`.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", encoding="utf-8", newline="") as fh:
            writer = csv.writer(fh)
            writer.writerow(CSV_HEADER)
            writer.writerows((r.registry_ref, r.artifact, r.version, r.version_type, r.digest)
                             for r in discovery.rows)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path
