"""Discovery: URL builders and item rules (discover_items) with literals; the whole walk against the sandbox over HTTP."""

from __future__ import annotations

import csv
from urllib.parse import parse_qs

import pytest

from har_inventory import discover as d
from har_inventory import discover_items as di
from har_inventory.discover import DiscoveredRow, DiscoveryError, run_discovery, write_discovered_csv
from har_inventory.fetch import FetchConfig
from har_inventory.har import ProtocolError
from har_inventory.inputs import read_input
from har_inventory.records import ArtifactRef

BASE = "https://app.harness.io/gateway/har/api/v1"
D1 = "sha256:" + "1" * 64
D2 = "sha256:" + "2" * 64
D3 = "sha256:" + "3" * 64


# ---------------------------------------------------------------- pure: URLs

def test_registries_url_at_account_org_and_project_level_with_scope():
    q = "package_type=DOCKER&sort_field=identifier&sort_order=ASC"
    assert di.registries_url(BASE, "acc", 0) == f"{BASE}/spaces/acc/+/registries?{q}&scope=none&page=0&size=100"
    assert di.registries_url(BASE + "/", "acc/org/+", 3, 25, "descendants") == (
        f"{BASE}/spaces/acc/org/+/registries?{q}&scope=descendants&page=3&size=25")
    assert di.registries_url(BASE, "acc/org/proj", 1, scope="descendants") == (
        f"{BASE}/spaces/acc/org/proj/+/registries?{q}&scope=descendants&page=1&size=100")
    for never in ("ancestors", "recursive", ""):  # ancestors are parent spaces: never what an audit wants
        with pytest.raises(ValueError):
            di.registries_url(BASE, "acc", 0, scope=never)


def test_artifacts_url_with_and_without_plus():
    want = f"{BASE}/registry/acc/org/proj/reg/+/artifacts?sort_field=name&sort_order=ASC&page=0&size=100"
    assert di.artifacts_url(BASE, "acc/org/proj/reg", 0) == want
    assert di.artifacts_url(BASE, "acc/org/proj/reg/+", 0) == want
    assert di.artifacts_url(BASE, "acc/reg", 7, 10) == (
        f"{BASE}/registry/acc/reg/+/artifacts?sort_field=name&sort_order=ASC&page=7&size=10")


def test_tags_and_versions_urls_keep_slashes_in_artifact_unescaped():
    assert di.tags_url(BASE, "acc/reg/+", "team/web-app", 0) == (
        f"{BASE}/registry/acc/reg/+/artifact/team/web-app/+/tags?page=0&size=100")
    assert di.tags_url(BASE, "acc/org/reg", "nginx/+", 2, 5) == (
        f"{BASE}/registry/acc/org/reg/+/artifact/nginx/+/tags?page=2&size=5")
    assert di.versions_url(BASE, "acc/org/proj/reg", "team/batch/cron-runner", 0) == (
        f"{BASE}/registry/acc/org/proj/reg/+/artifact/team/batch/cron-runner/+/versions"
        "?sort_field=lastModified&sort_order=ASC&page=0&size=100")


@pytest.mark.parametrize("page,size", [(-1, 10), (0, 0), (0, 101)])
def test_urls_refuse_negative_page_and_size_outside_1_to_100(page, size):
    with pytest.raises(ValueError):
        di.tags_url(BASE, "acc/reg", "app", page, size)


def test_parse_space_ref_levels_and_errors():
    assert di.parse_space_ref("acme") == "acme"
    assert di.parse_space_ref(" acme/platform/+ ") == "acme/platform"
    assert di.parse_space_ref("acme/platform/payments") == "acme/platform/payments"
    for bad in ("", "/+", "a/b/c/d", "acme//x", "acme/pl atform"):
        with pytest.raises(ProtocolError):
            di.parse_space_ref(bad)


@pytest.mark.parametrize("space, path, ref", [
    ("acc/org", None, "acc/org/reg"),  # no path: the listed space's own registry
    ("acc/org", "", "acc/org/reg"),
    ("acc/org", "reg", "acc/org/reg"),  # just the identifier
    ("acc", "acc/org/proj/reg", "acc/org/proj/reg"),  # a descendant's full path
    ("acc", "acc/org/proj/reg/+", "acc/org/proj/reg"),
    ("acc", "acc/org/proj/+/reg", "acc/org/proj/reg"),
    ("acc", "/acc/org/reg/", "acc/org/reg"),
    ("acc", "acc%2Forg%2Freg", "acc/org/reg"),
    ("acc", "org/proj/reg", "acc/org/proj/reg"),  # without the account
    ("acc/org", "proj/reg", "acc/org/proj/reg"),  # relative to the listed space
    ("acc/org", "org/reg", "acc/org/reg"),
    ("acc/org", "acc/org", "acc/org/reg"),  # the path of the registry's space
    ("acc", "acc/org/proj", "acc/org/proj/reg"),
])
def test_registry_ref_of_reads_path_in_every_form(space, path, ref):
    item = {"identifier": "reg"} if path is None else {"identifier": "reg", "path": path}
    assert di.registry_ref_of(space, item) == ref


@pytest.mark.parametrize("space, item", [
    ("acc", {"path": "acc/reg"}),  # no identifier
    ("acc", {"identifier": "bad id"}),
    ("acc/org", {"identifier": "reg", "path": "acc/other/reg"}),  # outside the listed space
    ("acc/org", {"identifier": "reg", "path": "acc/reg"}),  # an ancestor's registry
    ("acc", {"identifier": "reg", "path": "acc/a/b/c/reg"}),  # 5 segments
])
def test_registry_ref_of_refuses_items_it_cannot_place(space, item):
    with pytest.raises(ProtocolError):
        di.registry_ref_of(space, item)


# ---------------------------------------------------------------- pure: items -> rows

def test_docker_registry_refs_drop_other_package_types():
    items = {"docker": {"identifier": "docker", "packageType": "DOCKER"},
             "charts": {"identifier": "charts", "packageType": "HELM"},
             "bad": {"identifier": "no good"}}
    refs, notes = di.docker_registry_refs("acc/org", items)
    assert refs == ["acc/org/docker"]
    assert len(notes) == 1 and "'no good'" in notes[0]


def test_docker_registry_refs_are_distinct_by_ref_not_identifier():
    items = {"1": {"identifier": "docker", "path": "acc/org/docker"},
             "2": {"identifier": "docker", "path": "org/docker/+"},  # the same registry, another path form
             "3": {"identifier": "docker", "path": "acc/org/proj/docker"},  # same identifier, other project
             "4": {"identifier": "docker"}}
    assert di.docker_registry_refs("acc", items) == (["acc/docker", "acc/org/docker", "acc/org/proj/docker"], [])
    assert di.registry_key("acc", items["1"]) == di.registry_key("acc", items["2"]) == "acc/org/docker"


def test_image_names_skip_invalid_names_and_apply_the_glob():
    items = {n: {"name": n} for n in ("team/web-app", "nginx", "Bad/Name", "team/api", "x/../y")}
    assert di.image_names("acc/reg", items, None)[0] == ["nginx", "team/api", "team/web-app"]
    names, notes = di.image_names("acc/reg", items, "team/*")
    assert names == ["team/api", "team/web-app"]
    assert sorted(n.split("image ")[1].split(" skipped")[0] for n in notes) == ["'Bad/Name'", "'x/../y'"]


def test_tag_rows_validate_tag_and_digest_and_filter_by_tag():
    items = {"1.0.0": {"name": "1.0.0", "digest": D1}, "latest": {"name": "latest", "digest": D2},
             "-bad": {"name": "-bad", "digest": D3}, "1.0.1": {"name": "1.0.1", "digest": "sha256:abc"}}
    rows, tagged, notes = di.tag_rows("acc/reg", "team/app", items, "1.*")
    assert rows == [DiscoveredRow("acc/reg", "team/app", "1.0.0", "TAG", D1)]
    assert tagged == {D1, D2}  # the filter does not change which digests are tagged
    assert len(notes) == 2 and all(n.startswith("registry acc/reg image team/app: tag skipped") for n in notes)


def test_untagged_rows_need_a_digest_name_no_tag_and_empty_metadata_tags():
    items = {D1: {"name": D1, "metadata": {"tags": []}},
             D2: {"name": D2, "metadata": {"tags": ["v2"]}},
             D3: {"name": D3}}
    rows, notes = di.untagged_rows("acc/reg", "app", items, tagged={D3})
    assert rows == [DiscoveredRow("acc/reg", "app", D1, "DIGEST", D1)] and notes == []
    rows, notes = di.untagged_rows("acc/reg", "app", {"1.0": {"name": "1.0"}}, tagged=set())
    assert rows == [] and "not named by a digest" in notes[0]


# ---------------------------------------------------------------- against the sandbox

def cfg(sb, **kw) -> FetchConfig:
    base = dict(base_url=sb.base_url, api_key=sb.api_key, rate=2000.0, concurrency=8,
                backoff_base=0.001, backoff_max=0.01, timeout=5.0)
    base.update(kw)
    return FetchConfig(**base)


def readable(ds) -> set[str]:
    return {r.ref for r in ds.registries if r.package_type == "DOCKER" and not r.forbidden}


def tag_truth(ds, refs=None) -> set[DiscoveredRow]:
    refs = readable(ds) if refs is None else refs
    return {DiscoveredRow(i.registry_ref, i.name, t.name, "TAG", t.digest)
            for i in ds.images if i.registry_ref in refs for t in i.tags}


def untagged_truth(ds) -> set[DiscoveredRow]:
    return {DiscoveredRow(i.registry_ref, i.name, m.digest, "DIGEST", m.digest)
            for i, m in ds.untagged if i.registry_ref in readable(ds)}


def forbidden(ds) -> list[str]:
    return sorted(r.ref for r in ds.registries if r.package_type == "DOCKER" and r.forbidden)


def assert_403_warnings(warnings, refs):
    assert len(warnings) == len(refs)
    for ref, note in zip(refs, sorted(warnings)):
        assert note.startswith(f"registry {ref}: listing images failed: HTTP 403"), note


def test_whole_account_in_one_call_every_tag_once_despite_drifting_pages(make_sandbox):
    sb = make_sandbox(images=120, list_jitter=3)
    ds = sb.dataset
    assert {r.count("/") for r in readable(ds)} == {1, 2, 3}  # account, org and project registries
    result = run_discovery(cfg(sb, concurrency=1), space="acme", page_size=3)  # scope=descendants by default
    truth = tag_truth(ds)
    assert len(truth) > 300
    assert len(result.rows) == len(set(result.rows)) and set(result.rows) == truth
    assert result.registries == len(readable(ds)) + len(forbidden(ds)) == 6
    assert_403_warnings(result.warnings, forbidden(ds))
    lists = [r for r in sb.requests if not r.path.endswith("/docker/details")]
    assert len(lists) == len(sb.requests) and all("%" not in r.path for r in lists)
    queries = [parse_qs(r.query) for r in lists]
    assert all(q["size"] == ["3"] and int(q["page"][0]) >= 0 for q in queries)
    assert any(q["page"] == ["0"] for q in queries) and any(int(q["page"][0]) >= 5 for q in queries)
    spaces = [q for r, q in zip(lists, queries) if r.path.startswith("/gateway/har/api/v1/spaces/")]
    assert spaces and all(q["scope"] == ["descendants"] and "recursive" not in q for q in spaces)
    paths_read = [(r.path, r.query) for r in lists]
    assert len(paths_read) > len(set(paths_read)), "drift never made a listing short: nothing re-read"


def test_each_space_alone_with_scope_none_covers_the_account_once(make_sandbox):
    sb = make_sandbox(images=60, list_jitter=3)
    ds = sb.dataset
    found, warnings = [], []
    for space in ds.spaces:  # concurrency 1: the sandbox's drift replays identically
        result = run_discovery(cfg(sb, concurrency=1), space=space.ref, page_size=3, space_scope="none")
        assert {r.registry_ref.rsplit("/", 1)[0] for r in result.rows} <= {space.ref}
        found.extend(result.rows)
        warnings.extend(result.warnings)
    assert len(found) == len(set(found)) and set(found) == tag_truth(ds)
    assert_403_warnings(warnings, forbidden(ds))


def test_space_scope_none_gives_the_account_registries_only_with_a_403_warning(sandbox):
    ds = sandbox.dataset
    own = sorted(r.ref for r in ds.registries if r.space_ref == "acme" and r.package_type == "DOCKER")
    assert own == ["acme/docker-hub", "acme/legacy-mirror"] and forbidden(ds)[0] == "acme/legacy-mirror"
    result = run_discovery(cfg(sandbox), space="acme", space_scope="none")
    assert set(result.rows) == tag_truth(ds, {"acme/docker-hub"}) and result.rows
    assert (result.registries, result.images) == (2, len(ds.images_in("acme/docker-hub")))
    assert_403_warnings(result.warnings, ["acme/legacy-mirror"])
    listed = [parse_qs(r.query) for r in sandbox.requests if "/spaces/" in r.path]
    assert [q["scope"] for q in listed] == [["none"]]


def test_org_space_with_descendants_takes_its_projects_and_nothing_above(sandbox):
    ds = sandbox.dataset
    refs = {"acme/platform/base-images", "acme/platform/payments/payments-docker"}
    result = run_discovery(cfg(sandbox), space="acme/platform/+")
    assert set(result.rows) == tag_truth(ds, refs) and result.warnings == ()
    assert {r.registry_ref for r in result.rows} == refs and result.registries == 2
    walked = sorted(r.path for r in sandbox.requests if r.path.endswith("/+/artifacts"))
    assert walked == sorted(f"/gateway/har/api/v1/registry/{ref}/+/artifacts" for ref in refs)  # once each


def test_bad_space_scope_is_refused_before_any_request(sandbox):
    for bad in ("ancestors", "all", ""):
        with pytest.raises(ValueError, match="space_scope"):
            run_discovery(cfg(sandbox), space="acme", space_scope=bad)
    assert sandbox.requests == []


def test_listing_still_short_after_all_reads_is_a_warning_never_a_wrong_row(make_sandbox, monkeypatch):
    monkeypatch.setattr(d, "MAX_PASSES", 1)  # no second read: the drift leaves listings short
    sb = make_sandbox(images=120, list_jitter=3)
    ref = "acme/docker-hub"
    result = run_discovery(cfg(sb, concurrency=1), registry_ref=ref, page_size=3)
    truth = tag_truth(sb.dataset, {ref})
    assert set(result.rows) <= truth  # never an invented (tag, digest) pair
    short = [w for w in result.warnings if "after 1 read(s); some" in w]
    assert short and len(result.warnings) == len(short)
    missing_images = {i.name for i in sb.dataset.images_in(ref)} - {r.artifact for r in result.rows}
    partly = {r.artifact for r in truth - set(result.rows)} - missing_images
    assert partly, "the drift left no tags listing short"
    for name in partly:
        assert any(f"image {name}: " in w and "distinct tags of itemCount" in w for w in short), name
    if missing_images:
        assert any(w.startswith(f"registry {ref}: ") and "distinct images" in w for w in short)


def test_registry_ref_with_plus_gives_that_registry_only(sandbox):
    ds = sandbox.dataset
    ref = "acme/platform/payments/payments-docker"
    result = run_discovery(cfg(sandbox), registry_ref=ref + "/+")
    assert set(result.rows) == tag_truth(ds, {ref})
    assert list(result.rows) == sorted(result.rows, key=lambda r: (r.registry_ref, r.artifact, r.version))
    assert (result.registries, result.images) == (1, len(ds.images_in(ref)))
    assert result.requests == len(sandbox.requests) and result.warnings == ()


def test_image_and_tag_filters(sandbox):
    ds = sandbox.dataset
    ref = "acme/docker-hub"
    result = run_discovery(cfg(sandbox), registry_ref=ref, image_filter="*/*", tag_filter="latest")
    slashed = [i for i in ds.images_in(ref) if "/" in i.name]
    assert slashed and result.images == len(slashed)
    assert set(result.rows) == {DiscoveredRow(ref, i.name, "latest", "TAG", i.tag("latest").digest)
                                for i in slashed}
    tags_asked = {r.path for r in sandbox.requests if r.path.endswith("/tags")}
    assert len(tags_asked) == len(slashed)  # images filtered out are not listed at all


def test_include_untagged_adds_digest_rows_whatever_the_tag_filter(sandbox):
    ds = sandbox.dataset
    everything = run_discovery(cfg(sandbox), space="acme", include_untagged=True).rows
    untagged = untagged_truth(ds)
    assert untagged and set(everything) == tag_truth(ds) | untagged
    only_latest = run_discovery(cfg(sandbox), registry_ref="acme/docker-hub", tag_filter="latest",
                                include_untagged=True)
    hub = {r for r in untagged if r.registry_ref == "acme/docker-hub"}
    assert {r for r in only_latest.rows if r.version_type == "DIGEST"} == hub
    assert {r.version for r in only_latest.rows if r.version_type == "TAG"} == {"latest"}


def test_failing_image_listings_are_warnings_and_the_rest_still_come(make_sandbox):
    # Fault draws hash (seed, request, attempt): seed 5 fails some tag listings, not the first one.
    faults = dict(faults="503=0.2", seed=5, images=60)
    ref = "acme/platform/base-images"
    sb = make_sandbox(**faults)
    result = run_discovery(cfg(sb, max_attempts=1), registry_ref=ref)
    truth = tag_truth(sb.dataset, {ref})
    assert set(result.rows) < truth and result.rows
    missing = {r.artifact for r in truth - set(result.rows)}
    assert len(result.warnings) == len(missing) > 0
    for name in missing:
        assert any(f"image {name}: listing tags failed: HTTP 503" in w for w in result.warnings), name
    again = make_sandbox(**faults)
    retried = run_discovery(cfg(again), registry_ref=ref)  # the fetcher's retries ride the same faults out
    assert set(retried.rows) == truth and retried.warnings == ()
    assert retried.requests > len({(r.path, r.query) for r in again.requests})


def test_forbidden_registry_ref_and_unknown_space_raise(make_sandbox):
    sb = make_sandbox(forbidden=("acme/docker-hub",))
    with pytest.raises(DiscoveryError, match="acme/docker-hub") as err:
        run_discovery(cfg(sb), registry_ref="acme/docker-hub")
    assert err.value.status == 403
    with pytest.raises(DiscoveryError, match="space acme/nowhere") as err:
        run_discovery(cfg(sb), space="acme/nowhere")
    assert err.value.status == 400


def test_refused_key_raises_after_one_request(sandbox):
    with pytest.raises(DiscoveryError, match="401"):
        run_discovery(cfg(sandbox, api_key="pat.wrong"), space="acme")
    assert len(sandbox.requests) == 1


def test_written_csv_reads_back_as_the_same_refs(sandbox, tmp_path):
    result = run_discovery(cfg(sandbox), registry_ref="acme/data/ml/ml-images", include_untagged=True)
    assert {r.version_type for r in result.rows} == {"TAG", "DIGEST"}
    out = write_discovered_csv(result, tmp_path / "inputs" / "discovered.csv")
    assert sorted(p.name for p in out.parent.iterdir()) == ["discovered.csv"]  # no temp file left
    with out.open(encoding="utf-8", newline="") as fh:
        assert next(csv.reader(fh)) == ["registry_ref", "artifact", "version", "version_type", "digest"]
    table = read_input(out)
    assert all(isinstance(row, ArtifactRef) for row in table.rows)
    assert table.rows == result.refs()
    assert len(table.rows) == len(result.rows) > 0
