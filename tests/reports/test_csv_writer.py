"""CSV report: BOM, columns, joined tags, ISO 8601 UTC times, formula injection neutralised."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess

import pandas as pd
import pytest

from har_inventory.reports import open_writer
from har_inventory.reports.csv import neutralize


def _read(path):
    return list(csv.DictReader(io.StringIO(path.read_bytes().decode("utf-8-sig"), newline="")))


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
    assert first["http_status"] == "200"
    assert len(q["metadata_org_opencontainers_image_source"]) == 40_000
    assert rows[6]["status"] == "invalid_input" and rows[6]["error"] == "digest 'sha1:x' is not sha256"
    # the API's formula-looking display name is neutralised; a plain number in a text column is not
    assert q["pushed_by_display_name"] == '\'=HYPERLINK("http://evil.example","click")'
    assert q["metadata_note"] == "-1"


def test_csv_tags_joined_untagged_and_missing_differ(tmp_path, columns, run, sample):
    frame = sample[2].iloc[:3].copy()
    frame["tags"] = [["1.0", "latest"], [], None]
    w = open_writer("csv", tmp_path / "r.csv", columns)
    w.write(frame)
    rows = _read(w.close(run))
    assert [r["tags"] for r in rows] == ["1.0, latest", "(untagged)", ""]


EVIL = {  # value in a text column -> what the CSV must hold
    "=1+1": "'=1+1",
    "@SUM(A1)": "'@SUM(A1)",
    "-2+3": "'-2+3",
    "+cmd|' /C calc'!A0": "'+cmd|' /C calc'!A0",
    "\t=1+1": "'\t=1+1",
    "\r=1+1": "'\r=1+1",
    "- item": "'- item",
    "-1": "-1", "+2.5": "+2.5", "-1e5": "-1e5", "-.5": "-.5",  # plain numbers: read as numbers, not formulas
    "1+1": "1+1", "a=b": "a=b", "": "",
}


def test_neutralize_rule():
    assert {v: neutralize(v) for v in EVIL} == EVIL
    assert neutralize("-١") == "'-١"  # only ASCII digits make a plain number


def test_csv_text_cells_starting_with_a_formula_trigger_get_a_quote(tmp_path, sample, columns, run):
    values = list(EVIL)
    frame = pd.concat([sample[2].iloc[:1]] * len(values), ignore_index=True)
    frame["pushed_by_display_name"] = pd.array(values, dtype="string")
    frame["metadata_note"] = pd.array(values, dtype="string")
    frame["tags"] = [[v] for v in values]
    frame["downloads_count"] = pd.array([-3] * len(values), dtype="Int64")
    w = open_writer("csv", tmp_path / "r.csv", columns)
    w.write(frame)
    rows = _read(w.close(run))
    expected = [EVIL[v] for v in values]
    assert [r["pushed_by_display_name"] for r in rows] == expected
    assert [r["metadata_note"] for r in rows] == expected  # metadata_* text columns too
    assert [r["tags"] for r in rows] == expected
    assert {r["downloads_count"] for r in rows} == {"-3"}  # numeric column: a number, untouched


SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed")
def test_libreoffice_does_not_evaluate_the_csv(tmp_path, sample, columns, run):
    frame = sample[2].iloc[:1].copy()
    frame["pushed_by_display_name"] = pd.array(["=1+1"], dtype="string")
    w = open_writer("csv", tmp_path / "r.csv", columns)
    w.write(frame)
    path = w.close(run)
    raw = tmp_path / "raw.csv"  # the same cell unescaped: LibreOffice computes it (the check works)
    raw.write_text("\ufeffa,b\n=1+1,x\n", encoding="utf-8")
    out = tmp_path / "lo"
    for p in (path, raw):
        subprocess.run([SOFFICE, "--headless", f"-env:UserInstallation=file://{tmp_path}/profile",
                        "--infilter=CSV:44,34,76,1", "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76,1",
                        "--outdir", str(out), str(p)], check=True, capture_output=True, timeout=180)
    assert list(csv.reader(io.open(out / "raw.csv", encoding="utf-8", newline="")))[1] == ["2", "x"]
    got = list(csv.DictReader(io.open(out / "r.csv", encoding="utf-8", newline="")))
    assert got[0]["pushed_by_display_name"] == "'=1+1"
