"""Discovery list endpoints (API-NOTES §7): shapes, 0-based paging, unstable order, routing."""

from __future__ import annotations

import pytest


def get_list(raw_get, sb, path):
    resp = raw_get(sb.base_url + path, sb.api_key)
    assert resp.status == 200, resp.text
    body = resp.json()
    assert body["status"] == "SUCCESS"
    return body["data"]


def busiest_image(ds):
    readable = [i for i in ds.images if not ds.registry(i.registry_ref).forbidden]
    return max(readable, key=lambda i: (len(i.tags), i.name))


def registry_paths(raw_get, sb, space, query=""):
    data = get_list(raw_get, sb, f"/spaces/{space}/+/registries?page=0&size=100{query}")
    paths = [r["path"] for r in data["registries"]]
    assert data["itemCount"] == len(paths)
    return sorted(paths)


def refs_in(ds, *spaces, docker=False):
    return sorted(r.ref for r in ds.registries if r.space_ref in spaces and (not docker or r.package_type == "DOCKER"))


def test_registries_of_a_space_are_its_own_docker_registries(sandbox, raw_get):
    data = get_list(raw_get, sandbox, "/spaces/acme/+/registries?package_type=DOCKER&page=0&size=10")
    by_path = {r["path"]: r for r in data["registries"]}
    assert sorted(by_path) == ["acme/docker-hub", "acme/legacy-mirror"]  # a readable and a forbidden one
    assert by_path["acme/docker-hub"]["identifier"] == "docker-hub"
    assert by_path["acme/docker-hub"]["packageType"] == "DOCKER" and by_path["acme/docker-hub"]["url"]
    assert sandbox.dataset.registry("acme/legacy-mirror").forbidden
    project = get_list(raw_get, sandbox, "/spaces/acme/platform/payments/+/registries?package_type=DOCKER")
    assert [r["path"] for r in project["registries"]] == ["acme/platform/payments/payments-docker"]


def test_scope_none_ancestors_descendants(sandbox, raw_get):
    ds = sandbox.dataset
    every_space = [s.ref for s in ds.spaces]
    assert registry_paths(raw_get, sandbox, "acme", "&scope=descendants") == refs_in(ds, *every_space)
    assert registry_paths(raw_get, sandbox, "acme", "&scope=descendants&package_type=DOCKER") == refs_in(
        ds, *every_space, docker=True)
    assert registry_paths(raw_get, sandbox, "acme/platform", "&scope=descendants") == refs_in(
        ds, "acme/platform", "acme/platform/payments")
    assert registry_paths(raw_get, sandbox, "acme/platform", "&scope=none") == refs_in(ds, "acme/platform")
    assert registry_paths(raw_get, sandbox, "acme/platform") == refs_in(ds, "acme/platform")  # default: none
    assert registry_paths(raw_get, sandbox, "acme/platform/payments", "&scope=ancestors") == refs_in(
        ds, "acme", "acme/platform", "acme/platform/payments")
    assert registry_paths(raw_get, sandbox, "acme", "&scope=ancestors") == refs_in(ds, "acme")
    assert registry_paths(raw_get, sandbox, "acme/data/ml", "&scope=descendants") == ["acme/data/ml/ml-images"]


def test_deprecated_recursive_means_ancestors_and_scope_wins(sandbox, raw_get):
    ds = sandbox.dataset
    path, up = "acme/platform/payments", refs_in(ds, "acme", "acme/platform", "acme/platform/payments")
    assert registry_paths(raw_get, sandbox, path, "&recursive=true") == up
    assert registry_paths(raw_get, sandbox, "acme", "&recursive=true") == refs_in(ds, "acme")  # not the children
    assert registry_paths(raw_get, sandbox, path, "&recursive=false") == [f"{path}/payments-docker"]
    assert registry_paths(raw_get, sandbox, path, "&recursive=true&scope=none") == [f"{path}/payments-docker"]
    assert registry_paths(raw_get, sandbox, "acme/data", "&recursive=true&scope=descendants") == refs_in(
        ds, "acme/data", "acme/data/ml")


@pytest.mark.parametrize("query, word", [("scope=everything", "scope"), ("scope=Descendants", "scope"),
                                         ("recursive=yes", "recursive")])
def test_bad_scope_or_recursive_is_a_400_json_error(sandbox, raw_get, query, word):
    resp = raw_get(f"{sandbox.base_url}/spaces/acme/+/registries?{query}", sandbox.api_key)
    assert resp.status == 400 and resp.headers["Content-Type"].startswith("application/json")
    body = resp.json()
    assert body["code"] == "400" and word in body["message"] and "status" not in body
    unknown = raw_get(f"{sandbox.base_url}/spaces/nowhere/+/registries?{query}", sandbox.api_key)
    assert unknown.status == 400 and word in unknown.json()["message"]  # the parameter is checked first


def test_unknown_space_is_400_and_escaped_space_is_404(sandbox, raw_get):
    assert raw_get(sandbox.base_url + "/spaces/nope/+/registries", sandbox.api_key).status == 400
    escaped = raw_get(sandbox.base_url + "/spaces/acme%2Fplatform/+/registries", sandbox.api_key)
    assert escaped.status == 404 and escaped.text == "404 page not found"


def test_artifacts_of_a_registry_with_latest_version(sandbox, raw_get):
    ref = "acme/docker-hub"
    data = get_list(raw_get, sandbox, f"/registry/{ref}/+/artifacts?page=0&size=100")
    names = sorted(a["name"] for a in data["artifacts"])
    assert names == sorted(i.name for i in sandbox.dataset.images_in(ref))
    assert data["itemCount"] == len(names)
    for item in data["artifacts"]:
        image = sandbox.dataset.image(ref, item["name"])
        assert item["latestVersion"] in image.tags_of(image.latest.digest) + [image.latest.digest]


def test_tags_pages_are_zero_based_with_default_size_10(make_sandbox, raw_get):
    sb = make_sandbox(list_jitter=0)
    image = busiest_image(sb.dataset)
    path = f"/registry/{image.registry_ref}/+/artifact/{image.name}/+/tags"
    first = get_list(raw_get, sb, path)
    assert first["pageSize"] == 10 and first["pageIndex"] == 0
    assert first["itemCount"] == len(image.tags)
    assert first["pageCount"] == -(-len(image.tags) // 10)
    pages = [get_list(raw_get, sb, f"{path}?page={p}&size=3") for p in range(-(-len(image.tags) // 3))]
    seen = [(t["name"], t["digest"]) for page in pages for t in page["ociArtifactTags"]]
    assert seen == [(t.name, t.digest) for t in image.tags]  # stable order: exact cover
    beyond = get_list(raw_get, sb, f"{path}?page=99&size=3")
    assert beyond["ociArtifactTags"] == [] and beyond["pageIndex"] == 99


def test_unstable_order_repeats_or_misses_items_but_rereading_finds_all(make_sandbox, raw_get):
    sb = make_sandbox(list_jitter=50)
    image = busiest_image(sb.dataset)
    assert len(image.tags) >= 4
    path = f"/registry/{image.registry_ref}/+/artifact/{image.name}/+/tags"
    truth = {(t.name, t.digest) for t in image.tags}
    size = 2
    pages = -(-len(truth) // size)
    found: set[tuple[str, str]] = set()
    exact = []
    for _ in range(30):
        this_pass = [(t["name"], t["digest"]) for p in range(pages)
                     for t in get_list(raw_get, sb, f"{path}?page={p}&size={size}")["ociArtifactTags"]]
        assert len(this_pass) == len(truth)  # every page is full: LIMIT/OFFSET
        exact.append(sorted(this_pass) == sorted(truth))
        found |= set(this_pass)
        if found == truth and len(exact) >= 5:
            break
    assert found == truth, "re-reading never found every tag"
    assert not all(exact), "one pass over the pages should sometimes repeat or miss a tag"


def test_versions_name_is_the_digest_with_its_tags(sandbox, raw_get):
    image = busiest_image(sandbox.dataset)
    path = f"/registry/{image.registry_ref}/+/artifact/{image.name}/+/versions?page=0&size=100"
    data = get_list(raw_get, sandbox, path + "&sort_field=lastModified")
    by_name = {v["name"]: v["metadata"]["tags"] for v in data["artifactVersions"]}
    assert by_name == {m.digest: image.tags_of(m.digest) for m in image.manifests}


def test_versions_ignore_paging_without_sort_field(sandbox, raw_get):
    image = max(sandbox.dataset.images, key=lambda i: len(i.manifests))
    assert len(image.manifests) >= 2
    path = f"/registry/{image.registry_ref}/+/artifact/{image.name}/+/versions?page=0&size=1"
    assert len(get_list(raw_get, sandbox, path)["artifactVersions"]) == len(image.manifests)
    assert len(get_list(raw_get, sandbox, path + "&sort_field=lastModified")["artifactVersions"]) == 1


@pytest.mark.parametrize("suffix, status", [
    ("/registry/acme/nope/+/artifacts", 400),
    ("/registry/acme/security/restricted/+/artifacts", 403),
    ("/registry/acme/docker-hub/+/artifact/no-such/+/tags", 500),
    ("/registry/acme/docker-hub/+/artifacts/", 404),
    ("/registry/acme%2Fdocker-hub/+/artifacts", 404),
])
def test_list_errors_follow_the_details_rules(sandbox, raw_get, suffix, status):
    assert raw_get(sandbox.base_url + suffix, sandbox.api_key).status == status
