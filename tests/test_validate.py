"""Row validation reasons, request planning (duplicates) and the dry-run summary."""

from __future__ import annotations

import pytest

from har_inventory.records import ArtifactRef, InvalidRow
from har_inventory.validate import (
    InputTable,
    RawRow,
    dry_run_report,
    format_duration,
    normalize_digest,
    plan_requests,
    reason_kind,
    validate_row,
)

H1 = "0123456789abcdef" * 4
D1 = f"sha256:{H1}"
D2 = "sha256:" + "f" * 64
REF = "acc/org/reg"


def row(line: int = 2, **cells: str) -> RawRow:
    base = {"registry_ref": REF, "artifact": "team/app", "version": "1.0", "digest": D1}
    base.update(cells)
    return RawRow(line, base)


def reason(**cells: str) -> str:
    result = validate_row(row(**cells))
    assert isinstance(result, InvalidRow), result
    assert result.line == 2
    return result.reason


# ---------------------------------------------------------------- valid rows

def test_tag_row():
    assert validate_row(row()) == ArtifactRef(2, REF, "team/app", "1.0", "TAG", D1)


@pytest.mark.parametrize("version, vtype", [("", "DIGEST"), (D1, "DIGEST"), (D1.upper().replace("SHA256", "sha256"), ""),
                                            (D1, ""), (H1, "digest")])
def test_digest_rows_get_the_digest_as_version(version, vtype):
    assert validate_row(row(version=version, version_type=vtype)) == ArtifactRef(2, REF, "team/app", D1, "DIGEST", D1)


def test_version_type_case_insensitive_and_empty_defaults_to_tag():
    assert validate_row(row(version_type="tag")).version_type == "TAG"
    assert validate_row(row(version_type="")).version_type == "TAG"


def test_plus_suffixes_and_default_registry_ref():
    got = validate_row(RawRow(5, {"artifact": "team/app/+", "version": "v1", "digest": H1}), "acc/reg")
    assert got == ArtifactRef(5, "acc/reg", "team/app", "v1", "TAG", D1)


def test_normalize_digest():
    assert normalize_digest(f"  SHA256:{H1.upper()} ") == D1
    assert normalize_digest(H1.upper()) == D1
    assert normalize_digest("sha512:ab") == "sha512:ab"


# ---------------------------------------------------------------- every reason

@pytest.mark.parametrize("cells, expected", [
    ({"digest": "sha256:abc"},
     "digest invalid: 'sha256:abc' is not sha256: followed by 64 hex digits"),
    ({"digest": "sha512:" + "a" * 128},
     "digest invalid: 'sha512:" + "a" * 72 + "…' is not sha256: followed by 64 hex digits"),
    ({"digest": ""}, "digest missing: the digest cell is empty"),
    ({"artifact": ""}, "artifact missing: the artifact cell is empty"),
    ({"artifact": "Team/App"},
     "artifact invalid: 'Team/App' has upper-case letters; Docker image names are lower case"),
    ({"artifact": "my app"},
     "artifact invalid: 'my app' contains a space, which would need percent-escaping in the URL path"),
    ({"artifact": "a..b"},
     "artifact invalid: 'a..b' is not a Docker image name (lower-case letters and digits, joined by "
     "single '.', '_' or '-', path components separated by '/', no leading, trailing or doubled separator)"),
    ({"artifact": "/team/app"},
     "artifact invalid: '/team/app' is not a Docker image name (lower-case letters and digits, joined by "
     "single '.', '_' or '-', path components separated by '/', no leading, trailing or doubled separator)"),
    ({"artifact": "app%2f"},
     "artifact invalid: 'app%2f' contains '%', which would need percent-escaping in the URL path"),
    ({"artifact": "café"},
     "artifact invalid: 'café' contains the non-ASCII character 'é', which would need percent-escaping "
     "in the URL path"),
    ({"version": "1.0?x"},
     "tag invalid: '1.0?x' contains '?', which would need percent-escaping in the URL path"),
    ({"version": "1.0#x"},
     "tag invalid: '1.0#x' contains '#', which would need percent-escaping in the URL path"),
    ({"version": "-rc1"},
     "tag invalid: '-rc1' is not a Docker tag (letters, digits, '_', '.', '-'; not starting with '.' or '-')"),
    ({"version": "v" * 129},
     "tag invalid: '" + "v" * 79 + "…' is 129 characters; a Docker tag has at most 128"),
    ({"version": D1, "version_type": "TAG"},
     f"tag invalid: '{D1}' is a digest but version_type is TAG; use DIGEST or leave version_type empty"),
    ({"version": ""}, "version missing: a TAG row needs the tag in its version cell"),
    ({"version": "1.0", "version_type": "DIGEST"},
     "version mismatch: a DIGEST row's version must be empty or equal to its digest, got '1.0'"),
    ({"version": D2},
     "version mismatch: a DIGEST row's version must be empty or equal to its digest, got "
     f"'{D2}'"),
    ({"version_type": "branch"}, "version_type unknown: 'branch' (expected TAG or DIGEST)"),
    ({"registry_ref": ""}, "registry_ref missing: give a registry_ref column or --registry-ref"),
    ({"registry_ref": "acc"},
     "registry_ref invalid: 'acc' has 1 segment(s); expected 2 to 4 (account/registry, "
     "account/org/registry or account/org/project/registry)"),
    ({"registry_ref": "a/b/c/d/e/+"},
     "registry_ref invalid: 'a/b/c/d/e/+' has 5 segment(s); expected 2 to 4 (account/registry, "
     "account/org/registry or account/org/project/registry)"),
    ({"registry_ref": "acc/my reg"},
     "registry_ref invalid: 'acc/my reg' contains a space, which would need percent-escaping in the URL path"),
    ({"registry_ref": "acc//reg"},
     "registry_ref invalid: segment '' of 'acc//reg' is not a Harness identifier (letters, digits, "
     "'_', '.', '-', '$'; not starting with '.' or '-')"),
])
def test_invalid_row_reasons(cells, expected):
    assert reason(**cells) == expected


def test_invalid_row_keeps_the_values_as_read():
    got = validate_row(RawRow(9, {"artifact": "X", "version": " 1 ", "digest": "d"}), "acc/reg")
    assert got == InvalidRow(9, "artifact invalid: 'X' has upper-case letters; Docker image names are lower case",
                             {"registry_ref": "acc/reg", "artifact": "X", "version": " 1 ", "digest": "d"})


def test_reading_problem_wins():
    got = validate_row(RawRow(3, {"artifact": "a", "version": "1.1", "digest": D1}, "version stored by Excel as a number: 1.1"), REF)
    assert got.reason == "version stored by Excel as a number: 1.1"


def test_reason_kind():
    assert reason_kind(reason(digest="x")) == "digest invalid"
    assert reason_kind(reason(version="")) == "version missing"
    assert reason_kind("registry_ref missing: give a registry_ref column or --registry-ref") == "registry_ref missing"


# ---------------------------------------------------------------- duplicates

def test_plan_requests_one_request_per_key_first_occurrence_first():
    a2 = validate_row(row(2))
    b3 = validate_row(row(3, artifact="b"))
    a4 = validate_row(row(4))
    a5_digest = validate_row(row(5, version="", version_type="DIGEST"))
    bad = validate_row(row(6, digest="x"))
    a7 = validate_row(row(7, registry_ref=REF + "/+", digest=H1.upper()))  # same key once normalised
    plan = plan_requests([a2, b3, a4, a5_digest, bad, a7])
    assert plan.unique == (a2, b3, a5_digest)
    assert [r.line for r in plan.unique] == [2, 3, 5]
    assert (plan.duplicates, plan.valid, plan.invalid, plan.requests) == (2, 5, 1, 3)


# ---------------------------------------------------------------- dry run

def table_of(rows, blank=0, warnings=()):
    return InputTable(tuple(rows), blank, "cp1252", ";", tuple(warnings), ("registry_ref",), None)


def test_dry_run_all_valid_exit_0():
    rows = [validate_row(row(i, artifact=f"app{i % 50}")) for i in range(2, 102)]
    text, code = dry_run_report(table_of(rows, blank=3), rate=5)
    assert code == 0
    assert text.splitlines() == [
        "rows: 100 (encoding cp1252, delimiter ';')",
        "  valid: 100",
        "  invalid: 0",
        "blank rows skipped: 3",
        "duplicates: 50 row(s) repeat an earlier row's request",
        "distinct requests: 50",
        "estimated time: 10 s at 5 requests/s (without retries)",
    ]


def test_dry_run_with_invalid_rows_groups_by_kind_and_lists_the_first():
    rows = ([validate_row(row(2))]
            + [validate_row(row(i, digest=f"bad{i}")) for i in range(3, 6)]
            + [validate_row(row(6, version="-x"))])
    text, code = dry_run_report(table_of(rows, warnings=["not UTF-8: read as Windows-1252"]),
                                rate=6.6, max_listed=2)
    assert code == 1
    assert text.splitlines() == [
        "rows: 5 (encoding cp1252, delimiter ';')",
        "  valid: 1",
        "  invalid: 4",
        "    digest invalid: 3",
        "    tag invalid: 1",
        "blank rows skipped: 0",
        "duplicates: 0 row(s) repeat an earlier row's request",
        "distinct requests: 1",
        "estimated time: 1 s at 6.6 requests/s (without retries)",
        "first invalid rows (2 of 4):",
        "  line 3: digest invalid: 'bad3' is not sha256: followed by 64 hex digits",
        "  line 4: digest invalid: 'bad4' is not sha256: followed by 64 hex digits",
        "warnings:",
        "  not UTF-8: read as Windows-1252",
    ]


def test_dry_run_xlsx_source_and_empty_table():
    text, code = dry_run_report(InputTable((), 0, "xlsx", None, (), (), "Images"), rate=6.6)
    assert code == 0
    assert text.splitlines()[0] == "rows: 0 (sheet 'Images')"
    assert "distinct requests: 0" in text


def test_dry_run_rejects_a_non_positive_rate():
    with pytest.raises(ValueError, match="rate must be > 0"):
        dry_run_report(table_of([]), rate=0)


@pytest.mark.parametrize("seconds, text", [(0, "0 s"), (0.2, "1 s"), (59, "59 s"), (60, "1 min 00 s"),
                                           (1515.15, "25 min 16 s"), (3600, "1 h 00 min"), (9000, "2 h 30 min")])
def test_format_duration(seconds, text):
    assert format_duration(seconds) == text
