"""The details answer (API-NOTES §3, §4): TAG vs DIGEST fields and the value formats."""

from __future__ import annotations

import re

import pytest

from har_inventory.sandbox import detail_data, format_size, generate_dataset
from har_inventory.sandbox.dataset import ZERO_TIME_MS

UNKNOWN = "sha256:" + "0" * 64


def url(sb, ref, image, version, digest, vtype="TAG"):
    return (f"{sb.base_url}/registry/{ref}/+/artifact/{image}/+/version/{version}/docker/details"
            f"?digest={digest}&version_type={vtype}")


def tagged_image(ds, *, min_digests=1):
    """A readable image whose newest digest has two or more tags and at least `min_digests` digests."""
    for image in ds.images:
        if ds.registry(image.registry_ref).forbidden or len(image.manifests) < min_digests:
            continue
        if len(image.tags_of(image.latest.digest)) >= 2:
            return image
    raise AssertionError("data set has no such image")


@pytest.mark.parametrize("size, text", [
    (0, "0.00B"), (512, "512.00B"), (1023, "1023.00B"), (1024, "1.00KB"), (1536, "1.50KB"),
    (12_939_428, "12.34MB"), (5 << 30, "5.00GB"), (3 << 40, "3.00TB"),
])
def test_size_is_two_decimals_binary_units_no_space(size, text):
    assert format_size(size) == text


def test_tag_answer_takes_times_from_the_tag_and_size_from_the_digest(sandbox, raw_get):
    ds = sandbox.dataset
    image = tagged_image(ds)
    tag = image.tag(image.tags_of(image.latest.digest)[0])
    manifest = image.manifest(tag.digest)
    resp = raw_get(url(sandbox, image.registry_ref, image.name, tag.name, tag.digest), sandbox.api_key)
    assert resp.status == 200 and resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert body["status"] == "SUCCESS"
    data = body["data"]
    assert data["version"] == tag.name
    assert data["createdAt"] == str(tag.created_ms) and data["modifiedAt"] == str(tag.modified_ms)
    assert data["pullCommand"].endswith(f"/{image.name}:{tag.name}")
    assert data["pullCommandByDigest"].endswith(f"/{image.name}@{tag.digest}")
    assert data["size"] == format_size(manifest.size_bytes)
    assert data["downloadsCount"] == manifest.downloads
    assert data["registryPath"].endswith(f"/{image.name}/{tag.digest}")
    assert data["packageType"] == "DOCKER"
    assert data == detail_data(ds, image.registry_ref, image.name, tag.name, "TAG", tag.digest)


def test_digest_answer_ignores_version_and_lists_the_tags(sandbox, raw_get):
    ds = sandbox.dataset
    image = tagged_image(ds)
    digest = image.latest.digest
    resp = raw_get(url(sandbox, image.registry_ref, image.name, "anything-at-all", digest, "DIGEST"),
                   sandbox.api_key)
    data = resp.json()["data"]
    assert data["version"] == digest
    assert "pullCommand" not in data and data["pullCommandByDigest"].endswith("@" + digest)
    assert data["createdAt"] == data["modifiedAt"] == str(image.latest.created_ms)
    assert data["metadata"]["tags"] == image.tags_of(digest)
    assert len(data["metadata"]["tags"]) >= 2


def test_untagged_digest_has_empty_tag_list(sandbox, raw_get):
    readable = [(i, m) for i, m in sandbox.dataset.untagged
                if not sandbox.dataset.registry(i.registry_ref).forbidden]
    image, manifest = readable[0]
    resp = raw_get(url(sandbox, image.registry_ref, image.name, manifest.digest, manifest.digest, "DIGEST"),
                   sandbox.api_key)
    assert resp.status == 200
    assert resp.json()["data"]["metadata"]["tags"] == []


def test_tag_with_another_digest_silently_mixes_data(sandbox, raw_get):
    image = tagged_image(sandbox.dataset, min_digests=2)
    tag = image.tag(image.tags_of(image.latest.digest)[0])
    other = image.manifests[0]
    assert other.digest != tag.digest
    data = raw_get(url(sandbox, image.registry_ref, image.name, tag.name, other.digest), sandbox.api_key).json()["data"]
    assert data["version"] == tag.name
    assert data["size"] == format_size(other.size_bytes)
    assert data["registryPath"].endswith(other.digest)


def test_absent_version_type_runs_digest_branch_only_with_untagged_support(make_sandbox, raw_get):
    sb = make_sandbox()
    image = tagged_image(sb.dataset)
    tag = image.tags_of(image.latest.digest)[0]
    plain = (f"{sb.base_url}/registry/{image.registry_ref}/+/artifact/{image.name}/+/version/{tag}"
             f"/docker/details?digest={image.latest.digest}")
    assert raw_get(plain, sb.api_key).json()["data"]["version"] == image.latest.digest
    no_untagged = make_sandbox(untagged_support=False)
    plain = plain.replace(sb.base_url, no_untagged.base_url)
    assert raw_get(plain, sb.api_key).json()["data"]["version"] == tag
    digest_url = plain + "&version_type=DIGEST"
    assert raw_get(digest_url, sb.api_key).json()["data"]["version"] == tag


@pytest.mark.parametrize("what", ["artifact", "tag", "digest", "malformed digest"])
def test_unknown_things_are_500_json_saying_not_found(sandbox, raw_get, what):
    image = tagged_image(sandbox.dataset)
    tag = image.tags[0]
    name, version, digest = image.name, tag.name, tag.digest
    if what == "artifact":
        name = "no-such-image"
    elif what == "tag":
        version = "no-such-tag"
    elif what == "digest":
        digest = UNKNOWN
    else:
        digest = "sha256:1234"
    resp = raw_get(url(sandbox, image.registry_ref, name, version, digest), sandbox.api_key)
    assert resp.status == 500
    body = resp.json()
    assert body["code"] == "500" and "not found" in body["message"] and "status" not in body


def test_bad_version_type_is_400_json(sandbox, raw_get):
    image = tagged_image(sandbox.dataset)
    tag = image.tags[0]
    resp = raw_get(url(sandbox, image.registry_ref, image.name, tag.name, tag.digest, "LATEST"), sandbox.api_key)
    assert resp.status == 400 and resp.json()["code"] == "400"


def all_answers(ds):
    for image, m in ds.iter_manifests():
        if ds.registry(image.registry_ref).forbidden:
            continue
        yield detail_data(ds, image.registry_ref, image.name, m.digest, "DIGEST", m.digest)
        for t in image.tags:
            if t.digest == m.digest:
                yield detail_data(ds, image.registry_ref, image.name, t.name, "TAG", m.digest)


def test_every_answer_has_the_documented_formats():
    ds = generate_dataset()
    answers = list(all_answers(ds))
    for data in answers:
        assert {"imageName", "version", "packageType", "registryPath", "url"} <= data.keys()
        assert re.fullmatch(r"\d+\.\d\d(B|KB|MB|GB|TB)", data["size"])
        assert re.fullmatch(r"-?\d+", data["createdAt"]) and re.fullmatch(r"-?\d+", data["modifiedAt"])
        assert type(data["downloadsCount"]) is int and type(data["isQuarantined"]) is bool
        assert ("quarantineReason" in data) == data["isQuarantined"]
        assert None not in [v for k, v in data.items() if k != "pushedBy"]
    # the variety the client must cope with is really there in the default data set
    units = {re.sub(r"[\d.]", "", d["size"]) for d in answers}
    assert {"B", "KB", "MB", "GB"} <= units
    assert any(d["createdAt"] == str(ZERO_TIME_MS) for d in answers)
    assert any(d["isQuarantined"] for d in answers)
    pushed = [d.get("pushedBy", "absent") for d in answers]
    assert "absent" in pushed and None in pushed
    objects = [p for p in pushed if isinstance(p, dict)]
    assert any(len(p) == 4 for p in objects) and any(len(p) < 4 for p in objects)
    assert {p["type"] for p in objects if "type" in p} <= {"user", "service", "service_account"}
    extra = [d["metadata"] for d in answers if "org.opencontainers.image.source" in d.get("metadata", {})]
    assert extra and all(isinstance(m["build"], dict) for m in extra)
    known = {"imageName", "version", "packageType", "registryPath", "url", "size", "downloadsCount",
             "pullCommand", "pullCommandByDigest", "createdAt", "modifiedAt", "isQuarantined",
             "quarantineReason", "metadata", "pushedBy"}
    assert any(set(d) - known for d in answers)


def test_dataset_is_deterministic_per_seed():
    assert generate_dataset(7, 12) == generate_dataset(7, 12)
    assert generate_dataset(7, 12) != generate_dataset(8, 12)
    ds = generate_dataset(3, 30)
    assert len(ds.images) == 30
    levels = {ds.registry(i.registry_ref).level for i in ds.images}
    assert levels == {"account", "org", "project"}
    assert any("/" in i.name for i in ds.images) and any("/" not in i.name for i in ds.images)
    assert ds.untagged
