"""normalize.py: FetchResults + input rows -> the schema's DataFrame, from realistic literals (API-NOTES §4)."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pandas as pd
import pytest

from har_inventory import schema
from har_inventory.normalize import metadata_keys, metadata_kinds, normalize
from har_inventory.records import ArtifactRef, FetchResult, InvalidRow, Status

D1 = "sha256:" + "a" * 64
D2 = "sha256:" + "b" * 64
WHEN = datetime(2026, 3, 1, 12, 0, 0, 123000, tzinfo=timezone.utc)

TAG_ROW = ArtifactRef(2, "acc/org/proj/reg", "team/web-app", "1.4.2", "TAG", D1)
DIGEST_ROW = ArtifactRef(3, "acc/reg", "base", D2, "DIGEST", D2)
TAG_DATA = {  # SaaS answer in TAG mode, with a field this client does not know
    "imageName": "team/web-app", "version": "1.4.2", "packageType": "DOCKER",
    "registryPath": f"reg/team/web-app/{D1}", "url": "https://app.harness.io/ng/x/team/web-app/1.4.2",
    "size": "12.34MB", "downloadsCount": 17,
    "pullCommand": "docker pull pkg.harness.io/acc/reg/team/web-app:1.4.2",
    "pullCommandByDigest": f"docker pull pkg.harness.io/acc/reg/team/web-app@{D1}",
    "createdAt": "1718001234567", "modifiedAt": "1718001299999",
    "isQuarantined": True, "quarantineReason": "CVE-2024-0001 critical",
    "metadata": {"org.opencontainers.image.source": "https://github.com/x/y",
                 "build": {"number": 7, "ci": "gha"}, "layers": 5},
    "pushedBy": {"uid": "jdoe", "display_name": "J. Doe", "email": "jdoe@example.com", "type": "user"},
    "someNewField": {"x": 1},
}
DIGEST_DATA = {  # open-source server in DIGEST mode: no pullCommand, zero time, no pushedBy
    "imageName": "base", "version": D2, "packageType": "DOCKER", "registryPath": f"reg/base/{D2}",
    "url": "https://h/base", "size": "12.34 MB", "downloadsCount": 0,
    "pullCommandByDigest": f"docker pull h/acc/reg/base@{D2}",
    "createdAt": "-62135596800000", "modifiedAt": "-62135596800000",
    "isQuarantined": False, "metadata": {"tags": ["1.0", "latest"], "layers": 2.5},
}


def ok(row, data):
    return FetchResult(row.key, Status.OK, 200, None, 1, WHEN, data)


def test_tag_and_digest_rows_realistic_values():
    results = {TAG_ROW.key: ok(TAG_ROW, TAG_DATA), DIGEST_ROW.key: ok(DIGEST_ROW, DIGEST_DATA)}
    df = normalize([TAG_ROW, DIGEST_ROW], results)
    t, d = df.iloc[0], df.iloc[1]
    assert t["line"] == 2 and t["status"] == "ok" and t["version"] == "1.4.2"
    assert t["size"] == "12.34MB" and t["size_bytes"] == round(12.34 * 1024 ** 2)
    assert d["size_bytes"] == round(12.34 * 1024 ** 2)  # "12.34 MB" with a space
    assert t["created_at"] == pd.Timestamp("2024-06-10T06:33:54.567Z")
    assert pd.isna(d["created_at"]) and pd.isna(d["modified_at"])  # -62135596800000: unknown
    assert t["fetched_at"] == pd.Timestamp(WHEN)
    assert t["is_quarantined"] is True or t["is_quarantined"] == True  # noqa: E712
    assert t["quarantine_reason"] == "CVE-2024-0001 critical"
    assert (t["pushed_by_uid"], t["pushed_by_display_name"], t["pushed_by_email"], t["pushed_by_type"]) == \
        ("jdoe", "J. Doe", "jdoe@example.com", "user")
    assert pd.isna(d["pushed_by_uid"]) and pd.isna(d["pull_command"])
    assert d["version"] == D2 and d["version_type"] == "DIGEST"
    # tags: DIGEST mode list kept; TAG mode without metadata.tags -> missing, not []
    assert d["tags"] == ["1.0", "latest"] and t["tags"] is None
    # metadata: compact sorted JSON keeps everything; columns per other key
    assert json.loads(t["metadata_json"]) == TAG_DATA["metadata"]
    assert t["metadata_json"].startswith('{"build":{"ci":"gha","number":7},"layers":5,')
    assert t["metadata_org_opencontainers_image_source"] == "https://github.com/x/y"
    assert t["metadata_build"] == '{"ci":"gha","number":7}'
    assert df["metadata_layers"].dtype == "Float64"  # 5 and 2.5: numbers stay numbers
    assert list(df["metadata_layers"]) == [5.0, 2.5]
    assert "someNewField" not in " ".join(df.columns)


def test_dtypes_match_schema_with_zero_rows():
    df = normalize([], {})
    assert list(df.columns) == list(schema.BASE_NAMES)
    assert {c: str(t) for c, t in df.dtypes.items()} == {c.name: c.pandas_dtype for c in schema.BASE_COLUMNS}


def test_dtypes_match_schema_when_nothing_succeeded():
    rows = [TAG_ROW, DIGEST_ROW, InvalidRow(4, "digest 'sha1:x' is not sha256", {"artifact": "web", "digest": "sha1:x"})]
    results = {
        TAG_ROW.key: FetchResult(TAG_ROW.key, Status.NOT_FOUND, 500, "artifact not found", 1, WHEN),
        DIGEST_ROW.key: FetchResult(DIGEST_ROW.key, Status.FAILED, None, "timeout after 5 attempts", 5, WHEN),
    }
    df = normalize(rows, results)
    assert {c: str(t) for c, t in df.dtypes.items()} == {c.name: c.pandas_dtype for c in schema.BASE_COLUMNS}
    assert list(df["status"]) == ["not_found", "failed", "invalid_input"]
    assert list(df["http_status"].astype(object).where(df["http_status"].notna(), None)) == [500, None, None]
    inv = df.iloc[2]
    assert inv["line"] == 4 and inv["error"] == "digest 'sha1:x' is not sha256"
    assert inv["artifact"] == "web" and inv["digest"] == "sha1:x" and pd.isna(inv["registry_ref"])
    assert inv["attempts"] == 0


def test_shared_keys_share_results_and_order_is_input_order():
    dup = ArtifactRef(9, *TAG_ROW.key)
    df = normalize([DIGEST_ROW, TAG_ROW, dup], {TAG_ROW.key: ok(TAG_ROW, TAG_DATA), DIGEST_ROW.key: ok(DIGEST_ROW, DIGEST_DATA)})
    assert list(df["line"]) == [3, 2, 9]
    assert df.iloc[1]["url"] == df.iloc[2]["url"] == TAG_DATA["url"]


def test_missing_result_raises_or_becomes_failed():
    with pytest.raises(KeyError):
        normalize([TAG_ROW], {})
    df = normalize([TAG_ROW], {}, missing_error="not fetched: run interrupted")
    assert df.iloc[0]["status"] == "failed" and df.iloc[0]["error"] == "not fetched: run interrupted"


def test_rows_never_sent_all_have_zero_attempts():
    """A stopped run: a result the fetcher gave back unsent (attempts 0), a key never handed to it
    (no result) and an invalid row all say 0, never NULL, in the same report."""
    unsent = FetchResult(DIGEST_ROW.key, Status.FAILED, None, "not sent: run interrupted", 0, None)
    invalid = InvalidRow(4, "artifact missing: the artifact cell is empty", {})
    df = normalize([TAG_ROW, DIGEST_ROW, invalid], {DIGEST_ROW.key: unsent}, missing_error="not fetched: run interrupted")
    assert df["attempts"].isna().sum() == 0
    assert df["attempts"].tolist() == [0, 0, 0]


@pytest.mark.parametrize("pushed", [None, {}, {"uid": "svc-ci"}, "jdoe", [1, 2]])
def test_pushed_by_absent_null_partial_or_odd(pushed):
    data = dict(DIGEST_DATA, pushedBy=pushed)
    df = normalize([DIGEST_ROW], {DIGEST_ROW.key: ok(DIGEST_ROW, data)})
    row = df.iloc[0]
    expected_uid = pushed.get("uid") if isinstance(pushed, dict) else None
    assert (row["pushed_by_uid"] if pd.notna(row["pushed_by_uid"]) else None) == expected_uid
    assert pd.isna(row["pushed_by_display_name"]) and pd.isna(row["pushed_by_email"])


@pytest.mark.parametrize("metadata", ["not a dict", [1, 2], None, {"tags": "latest"}, {"tags": ["a", 3]}])
def test_odd_metadata_shapes_never_raise(metadata):
    data = dict(DIGEST_DATA, metadata=metadata, size=12, downloadsCount="17", isQuarantined="yes")
    df = normalize([DIGEST_ROW], {DIGEST_ROW.key: ok(DIGEST_ROW, data)})
    row = df.iloc[0]
    assert row["tags"] is None
    assert row["size_bytes"] == 12 and row["downloads_count"] == 17 and pd.isna(row["is_quarantined"])
    if metadata is not None:
        assert json.loads(row["metadata_json"]) == metadata


def test_metadata_columns_of_varying_type_become_text():
    a, b = TAG_ROW, DIGEST_ROW
    results = {a.key: ok(a, dict(TAG_DATA, metadata={"x": 1, "flag": True})),
               b.key: ok(b, dict(DIGEST_DATA, metadata={"x": "one", "flag": False}))}
    assert metadata_keys(results.values()) == ("flag", "x")
    assert metadata_kinds(results.values()) == {"x": schema.TEXT, "flag": schema.BOOL}
    df = normalize([a, b], results)
    assert list(df["metadata_x"]) == ["1", "one"] and str(df["metadata_x"].dtype) == "string"
    assert list(df["metadata_flag"]) == [True, False] and str(df["metadata_flag"].dtype) == "boolean"


def test_chunks_get_the_same_columns_when_keys_are_given():
    results = {TAG_ROW.key: ok(TAG_ROW, TAG_DATA), DIGEST_ROW.key: ok(DIGEST_ROW, DIGEST_DATA)}
    keys, kinds = metadata_keys(results.values()), metadata_kinds(results.values())
    first = normalize([TAG_ROW], results, metadata_keys=keys, metadata_kinds=kinds)
    second = normalize([DIGEST_ROW], results, metadata_keys=keys, metadata_kinds=kinds)
    assert list(first.columns) == list(second.columns) == schema.column_names(keys)
    assert (first.dtypes == second.dtypes).all()


def test_lone_surrogate_from_json_does_not_break_the_frame():
    data = json.loads('{"imageName": "base", "quarantineReason": "bad \\ud800 text"}')
    df = normalize([DIGEST_ROW], {DIGEST_ROW.key: ok(DIGEST_ROW, data)})
    assert df.iloc[0]["quarantine_reason"] == "bad ? text"
