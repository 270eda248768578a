"""The HAR protocol rules (API-NOTES §1-§6), checked with literals: no network."""

from datetime import datetime, timedelta, timezone
from urllib.parse import urlencode

import pytest
from hypothesis import given, strategies as st

from har_inventory import har

D = "sha256:" + "ab" * 32
BASE = "https://app.harness.io/gateway/har/api/v1"


@pytest.mark.parametrize("ref, artifact, version, path", [
    ("acc/reg", "web", "1.0", "/registry/acc/reg/+/artifact/web/+/version/1.0/docker/details"),
    ("acc/reg/+", "web", "1.0", "/registry/acc/reg/+/artifact/web/+/version/1.0/docker/details"),
    ("acc/org/reg", "team/web-app", "v2", "/registry/acc/org/reg/+/artifact/team/web-app/+/version/v2/docker/details"),
    ("acc/org/reg/+", "team/web-app/+", "v2",
     "/registry/acc/org/reg/+/artifact/team/web-app/+/version/v2/docker/details"),
    ("acc/org/proj/reg", "a/b/c", D, f"/registry/acc/org/proj/reg/+/artifact/a/b/c/+/version/{D}/docker/details"),
    ("acc/org/proj/reg/+", "plain", D, f"/registry/acc/org/proj/reg/+/artifact/plain/+/version/{D}/docker/details"),
])
def test_details_path_is_plain_plus_form(ref, artifact, version, path):
    assert har.details_path(ref, artifact, version) == path
    assert "%" not in path and not path.endswith("/")


def test_details_url_keeps_colon_in_path_and_encodes_query():
    url = har.details_url(BASE + "/", "acc/reg", "web", D, D, "DIGEST")
    path, query = url.split("?")
    assert path == f"{BASE}/registry/acc/reg/+/artifact/web/+/version/{D}/docker/details"
    assert query == "digest=sha256%3A" + "ab" * 32 + "&version_type=DIGEST"


@pytest.mark.parametrize("value, expected", [
    ("acc/reg", "acc/reg"), ("acc/org/reg/+", "acc/org/reg"), (" acc/o/p/r/+ ", "acc/o/p/r"),
])
def test_parse_registry_ref_accepts_two_to_four_segments(value, expected):
    assert har.parse_registry_ref(value) == expected


@pytest.mark.parametrize("value", ["acc", "a/b/c/d/e", "acc//reg", "acc/re g", "acc/r%2Fg", ""])
def test_parse_registry_ref_refuses(value):
    with pytest.raises(har.ProtocolError):
        har.parse_registry_ref(value)


@pytest.mark.parametrize("name, ok", [
    ("web", True), ("team/web-app", True), ("a.b_c/d", True), ("Web", False), ("a..b", False),
    ("/web", False), ("web app", False), ("web/", False), ("we%2Fb", False),
])
def test_image_name_grammar(name, ok):
    if ok:
        assert har.check_artifact(name) == name
    else:
        with pytest.raises(har.ProtocolError):
            har.check_artifact(name)


def test_tag_and_digest_grammar():
    assert har.check_tag("1.4.2") == "1.4.2"
    for bad in (".x", "-x", "a" * 129, "a:b", "a/b"):
        with pytest.raises(har.ProtocolError):
            har.check_tag(bad)
    assert har.check_digest(D) == D
    for bad in ("sha256:" + "AB" * 32, "sha256:abc", "sha512:" + "ab" * 32):
        with pytest.raises(har.ProtocolError):
            har.check_digest(bad)


def test_default_version_type():
    assert har.default_version_type(D) == "DIGEST"
    assert har.default_version_type("1.0") == "TAG"


def test_classify_ok_keeps_data_and_ignores_unknown_fields():
    body = b'{"status":"SUCCESS","data":{"imageName":"web","version":"1","brandNew":1}}'
    d = har.classify(200, {"Content-Type": "application/json"}, body)
    assert d.outcome == har.Outcome.OK and d.data["brandNew"] == 1


@pytest.mark.parametrize("status, ctype, body, outcome, message", [
    (500, "application/json", b'{"code":"500","message":"failed: artifact not found","details":{}}',
     har.Outcome.NOT_FOUND, "failed: artifact not found"),
    (500, "application/json", b'{"code":"500","message":"db exploded"}', har.Outcome.RETRY, "db exploded"),
    (404, "text/plain", b"404 page not found", har.Outcome.BAD_REQUEST, "route not matched: 404 page not found"),
    (404, "application/json", b'{"code":"404","message":"tag not found"}', har.Outcome.NOT_FOUND, "tag not found"),
    (400, "text/plain", b"Query argument digest is required, but not found", har.Outcome.BAD_REQUEST,
     "Query argument digest is required, but not found"),
    (401, "text/html", b"<html><head><title>Unauthorized</title></head><body>x</body></html>",
     har.Outcome.UNAUTHORIZED, "Unauthorized"),
    (403, "application/json", b'{"code":"403","message":"forbidden"}', har.Outcome.FORBIDDEN, "forbidden"),
    (429, "text/html", b"<html><body><h1>Too Many Requests</h1></body></html>", har.Outcome.RETRY,
     "Too Many Requests"),
    (502, "text/html", b"<html><title>502 Bad Gateway</title></html>", har.Outcome.RETRY, "502 Bad Gateway"),
    (503, "application/json", b'{"code":"503","message":"service unavailable"}', har.Outcome.RETRY,
     "service unavailable"),
    (504, "", b"", har.Outcome.RETRY, "HTTP 504"),
])
def test_classify_errors(status, ctype, body, outcome, message):
    d = har.classify(status, {"content-type": ctype}, body)
    assert (d.outcome, d.message) == (outcome, message)


@pytest.mark.parametrize("body, ctype", [(b'{"status":"SUCCESS","data":{"imag', "application/json"),
                                         (b"<html>maintenance</html>", "text/html"),
                                         (b'{"status":"SUCCESS"}', "application/json"),
                                         (b'{"data":{"x":' + b"[" * 1500 + b"]" * 1500 + b"}}", "application/json")])
def test_classify_bad_200_is_retryable(body, ctype):
    assert har.classify(200, {"Content-Type": ctype}, body).outcome == har.Outcome.RETRY


def test_retry_after_seconds_and_http_date():
    now = datetime(2026, 11, 29, 12, 0, 0, tzinfo=timezone.utc)
    assert har.retry_after_seconds({"Retry-After": "7"}, now) == 7.0
    assert har.retry_after_seconds({"retry-after": "Sun, 29 Nov 2026 12:00:30 GMT"}, now) == 30.0
    assert har.retry_after_seconds({"Retry-After": "Sun, 29 Nov 2026 11:00:00 GMT"}, now) == 0.0
    assert har.retry_after_seconds({"Retry-After": "soon"}, now) is None
    assert har.retry_after_seconds({}, now) is None


@pytest.mark.parametrize("text, size", [
    ("512.00B", 512), ("1.00KB", 1024), ("12.34MB", round(12.34 * 1024 ** 2)), ("12.34 MB", round(12.34 * 1024 ** 2)),
    ("2.00GB", 2 * 1024 ** 3), ("1.50TB", round(1.5 * 1024 ** 4)), ("", None), ("lots", None), (None, None), (42, 42),
])
def test_parse_size_uses_1024_multiples(text, size):
    assert har.parse_size(text) == size


def test_epoch_ms():
    ms = har.epoch_ms("1718001234567")
    assert datetime(1970, 1, 1, tzinfo=timezone.utc) + timedelta(milliseconds=ms) == \
        datetime(2024, 6, 10, 6, 33, 54, 567000, tzinfo=timezone.utc)
    assert har.epoch_ms(" 1718001234567 ") == har.epoch_ms(1718001234567) == 1718001234567
    assert har.epoch_ms("253402300799999") == 253402300799999  # 9999-12-31T23:59:59.999Z
    for never in ("-62135596800000", "0", "253402300800000", "garbage", "", None, True, 1.7e12):
        assert har.epoch_ms(never) is None, never


def test_error_message_never_raises_and_is_short():
    assert len(har.error_message(b"x" * 5000)) == 200
    deep = b'{"message": ' + b"[" * 3000 + b"]" * 3000 + b"}"  # json.loads alone: RecursionError
    assert har.error_message(deep, "application/json").startswith('{"message": [[[')
    assert har.error_message(b"\xff\xfe junk") != ""
    assert har.error_message(b'{"code":"500"}') == "500"



@given(digest=st.one_of(st.just(D), st.text(max_size=80)),
       version_type=st.one_of(st.sampled_from(["TAG", "DIGEST"]), st.text(max_size=20)))
def test_details_query_is_encoded_exactly_as_urlencode_does(digest, version_type):
    url = har.details_url(BASE, "acc/reg", "web", "v1", digest, version_type)
    assert url.split("?", 1)[1] == urlencode(har.details_query(digest, version_type))
