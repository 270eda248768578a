"""CSV report: BOM, columns, joined tags, ISO 8601 UTC times."""

from __future__ import annotations

import csv
import io

from har_inventory.reports import open_writer


def test_csv_bom_and_content(tmp_path, sample, columns, run):
    w = open_writer("csv", tmp_path / "r.csv", columns)
    w.write(sample[2].iloc[:4])
    w.write(sample[2].iloc[4:])
    raw = w.close(run).read_bytes()
    assert raw.startswith(b"\xef\xbb\xbf")
    rows = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"), newline="")))
    assert list(rows[0]) == columns
    assert [r["line"] for r in rows] == ["2", "3", "4", "5", "6", "7", "8", "9"]
    first, q = rows[0], rows[1]
    assert first["created_at"] == "2024-06-10T06:33:54.567Z"
    assert first["fetched_at"] == "2026-03-01T12:00:00.000Z"
    assert first["size_bytes"] == "1048576" and first["is_quarantined"] == "false" and q["is_quarantined"] == "true"
    assert first["tags"] == "" and first["http_status"] == "200"
    assert len(q["metadata_org_opencontainers_image_source"]) == 40_000
    assert rows[6]["status"] == "invalid_input" and rows[6]["error"] == "digest 'sha1:x' is not sha256"


def test_csv_tags_joined(tmp_path, columns, run, sample):
    frame = sample[2].iloc[:1].copy()
    frame["tags"] = [["1.0", "latest"]]
    w = open_writer("csv", tmp_path / "r.csv", columns)
    w.write(frame)
    rows = list(csv.DictReader(io.StringIO(w.close(run).read_text("utf-8-sig"), newline="")))
    assert rows[0]["tags"] == "1.0, latest"
