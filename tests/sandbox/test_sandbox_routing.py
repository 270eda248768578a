"""Sandbox routing (API-NOTES §2, §5): the /+ rewrite on the raw path and the error answers."""

from __future__ import annotations

import pytest

from har_inventory.sandbox.routing import Route, parse_path

B = "/gateway/har/api/v1"
D = "sha256:" + "ab" * 32


@pytest.mark.parametrize("path, route", [
    (f"{B}/registry/acc/reg/+/artifact/web/+/version/1.0/docker/details",
     Route("details", "acc/reg", "web", "1.0", B)),
    (f"{B}/registry/acc/org/proj/reg/+/artifact/team/web-app/+/version/{D}/docker/details",
     Route("details", "acc/org/proj/reg", "team/web-app", D, B)),
    (f"/har/api/v1/registry/acc/org/reg/+/artifact/web/version/1.0/docker/details",
     Route("details", "acc/org/reg", "web", "1.0", "/har/api/v1")),
    (f"{B}/registry/acc/reg/+/artifacts", Route("artifacts", "acc/reg", base=B)),
    (f"{B}/registry/acc/reg/+/artifact/team/web/+/tags", Route("tags", "acc/reg", "team/web", base=B)),
    (f"{B}/registry/acc/reg/+/artifact/web/versions", Route("versions", "acc/reg", "web", base=B)),
    (f"{B}/spaces/acc/org/+/registries", Route("registries", "acc/org", base=B)),
    (f"{B}/spaces/acc/registries", Route("registries", "acc", base=B)),
    # no /+ after the ref: the ref is one segment (the handler answers 400 bad ref)
    (f"{B}/registry/acc/artifact/web/version/1.0/docker/details", Route("details", "acc", "web", "1.0", B)),
])
def test_matched_paths_give_the_ref_artifact_and_version(path, route):
    assert parse_path(path) == route


@pytest.mark.parametrize("path", [
    f"{B}/registry/acc/reg/+/artifact/web/+/version/sha256%3Aab/docker/details",  # escaped ':'
    f"{B}/registry/acc%2Freg/+/artifact/web/+/version/1.0/docker/details",  # escaped '/'
    f"{B}/registry/acc/reg/%2B/artifact/web/+/version/1.0/docker/details",  # escaped '+'
    f"{B}/registry/acc/reg/+/artifact/web/+/version/1.0/docker/details/",  # trailing slash
    f"{B}/registry/acc/reg/+/artifact/team/web-app/version/1.0/docker/details",  # slash name without /+
    f"{B}/registry/acc/reg/artifact/web/+/version/1.0/docker/details",  # ref without /+
    f"{B}/registry/acc/reg/+/artifact/web/+/version/1.0/docker",
    f"/api/v1/registry/acc/reg/+/artifact/web/+/version/1.0/docker/details",  # unknown base
    f"{B}/spaces/acc/org/registries",
])
def test_unmatched_paths_are_the_routers_404(path):
    assert parse_path(path) is None


def details_url(sb, ref, image, version, digest=None, vtype="TAG", base=None):
    url = f"{base or sb.base_url}/registry/{ref}/+/artifact/{image}/+/version/{version}/docker/details"
    if digest is not None:
        url += f"?digest={digest}&version_type={vtype}"
    return url


def first_tag(sb, slash=False):
    for (ref, image, tag), digest in sorted(sb.dataset.readable_tags.items()):
        if ("/" in image) == slash:
            return ref, image, tag, digest
    raise AssertionError("no such tag")


def test_plain_plus_form_answers_200_under_both_base_paths(sandbox, raw_get):
    ref, image, tag, digest = first_tag(sandbox, slash=True)
    for base in (sandbox.base_url, sandbox.alt_base_url):
        resp = raw_get(details_url(sandbox, ref, image, tag, digest, base=base), sandbox.api_key)
        assert resp.status == 200
        assert resp.json()["data"]["imageName"] == image


def test_plain_artifact_may_omit_its_plus(sandbox, raw_get):
    ref, image, tag, digest = first_tag(sandbox, slash=False)
    url = f"{sandbox.base_url}/registry/{ref}/+/artifact/{image}/version/{tag}/docker/details?digest={digest}"
    resp = raw_get(url + "&version_type=TAG", sandbox.api_key)
    assert resp.status == 200 and resp.json()["data"]["version"] == tag


@pytest.mark.parametrize("mangle", [
    lambda u: u.replace("/version/", "/version/sha256%3A", 1),
    lambda u: u.replace("/+/artifact/", "/%2B/artifact/", 1),
    lambda u: u.replace("/docker/details?", "/docker/details/?", 1),
])
def test_escaped_or_trailing_slash_path_is_404_plain_text(sandbox, raw_get, mangle):
    ref, image, tag, digest = first_tag(sandbox)
    resp = raw_get(mangle(details_url(sandbox, ref, image, tag, digest)), sandbox.api_key)
    assert resp.status == 404
    assert resp.text == "404 page not found"
    assert resp.headers["Content-Type"].startswith("text/plain")


def test_digest_as_version_is_404_when_escaped_and_200_when_plain(sandbox, raw_get):
    ref, image, _, digest = first_tag(sandbox)
    plain = details_url(sandbox, ref, image, digest, digest, "DIGEST")
    escaped = details_url(sandbox, ref, image, digest.replace(":", "%3A"), digest, "DIGEST")
    assert raw_get(plain, sandbox.api_key).status == 200
    assert raw_get(escaped, sandbox.api_key).status == 404


@pytest.mark.parametrize("query", ["", "?version_type=TAG", "?digest=&version_type=TAG"])
def test_missing_or_empty_digest_is_400_plain_text(sandbox, raw_get, query):
    ref, image, tag, _ = first_tag(sandbox)
    resp = raw_get(details_url(sandbox, ref, image, tag) + query, sandbox.api_key)
    assert resp.status == 400
    assert resp.text == "Query argument digest is required, but not found"
    assert resp.headers["Content-Type"].startswith("text/plain")


@pytest.mark.parametrize("ref", ["acme/no-such-registry", "acme/platform/nope/nope", "acme/a/b/c/d"])
def test_unknown_or_bad_registry_is_400_json_error(sandbox, raw_get, ref):
    _, image, tag, digest = first_tag(sandbox)
    resp = raw_get(details_url(sandbox, ref, image, tag, digest), sandbox.api_key)
    assert resp.status == 400
    body = resp.json()
    assert body["code"] == "400" and body["message"] and "status" not in body
    assert body["details"] == {}


def test_one_segment_ref_without_plus_is_400(sandbox, raw_get):
    _, image, tag, digest = first_tag(sandbox)
    url = f"{sandbox.base_url}/registry/acme/artifact/{image}/version/{tag}/docker/details?digest={digest}"
    assert raw_get(url, sandbox.api_key).status == 400


@pytest.mark.parametrize("key", [None, "pat.sandbox.wrong", ""])
def test_wrong_or_missing_api_key_is_401_json(sandbox, raw_get, key):
    ref, image, tag, digest = first_tag(sandbox)
    resp = raw_get(details_url(sandbox, ref, image, tag, digest), key)
    assert resp.status == 401
    assert resp.json()["code"] == "401"
    assert sandbox.requests[-1].api_key_present is (key is not None)


def test_forbidden_registry_is_403_json(sandbox, raw_get):
    closed = [i for i in sandbox.dataset.images if sandbox.dataset.registry(i.registry_ref).forbidden]
    image = closed[0]
    tag = image.tags[0]
    resp = raw_get(details_url(sandbox, image.registry_ref, image.name, tag.name, tag.digest), sandbox.api_key)
    assert resp.status == 403
    assert resp.json()["code"] == "403"


def test_forbidden_option_makes_any_registry_403(make_sandbox, raw_get):
    probe = make_sandbox()
    ref, image, tag, digest = first_tag(probe)
    sb = make_sandbox(forbidden=(ref,))
    assert raw_get(details_url(sb, ref, image, tag, digest), sb.api_key).status == 403


def test_request_log_keeps_raw_path_query_and_status(sandbox, raw_get):
    ref, image, tag, digest = first_tag(sandbox)
    raw_get(details_url(sandbox, ref, image, tag, digest), sandbox.api_key)
    raw_get(details_url(sandbox, ref, image, tag + "%2E", digest), sandbox.api_key)
    ok, routed_404 = sandbox.requests[-2:]
    assert ok.status == 200 and ok.key == f"{ref}|{image}|{tag}|TAG|{digest}"
    assert ok.query == f"digest={digest}&version_type=TAG"
    assert routed_404.status == 404 and "%2E" in routed_404.path and routed_404.key is None
    assert [r.seq for r in sandbox.requests] == [1, 2]
