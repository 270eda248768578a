"""What the sandbox answers, as plain values: the details `data` object, list items, errors.

No HTTP here: `detail_data` returns the `data` dict of a 200 or raises
`ApiError(status, message)`; the app turns both into responses. Tests call
`detail_data` to know the exact expected values of a request.

Rules (API-NOTES §3, §4, §5):
- TAG: `version`, `createdAt`, `modifiedAt`, `pullCommand` come from the tag;
  `size`, `downloadsCount`, quarantine, pushed-by and metadata extras from the
  digest. The digest is NOT checked against the tag (mixed data on a wrong pair).
- DIGEST: `{version}` is ignored; `version` = digest, no `pullCommand`,
  `createdAt == modifiedAt`, `metadata = {"tags": [...]}` plus extras.
- `version_type` absent: DIGEST with untagged-image support, else TAG.
- Errors: bad or unknown registry 400; forbidden registry 403; bad
  `version_type` 400; unknown artifact, tag or digest and malformed digest 500
  with a "not found" message.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from .dataset import ACCOUNT, PULL_HOST, UI_HOST, Dataset, Image, Manifest, Registry

_DIGEST_RE = re.compile(r"sha256:[0-9a-f]{64}")
_REF_SEGMENT_RE = re.compile(r"[A-Za-z0-9_$][A-Za-z0-9_.$-]*")
_SIZE_UNITS = ("B", "KB", "MB", "GB", "TB")


class ApiError(Exception):
    """An error answer: HTTP `status` and the JSON error `message` (API-NOTES §5)."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status
        self.message = message

    def body(self) -> dict[str, Any]:
        """The JSON error body: `code` is a string, no `status` field (API-NOTES §5)."""
        return {"code": str(self.status), "message": self.message, "details": {}}


def format_size(size_bytes: int) -> str:
    """Bytes -> `"12.34MB"`: 1024 multiples, two decimals, no space (API-NOTES §4)."""
    value = float(size_bytes)
    unit = 0
    while value >= 1024 and unit < len(_SIZE_UNITS) - 1:
        value /= 1024
        unit += 1
    return f"{value:.2f}{_SIZE_UNITS[unit]}"


def check_registry_ref(ref: str) -> None:
    """Raise ApiError 400 unless `ref` has 2 to 4 well-formed segments (API-NOTES §1)."""
    segments = ref.split("/")
    if not 2 <= len(segments) <= 4 or not all(_REF_SEGMENT_RE.fullmatch(s) for s in segments):
        raise ApiError(400, f"invalid registry reference {ref!r}: expected account[/org[/project]]/registry")


def resolve_registry(dataset: Dataset, ref: str) -> Registry:
    """The readable registry for `ref`, or ApiError 400 (bad or unknown) / 403 (forbidden)."""
    check_registry_ref(ref)
    registry = dataset.registry(ref)
    if registry is None:
        raise ApiError(400, f"registry doesn't exist with this ref: {ref}")
    if registry.forbidden:
        raise ApiError(403, f"user is not authorized to access registry {ref}")
    return registry


def _resolve_image(dataset: Dataset, registry: Registry, artifact: str) -> Image:
    image = dataset.image(registry.ref, artifact)
    if image is None:
        raise ApiError(500, f"failed to get artifact {artifact}: not found")
    return image


def _resolve_manifest(image: Image, digest: str) -> Manifest:
    if not _DIGEST_RE.fullmatch(digest):
        raise ApiError(500, f"failed to get manifest: invalid digest {digest!r}: not found")
    manifest = image.manifest(digest)
    if manifest is None:
        raise ApiError(500, f"failed to get manifest for digest {digest}: not found")
    return manifest


def _space_path(registry: Registry) -> str:
    return registry.space_ref.removeprefix(ACCOUNT).lstrip("/")


def pull_ref(registry: Registry, image: str) -> str:
    """`pkg.sandbox.invalid/acme/docker-hub/team/web-app` (no tag, no digest)."""
    return f"{PULL_HOST}/{ACCOUNT}/{registry.identifier}/{image}"


def effective_version_type(version_type: str | None, untagged_support: bool) -> str:
    """TAG or DIGEST as the server runs it (API-NOTES §3); ApiError 400 for an unknown value."""
    if version_type in (None, ""):
        return "DIGEST" if untagged_support else "TAG"
    if version_type not in ("TAG", "DIGEST"):
        raise ApiError(400, f"invalid version_type {version_type!r}: expected TAG or DIGEST")
    return version_type if untagged_support else "TAG"


def detail_data(dataset: Dataset, registry_ref: str, artifact: str, version: str,
                version_type: str | None, digest: str, *, untagged_support: bool = True) -> dict[str, Any]:
    """The `data` object of a 200 from `…/docker/details` (module docstring), or ApiError.

    Arguments are the decoded path values (registry_ref and artifact without
    `/+`) and the query values; `version_type` None means absent.
    """
    registry = resolve_registry(dataset, registry_ref)
    vtype = effective_version_type(version_type, untagged_support)
    image = _resolve_image(dataset, registry, artifact)
    tag = None
    if vtype == "TAG":
        tag = image.tag(version)
        if tag is None:
            raise ApiError(500, f"failed to get tag {version}: not found")
    manifest = _resolve_manifest(image, digest)
    shown_version = tag.name if tag else manifest.digest
    ui_space = _space_path(registry)
    data: dict[str, Any] = {
        "imageName": image.name,
        "version": shown_version,
        "packageType": "DOCKER",
        "registryPath": f"{registry.identifier}/{image.name}/{manifest.digest}",
        "url": f"{UI_HOST}/ng/account/{ACCOUNT}/{ui_space + '/' if ui_space else ''}"
               f"registries/{registry.identifier}/artifacts/{image.name}/versions/{shown_version}",
        "size": format_size(manifest.size_bytes),
        "downloadsCount": manifest.downloads,
    }
    if tag is not None:
        data["pullCommand"] = f"docker pull {pull_ref(registry, image.name)}:{tag.name}"
    data["pullCommandByDigest"] = f"docker pull {pull_ref(registry, image.name)}@{manifest.digest}"
    if tag is not None:
        data["createdAt"] = str(tag.created_ms)
        data["modifiedAt"] = str(tag.modified_ms)
    else:
        data["createdAt"] = data["modifiedAt"] = str(manifest.created_ms)
    data["isQuarantined"] = manifest.quarantined
    if manifest.quarantined:
        data["quarantineReason"] = manifest.quarantine_reason
    if tag is None:
        data["metadata"] = {"tags": image.tags_of(manifest.digest), **manifest.metadata_extra}
    elif manifest.metadata_extra:
        data["metadata"] = dict(manifest.metadata_extra)
    if manifest.pushed_by_state == "null":
        data["pushedBy"] = None
    elif manifest.pushed_by_state == "object":
        data["pushedBy"] = dict(manifest.pushed_by)
    data.update(manifest.extra_fields)
    return data


# ---------------------------------------------------------------- list items (API-NOTES §7)

def registry_item(dataset: Dataset, registry: Registry) -> dict[str, Any]:
    """One `data.registries[]` entry; `path` is the registry_ref."""
    images = dataset.images_in(registry.ref)
    total = sum(m.size_bytes for i in images for m in i.manifests)
    return {
        "identifier": registry.identifier,
        "path": registry.ref,
        "url": f"https://{PULL_HOST}/{ACCOUNT}/{registry.identifier}",
        "packageType": registry.package_type,
        "type": "VIRTUAL",
        "isPublic": False,
        "uuid": f"reg-{hash_str(registry.ref) % 10**12:012d}",
        "artifactsCount": len(images),
        "downloadsCount": sum(m.downloads for i in images for m in i.manifests),
        "registrySize": format_size(total),
        "lastModified": str(registry.created_ms),
        "labels": [],
    }


def artifact_item(registry: Registry, image: Image) -> dict[str, Any]:
    """One `data.artifacts[]` entry; `latestVersion` is the newest digest's first tag."""
    tags = image.tags_of(image.latest.digest)
    return {
        "name": image.name,
        "registryIdentifier": registry.identifier,
        "registryPath": f"{registry.identifier}/{image.name}",
        "latestVersion": tags[0] if tags else image.latest.digest,
        "downloadsCount": sum(m.downloads for m in image.manifests),
        "lastModified": str(max(m.created_ms for m in image.manifests)),
        "isQuarantined": image.latest.quarantined,
        "isPublic": False,
        "packageType": "DOCKER",
        "labels": [],
        "uuid": f"art-{hash_str(registry.ref + '|' + image.name) % 10**12:012d}",
        "registryUUID": f"reg-{hash_str(registry.ref) % 10**12:012d}",
    }


def tag_items(image: Image) -> list[dict[str, Any]]:
    """`data.ociArtifactTags[]` entries: `{"name": tag, "digest": "sha256:…"}`."""
    return [{"name": t.name, "digest": t.digest} for t in image.tags]


def version_items(registry: Registry, image: Image) -> list[dict[str, Any]]:
    """`data.artifactVersions[]` entries (untagged support: `name` is the digest)."""
    out = []
    for m in image.manifests:
        item: dict[str, Any] = {
            "name": m.digest,
            "registryIdentifier": registry.identifier,
            "registryPath": f"{registry.identifier}/{image.name}/{m.digest}",
            "size": format_size(m.size_bytes),
            "downloadsCount": m.downloads,
            "digestCount": 1,
            "lastModified": str(m.created_ms),
            "isQuarantined": m.quarantined,
            "packageType": "DOCKER",
            "pullCommand": f"docker pull {pull_ref(registry, image.name)}@{m.digest}",
            "metadata": {"tags": image.tags_of(m.digest)},
        }
        if m.quarantined:
            item["quarantineReason"] = m.quarantine_reason
        out.append(item)
    return out


def hash_str(text: str) -> int:
    """A stable (not per-process salted) 63-bit hash of `text`."""
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "big") >> 1
