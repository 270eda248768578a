"""schema.py: the one column list, its documentation and the README's copy of it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pyarrow as pa

from har_inventory import schema

REPO = Path(__file__).resolve().parents[1]
START, END = "<!-- columns:start -->", "<!-- columns:end -->"

EXPECTED = [
    "line", "registry_ref", "artifact", "version", "version_type", "digest", "status",
    "http_status", "error", "attempts", "fetched_at", "image_name", "package_type",
    "registry_path", "url", "pull_command", "pull_command_by_digest", "size", "size_bytes",
    "downloads_count", "created_at", "modified_at", "is_quarantined", "quarantine_reason",
    "pushed_by_uid", "pushed_by_display_name", "pushed_by_email", "pushed_by_type", "tags",
    "metadata_json",
]


def test_base_columns_in_documented_order():
    assert list(schema.BASE_NAMES) == EXPECTED


def test_counts_are_nullable_int64_and_times_utc_ms():
    by = {c.name: c for c in schema.BASE_COLUMNS}
    for name in ("line", "http_status", "attempts", "size_bytes", "downloads_count"):
        assert by[name].pandas_dtype == "Int64" and by[name].arrow_type == pa.int64()
    for name in ("fetched_at", "created_at", "modified_at"):
        assert by[name].pandas_dtype == "datetime64[ms, UTC]"
        assert by[name].arrow_type == pa.timestamp("ms", tz="UTC")
        assert by[name].excel_header == f"{name} (UTC)"
    assert by["is_quarantined"].pandas_dtype == "boolean"
    # what pyarrow writes to Parquet and reads back (the table prints this type)
    assert str(by["tags"].arrow_type) == "list<element: string>"
    assert by["size_bytes"].number_format == "#,##0"
    assert all(c.description for c in schema.BASE_COLUMNS)


def test_descriptions_say_what_valid_and_invalid_rows_hold():
    by = {c.name: c.description for c in schema.BASE_COLUMNS}
    for name in ("registry_ref", "artifact", "version", "digest"):
        assert "as given in the input" not in by[name]
        assert "invalid rows: the cell as read, trimmed" in by[name], name
    assert "`/+`" in by["registry_ref"] and "`/+`" in by["artifact"]
    assert "empty version becomes its digest" in by["version"] and "lower-case" in by["digest"]
    assert "0 when never sent: invalid input or run stopped first" in by["attempts"]
    assert schema.UNTAGGED in by["tags"] and "Parquet keeps `[]` vs null" in by["tags"]


def test_metadata_column_names_are_safe_unique_and_sorted():
    names = schema.metadata_column_names(
        ["org.opencontainers.image.source", "a.b", "a_b", "json", "buildDate", "Ünï"])
    assert names["org.opencontainers.image.source"] == "metadata_org_opencontainers_image_source"
    assert names["a.b"] == "metadata_a_b" and names["a_b"] == "metadata_a_b_2"
    assert names["json"] == "metadata_json_2"  # metadata_json is a base column
    assert names["buildDate"] == "metadata_build_date"
    assert all(n.replace("metadata_", "").replace("_", "").isalnum() and n.isascii() for n in names.values())
    assert list(names) == sorted(names)
    cols = schema.column_names(["z", "a"])
    assert cols[-2:] == ["metadata_a", "metadata_z"]


def test_markdown_table_lists_every_column():
    table = schema.markdown_table()
    for name in EXPECTED:
        assert f"`{name}`" in table
    assert "`metadata_<key>`" in table


def test_module_prints_the_table():
    out = subprocess.run([sys.executable, "-m", "har_inventory.schema"], capture_output=True,
                         text=True, check=True, cwd=REPO)
    assert out.stdout == schema.markdown_table()


def test_readme_column_table_matches_schema():
    readme = REPO / "README.md"
    how = ("regenerate it with `python -m har_inventory.schema` and paste the output between "
           f"the lines {START} and {END} in README.md")
    assert readme.exists(), f"README.md is missing; its column table is checked here: {how}"
    text = readme.read_text(encoding="utf-8")
    assert START in text and END in text, f"README.md has no column-table markers: {how}"
    inside = text.split(START, 1)[1].split(END, 1)[0].strip()
    assert inside == schema.markdown_table().strip(), f"README.md's column table is out of date: {how}"
