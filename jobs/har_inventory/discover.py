"""Discovery: build the input list from the registry itself (API-NOTES §7).

`discover(fetcher, registry_ref=… | space=…)` walks the list endpoints with
the fetch stage's session, pacing, retries and key handling, and returns a
`Discovery`: one `DiscoveredRow` per (registry_ref, image, tag) with the
tag's digest (`version_type=TAG`), plus, with `include_untagged`, one per
digest no tag points to (`version_type=DIGEST`, version = digest).
`write_discovered_csv` writes them as an input file `read_input` accepts.

Endpoints (API-NOTES §7; base URL, `x-api-key` and plain `/+` path form as
for the details call, §1-§2: never a percent-escape in the path):

- `registries_url`: `{base}/spaces/{space_ref}/+/registries?package_type=DOCKER&…`
  -> `data.registries[]` `{identifier, packageType, path?}`: that space's own
  registries (the server's default scope); non-DOCKER items are dropped here
  too (older servers ignore `package_type`). registry_ref = `path` when it is
  a registry_ref ending in `/{identifier}`, else `{space_ref}/{identifier}`.
- `artifacts_url`: `{base}/registry/{registry_ref}/+/artifacts` -> `data.artifacts[]` `{name}`.
- `tags_url`: `…/+/artifact/{artifact}/+/tags` -> `data.ociArtifactTags[]` `{name, digest}`.
- `versions_url` (only with `include_untagged`): `…/+/artifact/{artifact}/+/versions`
  `?sort_field=lastModified` (the open-source server pages only with it)
  -> `data.artifactVersions[]` `{name, metadata.tags}`; with untagged-image
  support `name` is the digest.

Paging (API-NOTES §7): `page` is 0-based and `size` (default 10 on the
server) is always sent, `PAGE_SIZE` = 100. A pass reads pages 0, 1, … until
`pageCount` (or, without it, a short page); `pageIndex` is not trusted (the
server echoes the `page` it got, or 1 when absent). The server pages with
LIMIT/OFFSET without ORDER BY, so items can move between pages: items are
de-duplicated by name (the last read wins) and their distinct count is
checked against `itemCount`; when short, the whole listing is read again (up
to `MAX_PASSES` reads in all, the union kept) and, if still short, a warning
is added. `discover(page_size=)` lowers `size` (tests use it to page).

Filters: `image_filter` and `tag_filter` are case-sensitive `fnmatch` globs
(`*` also matches `/`) on the image name and the tag name. The tag filter
does not apply to untagged digests (they have no tag): `include_untagged`
adds every untagged digest of the images the image filter keeps. A digest
is untagged when the versions listing names it, no tag of the (unfiltered)
tags listing points to it, and its `metadata.tags` is empty or absent.

Failures: a listing that fails (403, 400, 5xx after retries, a transport
error) gives a warning naming the registry or image and the reason, and
discovery goes on with the rest. The first listing (the space's registries,
or the artifacts of the one `registry_ref`) failing raises `DiscoveryError`
(nothing can be discovered), as does a 401 (key refused) or the fetcher
stopping (server down, signal). Items whose name fails the Docker grammar of
`har.py` (image name, tag, digest; API-NOTES §2) are skipped with a warning,
never emitted. Every warning is also logged (`event=discover_warning`).
"""

from __future__ import annotations

import asyncio
import csv
import logging
import os
import reprlib
from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from pathlib import Path
from typing import Any, Awaitable, Callable, Mapping
from urllib.parse import urlencode

from har_inventory import har
from har_inventory.fetch import Aborted, FetchConfig, Fetcher
from har_inventory.records import ArtifactRef, VersionType

log = logging.getLogger(__name__)

PAGE_SIZE = 100  # items per page; the server's default is 10, its maximum is not documented
MAX_PASSES = 5  # reads of one listing when the distinct count stays below itemCount
MAX_PAGES = 10_000  # pages of one pass, a guard against a server that never ends
CSV_HEADER = ("registry_ref", "artifact", "version", "version_type", "digest")


class DiscoveryError(Exception):
    """Discovery cannot go on (401, run stopped, first listing failed); `status`: last HTTP status or None."""

    def __init__(self, message: str, status: int | None = None):
        super().__init__(message)
        self.status = status


@dataclass(frozen=True, slots=True)
class DiscoveredRow:
    """One version found: TAG (version = tag) or DIGEST (version = digest); names without `/+`."""

    registry_ref: str
    artifact: str
    version: str
    version_type: str
    digest: str

    @property
    def sort_key(self) -> tuple[str, str, str, str]:
        return (self.registry_ref, self.artifact, self.version_type, self.version)


@dataclass(frozen=True, slots=True)
class Discovery:
    """What a discovery found.

    `rows`: distinct rows sorted by (registry_ref, artifact, version_type,
    version). `requests`: HTTP requests sent (retries included).
    `warnings`: readable notes (listing failed, short listing, invalid name),
    in discovery order. `registries`: DOCKER registries listed;
    `images`: images (after `image_filter`) whose tags were listed.
    """

    rows: tuple[DiscoveredRow, ...]
    requests: int
    warnings: tuple[str, ...] = ()
    registries: int = 0
    images: int = 0

    def refs(self) -> tuple[ArtifactRef, ...]:
        """The rows as `ArtifactRef`s, numbered as in the CSV `write_discovered_csv` writes (line 2 on)."""
        return tuple(ArtifactRef(i + 2, r.registry_ref, r.artifact, r.version, r.version_type, r.digest)
                     for i, r in enumerate(self.rows))


# ---------------------------------------------------------------- URLs (pure)

def parse_space_ref(value: str) -> str:
    """`account`, `account/org` or `account/org/project` (trailing `/+` dropped); else `har.ProtocolError`."""
    ref = har.strip_plus(value)
    segments = ref.split("/")
    if not ref or len(segments) > 3:
        raise har.ProtocolError(f"space {value!r} has {len(segments) if ref else 0} segments; expected 1 to 3 "
                                "(account, account/org or account/org/project)")
    bad = [seg for seg in segments if not har.REF_SEGMENT_RE.fullmatch(seg)]
    if bad:
        raise har.ProtocolError(f"space segment {bad[0]!r} is not a valid identifier")
    return ref


def _query(page: int, size: int, **extra: str) -> str:
    if page < 0:
        raise ValueError(f"page must be >= 0 (0-based), got {page}")
    if not 1 <= size <= PAGE_SIZE:
        raise ValueError(f"size must be 1 to {PAGE_SIZE}, got {size}")
    return urlencode({**extra, "page": page, "size": size})


def registries_url(base_url: str, space_ref: str, page: int, size: int = PAGE_SIZE) -> str:
    """`{base}/spaces/{space_ref}/+/registries?package_type=DOCKER&…&page=&size=` (API-NOTES §7.1)."""
    return (f"{base_url.rstrip('/')}/spaces/{har.strip_plus(space_ref)}/+/registries?"
            + _query(page, size, package_type="DOCKER", sort_field="identifier", sort_order="ASC"))


def artifacts_url(base_url: str, registry_ref: str, page: int, size: int = PAGE_SIZE) -> str:
    """`{base}/registry/{registry_ref}/+/artifacts?…&page=&size=` (API-NOTES §7.2)."""
    return (f"{base_url.rstrip('/')}/registry/{har.strip_plus(registry_ref)}/+/artifacts?"
            + _query(page, size, sort_field="name", sort_order="ASC"))


def tags_url(base_url: str, registry_ref: str, artifact: str, page: int, size: int = PAGE_SIZE) -> str:
    """`{base}/registry/{ref}/+/artifact/{artifact}/+/tags?page=&size=` (API-NOTES §7.3)."""
    return (f"{base_url.rstrip('/')}/registry/{har.strip_plus(registry_ref)}/+/artifact/"
            f"{har.strip_plus(artifact)}/+/tags?" + _query(page, size))


def versions_url(base_url: str, registry_ref: str, artifact: str, page: int, size: int = PAGE_SIZE) -> str:
    """`{base}/registry/{ref}/+/artifact/{artifact}/+/versions?sort_field=lastModified&…` (API-NOTES §7.4)."""
    return (f"{base_url.rstrip('/')}/registry/{har.strip_plus(registry_ref)}/+/artifact/"
            f"{har.strip_plus(artifact)}/+/versions?"
            + _query(page, size, sort_field="lastModified", sort_order="ASC"))


def registry_ref_of(space_ref: str, item: Mapping[str, Any]) -> str:
    """The registry_ref of one `data.registries[]` item (module docstring). Raises `har.ProtocolError`."""
    ident = item.get("identifier")
    if not isinstance(ident, str) or not ident:
        raise har.ProtocolError(f"registry item without an identifier: {reprlib.repr(item)}")
    path = item.get("path")
    if isinstance(path, str) and path.endswith("/" + ident):
        try:
            return har.parse_registry_ref(path)
        except har.ProtocolError:
            pass
    return har.parse_registry_ref(f"{space_ref}/{ident}")


# ---------------------------------------------------------------- listing

@dataclass
class _Listing:
    """The distinct items of one listing, by name; `error`/`status` when its first read failed."""

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
            item_count = _as_int(data.get("itemCount"), item_count)
            page_count = _as_int(data.get("pageCount"), None)
            if len(chunk) > self.size:  # the server ignored paging and sent the whole list
                break
            if (page + 1 >= page_count) if page_count is not None else len(chunk) < self.size:
                break
        else:
            return items, item_count, f"more than {MAX_PAGES} pages", None
        return items, item_count, None, None

    async def listing(self, url_of: Callable[[int], str], list_key: str, key: str, label: str,
                      what: str) -> _Listing:
        """Read until the distinct count reaches `itemCount`, at most `MAX_PASSES` reads (the union is kept)."""
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
                name = item.get(key)
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

    async def registries_of(self, space: str) -> tuple[list[str], list[str]]:
        """DOCKER registry_refs of one space (sorted) and warnings; `DiscoveryError` if the listing fails."""
        got = await self.listing(lambda p: registries_url(self.base, space, p, self.size), "registries",
                                 "identifier", f"space {space}", "registries")
        if got.error is not None:
            raise DiscoveryError(f"space {space}: listing registries failed: {got.error}", got.status)
        refs, notes = docker_registry_refs(space, got.items)
        return refs, got.warnings + notes

    async def registry(self, ref: str, *, first: bool) -> Found:
        label = f"registry {ref}"
        got = await self.listing(lambda p: artifacts_url(self.base, ref, p, self.size), "artifacts", "name",
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
                                     "ociArtifactTags", "name", label, "tags")
            if got.error is not None:
                return [], [f"{label}: listing tags failed: {got.error}; image skipped"]
            rows, tagged, notes = tag_rows(ref, name, got.items, self.tag_filter)
            if not self.include_untagged:
                return rows, got.warnings + notes
            more = await self.listing(lambda p: versions_url(self.base, ref, name, p, self.size),
                                      "artifactVersions", "name", label, "versions")
            if more.error is not None:
                return rows, got.warnings + notes + [
                    f"{label}: listing versions failed: {more.error}; untagged digests not listed"]
            extra, extra_notes = untagged_rows(ref, name, more.items, tagged)
            return rows + extra, got.warnings + notes + more.warnings + extra_notes


# ---------------------------------------------------------------- items -> rows (pure)

Items = Mapping[str, Mapping[str, Any]]  # distinct list items by name


def docker_registry_refs(space_ref: str, items: Items) -> tuple[list[str], list[str]]:
    """Sorted registry_refs of the DOCKER items of a registries listing, and warnings for bad items."""
    refs: set[str] = set()
    notes = []
    for item in items.values():
        if str(item.get("packageType", "DOCKER")).upper() != "DOCKER":
            continue
        try:
            refs.add(registry_ref_of(space_ref, item))
        except har.ProtocolError as exc:
            notes.append(f"space {space_ref}: registry skipped: {exc}")
    return sorted(refs), notes


def image_names(registry_ref: str, items: Items, image_filter: str | None) -> tuple[list[str], list[str]]:
    """Sorted valid image names that match `image_filter`, and warnings for invalid ones (API-NOTES §2)."""
    names, notes = [], []
    for raw in sorted(items):
        if not har.IMAGE_NAME_RE.fullmatch(raw):
            notes.append(f"registry {registry_ref}: image {raw!r} skipped: not a valid Docker image name")
        elif image_filter is None or fnmatchcase(raw, image_filter):
            names.append(raw)
    return names, notes


def tag_rows(registry_ref: str, artifact: str, items: Items,
             tag_filter: str | None) -> tuple[list[DiscoveredRow], set[str], list[str]]:
    """TAG rows of a tags listing (valid tag and digest, matching `tag_filter`), every valid tag's digest, warnings."""
    rows, tagged, notes = [], set(), []
    for tag, item in sorted(items.items()):
        digest = item.get("digest")
        try:
            har.check_tag(tag)
            har.check_digest(digest if isinstance(digest, str) else repr(digest))
        except har.ProtocolError as exc:
            notes.append(f"registry {registry_ref} image {artifact}: tag skipped: {exc}")
            continue
        tagged.add(digest)
        if tag_filter is None or fnmatchcase(tag, tag_filter):
            rows.append(DiscoveredRow(registry_ref, artifact, tag, VersionType.TAG.value, digest))
    return rows, tagged, notes


def untagged_rows(registry_ref: str, artifact: str, items: Items,
                  tagged: set[str]) -> tuple[list[DiscoveredRow], list[str]]:
    """DIGEST rows for versions named by a digest that is not in `tagged` and whose `metadata.tags` is empty."""
    rows, not_digests = [], 0
    for version, item in sorted(items.items()):
        if not har.DIGEST_RE.fullmatch(version):
            not_digests += 1
            continue
        meta = item.get("metadata")
        tags = meta.get("tags") if isinstance(meta, Mapping) else None
        if version not in tagged and not (isinstance(tags, list) and tags):
            rows.append(DiscoveredRow(registry_ref, artifact, version, VersionType.DIGEST.value, version))
    notes = [f"registry {registry_ref} image {artifact}: {not_digests} version(s) not named by a digest "
             "(no untagged-image support?); their untagged digests cannot be listed"] if not_digests else []
    return rows, notes


async def _gather(coros: list[Awaitable[Found]]) -> list[Found]:
    """Run concurrently; on the first failure cancel the rest and raise that failure itself."""
    try:
        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(c) for c in coros]
    except BaseExceptionGroup as eg:
        raise eg.exceptions[0] from None
    return [t.result() for t in tasks]


def _as_int(value: Any, default: int | None) -> int | None:
    ok = (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and value.isdigit())
    return int(value) if ok else default


# ---------------------------------------------------------------- entry points

async def discover(fetcher: Fetcher, *, registry_ref: str | None = None, space: str | None = None,
                   image_filter: str | None = None, tag_filter: str | None = None,
                   include_untagged: bool = False, page_size: int = PAGE_SIZE) -> Discovery:
    """Discover every (registry, image, tag, digest) of one registry or of one space's DOCKER registries.

    Exactly one of `registry_ref` (2-4 segments, `/+` accepted) and `space`
    (1-3 segments) must be given; `page_size` is the `size` sent (1-100).
    Opens its own session through `fetcher`. Raises `ValueError` (incl.
    `har.ProtocolError`) for bad arguments, `DiscoveryError` when discovery
    cannot go on (module docstring).
    """
    if (registry_ref is None) == (space is None):
        raise ValueError("give exactly one of registry_ref and space")
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
            refs, notes = await walker.registries_of(space_ref)
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
