"""Discovery's pure half: list URLs, refs and the rules that turn list items into rows (no I/O).

`discover.py` walks the list endpoints (API-NOTES §7) and hands each
listing's items to the functions here; everything here takes and returns
plain values, so every rule is tested with literals.

URLs (base URL and plain `/+` path form as for the details call, API-NOTES
§1-§2: never a percent-escape in the path; `page` 0-based, `size` 1 to
`PAGE_SIZE`, always sent, §7):

- `registries_url`: `{base}/spaces/{space_ref}/+/registries?package_type=DOCKER&…&scope=`
  -> `data.registries[]` `{identifier, packageType, path?}`. `scope` (spec
  `scopeParam`): `none` = that space's own registries, `descendants` = plus
  those of every org and project below it. The deprecated `recursive=true`
  means `ancestors` (parent spaces, not child ones) and is never sent.
- `artifacts_url`: `{base}/registry/{registry_ref}/+/artifacts` -> `data.artifacts[]` `{name}`.
- `tags_url`: `…/+/artifact/{artifact}/+/tags` -> `data.ociArtifactTags[]` `{name, digest}`.
- `versions_url`: `…/+/artifact/{artifact}/+/versions?sort_field=lastModified`
  (the open-source server pages only with it) -> `data.artifactVersions[]`
  `{name, metadata.tags}`; with untagged-image support `name` is the digest.

Registry refs (`registry_ref_of`): a registry found through `descendants`
lives in a child space, so its `path` names it; the Harness CLI uses `path`
as the registry_ref. `path` is read leniently: percent-escapes decoded,
empty and `+` segments dropped (`acc/org/reg/+`, `acc/org/+/reg`,
`acc%2Forg%2Freg`), and the account added when it is missing
(`org/reg` -> `acc/org/reg`); a `path` that starts with the account is
read as absolute. A `path` whose last segment is not the `identifier` is
taken as the path of the registry's space. The result must lie in the
listed space's subtree; a `path` without the account that does not is read
relative to the listed space (`proj/reg` listed from `acc/org`). A missing
`path`, or one that is just the identifier, gives `{space_ref}/{identifier}`. A `path` that fits none of these is an
error (the registry is skipped with a warning, never guessed).
"""

from __future__ import annotations

import reprlib
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, Mapping
from urllib.parse import unquote, urlencode

from har_inventory import har
from har_inventory.records import ArtifactRef, VersionType

PAGE_SIZE = 100  # items per page; the server's default is 10, its maximum is not documented
CSV_HEADER = ("registry_ref", "artifact", "version", "version_type", "digest")
SPACE_SCOPES = ("descendants", "none")  # `scope` values discovery sends; the first is the default


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
    in discovery order. `registries`: distinct DOCKER registries listed (by
    registry_ref); `images`: images (after `image_filter`) whose tags were listed.
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


# ---------------------------------------------------------------- URLs

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


def registries_url(base_url: str, space_ref: str, page: int, size: int = PAGE_SIZE,
                   scope: str = "none") -> str:
    """`{base}/spaces/{space_ref}/+/registries?package_type=DOCKER&…&scope=&page=&size=` (API-NOTES §7.1).

    `scope`: one of `SPACE_SCOPES` (module docstring); else `ValueError`.
    """
    if scope not in SPACE_SCOPES:
        raise ValueError(f"scope must be one of {', '.join(SPACE_SCOPES)}, got {scope!r}")
    return (f"{base_url.rstrip('/')}/spaces/{har.strip_plus(space_ref)}/+/registries?"
            + _query(page, size, package_type="DOCKER", sort_field="identifier", sort_order="ASC", scope=scope))


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


# ---------------------------------------------------------------- registry refs

def registry_ref_of(space_ref: str, item: Mapping[str, Any]) -> str:
    """The registry_ref of one `data.registries[]` item of a listing of `space_ref` (module docstring).

    Raises `har.ProtocolError` for an item without an identifier, or whose
    `path` cannot be read as a registry in `space_ref`'s subtree.
    """
    ident = item.get("identifier")
    if not isinstance(ident, str) or not ident:
        raise har.ProtocolError(f"registry item without an identifier: {reprlib.repr(item)}")
    own = f"{space_ref}/{ident}"
    path = item.get("path")
    segments = [s.strip() for s in unquote(path).split("/")] if isinstance(path, str) else []
    segments = [s for s in segments if s and s != "+"]
    if segments and segments[-1] != ident:
        segments.append(ident)  # the path of the registry's space
    if len(segments) <= 1:
        return har.parse_registry_ref(own)
    account = space_ref.split("/")[0]
    joined = "/".join(segments)
    candidates = [joined] if segments[0] == account else [f"{account}/{joined}", f"{space_ref}/{joined}"]
    for ref in candidates:
        if ref.startswith(space_ref + "/"):
            try:
                return har.parse_registry_ref(ref)
            except har.ProtocolError:
                continue
    raise har.ProtocolError(f"registry {ident!r}: path {path!r} is not a registry in space {space_ref}")


def registry_key(space_ref: str, item: Mapping[str, Any]) -> str:
    """The key a registries listing de-duplicates on: the registry_ref, or the item's text when it has none."""
    try:
        return registry_ref_of(space_ref, item)
    except har.ProtocolError:
        return reprlib.repr(dict(item))


# ---------------------------------------------------------------- items -> rows

Items = Mapping[str, Mapping[str, Any]]  # distinct list items by key (name, or registry_ref)


def docker_registry_refs(space_ref: str, items: Items) -> tuple[list[str], list[str]]:
    """Sorted distinct registry_refs of the DOCKER items of a registries listing, and warnings for bad items.

    Items without `packageType` count as DOCKER (older servers); others are
    dropped (older servers ignore `package_type`).
    """
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


def as_int(value: Any, default: int | None) -> int | None:
    """A JSON int, or a string of digits, as int; else `default` (bools are not ints here)."""
    ok = (isinstance(value, int) and not isinstance(value, bool)) or (isinstance(value, str) and value.isdigit())
    return int(value) if ok else default
