"""The sandbox's data set: registries, images, manifests (digests) and tags.

A frozen dataclass tree generated deterministically from `(seed, images)`:
the same pair always gives the same data, byte for byte, so a committed
input CSV (`inputs/sample.csv`) keeps matching the default sandbox.

Shape (API-NOTES §1, §3, §4):
- `Dataset.registries`: `Registry` at account (`acme/docker-hub`), org
  (`acme/platform/base-images`) and project (`acme/platform/payments/payments-docker`)
  level; one HELM registry (filtered out by `package_type=DOCKER`) and two
  registries the sandbox key is forbidden to read (403): `acme/security/restricted`
  (holds one image) and `acme/legacy-mirror`, an empty registry beside
  `acme/docker-hub`, so the account space alone lists a readable and a
  forbidden DOCKER registry. `acme/legacy-mirror` is a "late" registry
  (`LATE_REGISTRIES`): it takes no part in spreading images, so adding it left
  every image of every `(seed, images)`, and `inputs/sample.csv`, unchanged.
- `Dataset.images`: `Image` (name with or without `/`), each with
  `manifests` (one per digest: size in bytes, downloads, quarantine, pushed
  by, extra metadata) and `tags` (tag name -> digest, several tags per digest,
  some digests untagged).
- Times are epoch milliseconds (UTC); `ZERO_TIME_MS` is Go's zero time as the
  server prints it.
"""

from __future__ import annotations

import hashlib
from functools import cached_property
import random
from dataclasses import dataclass, field
from typing import Any, Iterator, Mapping

DEFAULT_SEED = 42
DEFAULT_IMAGES = 24
ACCOUNT = "acme"
PULL_HOST = "pkg.sandbox.invalid"
UI_HOST = "https://app.sandbox.invalid"
ZERO_TIME_MS = -62135596800000  # Go's time.Time{} in epoch ms (API-NOTES §4)

_T0_MS = 1640995200000  # 2022-01-01T00:00:00Z
_T1_MS = 1780272000000  # 2026-06-01T00:00:00Z

_NAME_POOL = (
    "web-app", "team/web-app", "api-gateway", "payments/ledger", "nginx",
    "tools/builder", "base/python", "ml/trainer", "redis", "auth-service",
    "data/etl-runner", "frontend", "billing/invoice-worker",
    "monitoring/prometheus-exporter", "search.indexer", "worker_queue",
    "base/node", "ml/feature-store", "cli", "team/batch/cron-runner",
)
_QUARANTINE_REASONS = (
    "CVE-2024-3094: critical vulnerability in xz-utils",
    "Blocked by policy: image is not signed",
    "CVE-2023-44487: HTTP/2 rapid reset (high)",
    "Quarantined manually by security team",
)
_PEOPLE = (
    ("jdoe", "J. Doe", "jdoe@example.com", "user"),
    ("asmith", "Alice Smith", "alice.smith@example.com", "user"),
    ("ci-bot", "CI Pipeline", "ci-bot@example.com", "service"),
    ("svc-release", "Release automation", "release@example.com", "service_account"),
)


@dataclass(frozen=True)
class Space:
    """An account, org or project: `ref` is `acc`, `acc/org` or `acc/org/proj`."""

    ref: str
    level: str  # "account" | "org" | "project"


@dataclass(frozen=True)
class Registry:
    """A registry: `ref` = `{space_ref}/{identifier}`; `forbidden` -> 403 for the sandbox key."""

    ref: str
    identifier: str
    space_ref: str
    level: str  # level of its space: "account" | "org" | "project"
    package_type: str = "DOCKER"
    forbidden: bool = False
    created_ms: int = _T0_MS


@dataclass(frozen=True)
class Manifest:
    """One digest of an image: what the details call takes from the digest (API-NOTES §3).

    `size_bytes` in bytes; `created_ms` epoch ms (may be `ZERO_TIME_MS`);
    `pushed_by_state` is "absent", "null" or "object" (then `pushed_by` holds
    the present keys of {uid, display_name, email, type}); `metadata_extra`
    is merged into `metadata`; `extra_fields` are unknown fields added to `data`.
    """

    digest: str
    size_bytes: int
    downloads: int
    created_ms: int
    quarantine_reason: str | None = None
    pushed_by_state: str = "absent"
    pushed_by: Mapping[str, str] = field(default_factory=dict)
    metadata_extra: Mapping[str, Any] = field(default_factory=dict)
    extra_fields: Mapping[str, Any] = field(default_factory=dict)

    @property
    def quarantined(self) -> bool:
        return self.quarantine_reason is not None


@dataclass(frozen=True)
class Tag:
    """A tag of an image; times in epoch ms (`created_ms` may be `ZERO_TIME_MS`)."""

    name: str
    digest: str
    created_ms: int
    modified_ms: int


@dataclass(frozen=True)
class Image:
    """An image (artifact) in one registry: manifests oldest first, tags in push order."""

    registry_ref: str
    name: str
    manifests: tuple[Manifest, ...]
    tags: tuple[Tag, ...]

    @property
    def tag_digests(self) -> dict[str, str]:
        """Tag name -> digest."""
        return {t.name: t.digest for t in self.tags}

    def tags_of(self, digest: str) -> list[str]:
        """Tag names pointing at `digest`, in push order (possibly empty: untagged)."""
        return [t.name for t in self.tags if t.digest == digest]

    def manifest(self, digest: str) -> Manifest | None:
        return next((m for m in self.manifests if m.digest == digest), None)

    def tag(self, name: str) -> Tag | None:
        return next((t for t in self.tags if t.name == name), None)

    @property
    def latest(self) -> Manifest:
        return self.manifests[-1]


@dataclass(frozen=True)
class Dataset:
    """The whole sandbox registry content; see the module docstring."""

    seed: int
    spaces: tuple[Space, ...]
    registries: tuple[Registry, ...]
    images: tuple[Image, ...]

    def registry(self, ref: str) -> Registry | None:
        return next((r for r in self.registries if r.ref == ref), None)

    def space(self, ref: str) -> Space | None:
        return next((s for s in self.spaces if s.ref == ref), None)

    @cached_property
    def _image_index(self) -> dict[tuple[str, str], Image]:
        return {(i.registry_ref, i.name): i for i in self.images}

    def image(self, registry_ref: str, name: str) -> Image | None:
        return self._image_index.get((registry_ref, name))

    def images_in(self, registry_ref: str) -> list[Image]:
        return [i for i in self.images if i.registry_ref == registry_ref]

    @property
    def tags(self) -> dict[tuple[str, str, str], str]:
        """(registry_ref, image, tag) -> digest, for every tag in the data set.

        Includes the forbidden registry's tags (`acme/security/restricted`,
        last in sorted order); `readable_tags` leaves them out.
        """
        return {(i.registry_ref, i.name, t.name): t.digest for i in self.images for t in i.tags}

    @property
    def readable_tags(self) -> dict[tuple[str, str, str], str]:
        """`tags` without those of forbidden registries (what answers 200)."""
        closed = {r.ref for r in self.registries if r.forbidden}
        return {k: v for k, v in self.tags.items() if k[0] not in closed}

    def iter_manifests(self) -> Iterator[tuple[Image, Manifest]]:
        for image in self.images:
            for m in image.manifests:
                yield image, m

    @property
    def untagged(self) -> list[tuple[Image, Manifest]]:
        """(image, manifest) pairs whose digest has no tag."""
        return [(i, m) for i, m in self.iter_manifests() if not i.tags_of(m.digest)]


def fake_digest(*parts: object) -> str:
    """A deterministic well-formed digest: `sha256:` + 64 hex of the joined parts."""
    return "sha256:" + hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


LATE_REGISTRIES = (f"{ACCOUNT}/legacy-mirror",)  # empty; outside the image spread (module docstring)


def _spaces_and_registries() -> tuple[tuple[Space, ...], tuple[Registry, ...]]:
    a = ACCOUNT
    spaces = (
        Space(a, "account"),
        Space(f"{a}/platform", "org"),
        Space(f"{a}/data", "org"),
        Space(f"{a}/security", "org"),
        Space(f"{a}/platform/payments", "project"),
        Space(f"{a}/data/ml", "project"),
    )
    level = {s.ref: s.level for s in spaces}

    def reg(space: str, ident: str, **kw: Any) -> Registry:
        return Registry(f"{space}/{ident}", ident, space, level[space], **kw)

    registries = (
        reg(a, "docker-hub", created_ms=_T0_MS + 86_400_000),
        reg(a, "helm-charts", package_type="HELM", created_ms=_T0_MS + 2 * 86_400_000),
        reg(f"{a}/platform", "base-images", created_ms=_T0_MS + 3 * 86_400_000),
        reg(f"{a}/security", "restricted", forbidden=True, created_ms=_T0_MS + 4 * 86_400_000),
        reg(f"{a}/platform/payments", "payments-docker", created_ms=_T0_MS + 5 * 86_400_000),
        reg(f"{a}/data/ml", "ml-images", created_ms=_T0_MS + 6 * 86_400_000),
        reg(a, "legacy-mirror", forbidden=True, created_ms=_T0_MS + 7 * 86_400_000),
    )
    return spaces, registries


def _pushed_by(rng: random.Random) -> tuple[str, dict[str, str]]:
    roll = rng.random()
    if roll < 0.30:
        return "absent", {}
    if roll < 0.45:
        return "null", {}
    uid, name, email, kind = rng.choice(_PEOPLE)
    full = {"uid": uid, "display_name": name, "email": email, "type": kind}
    if roll < 0.80:
        return "object", full
    keep = rng.sample(sorted(full), rng.randint(1, 3))
    return "object", {k: full[k] for k in sorted(keep)}


def _size(rng: random.Random, index: int) -> int:
    roll = rng.random()
    if index < 3:  # the first manifests cover B, KB and GB sizes whatever the seed
        return (512, rng.randint(1024, 900 * 1024), rng.randint(1 << 30, 6 << 30))[index]
    if roll < 0.05:
        return rng.choice((512, 0, 1000))
    if roll < 0.10:
        return rng.randint(1024, 900 * 1024)
    if roll < 0.15:
        return rng.randint(1 << 30, 6 << 30)
    return rng.randint(3 << 20, 900 << 20)


def _manifest(rng: random.Random, seed: int, reg: str, name: str, k: int, created: int,
              index: int) -> Manifest:
    state, pushed = _pushed_by(rng)
    extra_meta: dict[str, Any] = {}
    if rng.random() < 0.25:
        extra_meta = {
            "org.opencontainers.image.source": f"https://git.example.com/acme/{name}",
            "build": {"pipeline": f"build-{name.replace('/', '-')}", "run": rng.randint(1, 999)},
        }
    extra_fields: dict[str, Any] = {}
    if rng.random() < 0.3:
        extra_fields["scanStatus"] = rng.choice(("PASSED", "FAILED", "PENDING"))
    if rng.random() < 0.15:
        extra_fields["firewallMode"] = "ALLOW"
    return Manifest(
        digest=fake_digest(seed, reg, name, k),
        size_bytes=_size(rng, index),
        downloads=0 if rng.random() < 0.2 else rng.randint(1, 5000),
        created_ms=ZERO_TIME_MS if rng.random() < 0.04 else created,
        quarantine_reason=rng.choice(_QUARANTINE_REASONS) if rng.random() < 0.12 else None,
        pushed_by_state=state,
        pushed_by=pushed,
        metadata_extra=extra_meta,
        extra_fields=extra_fields,
    )


def _image(rng: random.Random, seed: int, reg: str, name: str, first_index: int) -> Image:
    n = rng.randint(1, 4)
    start = rng.randint(_T0_MS, _T1_MS - 400 * 86_400_000)
    times = sorted(start + rng.randint(0, 400 * 86_400_000) for _ in range(n))
    manifests = tuple(_manifest(rng, seed, reg, name, k, t, first_index + k) for k, t in enumerate(times))
    tags: list[Tag] = []
    major, minor, patch = rng.randint(0, 3), rng.randint(0, 9), 0
    prefix = "v" if rng.random() < 0.3 else ""
    for k, (m, t) in enumerate(zip(manifests, times)):
        newest = k == n - 1
        if not newest and rng.random() < 0.3:
            continue  # untagged digest
        patch += rng.randint(1, 3)
        names = [f"{prefix}{major}.{minor}.{patch}"]
        if rng.random() < 0.3:
            names.append(f"sha-{m.digest[7:14]}")
        if rng.random() < 0.15:
            names.append(f"{prefix}{major}.{minor}.{patch + 1}-rc.1")
        if newest:
            names.append("latest")
        for j, tag_name in enumerate(names):
            created = t + j * 1000 + rng.randint(0, 60_000)
            modified = created + (rng.randint(0, 86_400_000) if rng.random() < 0.5 else 0)
            if rng.random() < 0.03:
                created = ZERO_TIME_MS
            tags.append(Tag(tag_name, m.digest, created, modified))
    return Image(reg, name, manifests, tuple(tags))


def generate_dataset(seed: int = DEFAULT_SEED, images: int = DEFAULT_IMAGES) -> Dataset:
    """Build the data set for `(seed, images)`; `images` >= 1 images spread over the DOCKER registries.

    The forbidden registry gets one image (the first assigned); every other
    DOCKER registry gets at least one when `images` allows, except the
    `LATE_REGISTRIES`, which stay empty. Raises ValueError when `images` < 1.
    """
    if images < 1:
        raise ValueError(f"images must be >= 1, got {images}")
    rng = random.Random(seed)
    spaces, registries = _spaces_and_registries()
    docker = [r for r in registries if r.package_type == "DOCKER" and r.ref not in LATE_REGISTRIES]
    forbidden = [r for r in docker if r.forbidden]
    readable = [r for r in docker if not r.forbidden]
    targets = (forbidden + readable)[: min(images, len(docker))]
    while len(targets) < images:
        targets.append(readable[rng.randrange(len(readable))])
    pool = list(_NAME_POOL)
    rng.shuffle(pool)
    used: set[tuple[str, str]] = set()
    forbidden_ref = forbidden[0].ref if forbidden else None
    result: list[Image] = []
    readable_manifests = 0  # manifests of readable images so far: size specials go to the first ones
    for i, reg in enumerate(targets):
        name = pool[i % len(pool)]
        if i >= len(pool):
            name = f"{name}-{i // len(pool)}"
        while (reg.ref, name) in used:
            name += "-x"
        used.add((reg.ref, name))
        # size specials (B, KB, GB) go to the first readable manifests
        index = 10**6 if reg.forbidden else readable_manifests
        result.append(_image(rng, seed, reg.ref, name, index))
        if reg.ref != forbidden_ref:
            readable_manifests += len(result[-1].manifests)
    result.sort(key=lambda im: (im.registry_ref, im.name))
    return Dataset(seed, spaces, registries, tuple(result))
