"""XLSX report read back with openpyxl (and LibreOffice where installed)."""

from __future__ import annotations

import csv
import io
import shutil
import subprocess
import zipfile
from datetime import datetime

import pytest
from openpyxl import load_workbook

from har_inventory.reports import open_writer
from har_inventory.reports.xlsx_cells import MAX_CELL_CHARS, TRUNCATION_MARK


@pytest.fixture
def book(tmp_path, sample, columns, run):
    w = open_writer("xlsx", tmp_path / "r.xlsx", columns)
    frame = sample[2]
    w.write(frame.iloc[:3])  # two chunks, in input order
    w.write(frame.iloc[3:])
    out = w.close(run)
    return out, load_workbook(out), run


def _rows(ws):
    header = [c.value for c in ws[1]]
    return header, [dict(zip(header, (c for c in r))) for r in ws.iter_rows(min_row=2)]


def test_sheets_in_order_and_no_formula_anywhere(book):
    _, wb, _ = book
    assert wb.sheetnames == ["Summary", "Inventory", "Errors", "Run"]
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for c in row:
                assert c.data_type != "f", f"formula in {ws.title}!{c.coordinate}"


def test_inventory_values_types_and_marks(book, sample):
    _, wb, _ = book
    ws = wb["Inventory"]
    header, rows = _rows(ws)
    assert header[:3] == ["line", "registry_ref", "artifact"] and "created_at (UTC)" in header
    assert ws.freeze_panes == "A2" and ws.auto_filter.ref == f"A1:{ws.cell(1, len(header)).column_letter}9"
    assert [r["line"].value for r in rows] == [2, 3, 4, 5, 6, 7, 8, 9]
    first, quarantined, digestless = rows[0], rows[1], rows[2]
    assert isinstance(first["created_at (UTC)"].value, datetime)
    assert first["created_at (UTC)"].value == datetime(2024, 6, 10, 6, 33, 54, 567000)
    assert first["digest"].data_type == "s" and first["version"].value == "1.0"
    assert first["size_bytes"].value == 1048576 and first["size_bytes"].number_format == "#,##0"
    assert first["downloads_count"].value == 0 and first["size"].value == "1.00MB"
    link = first["url"]
    assert link.hyperlink is not None and link.hyperlink.target == "https://h.example/team/img0/1.0"
    # quarantined row: filled all across, reason cleaned of \x0b
    assert quarantined["is_quarantined"].value is True
    assert all(c.fill.fill_type == "solid" for c in quarantined.values())
    assert first["line"].fill.fill_type is None
    assert quarantined["quarantine_reason"].value == "CVE-2024-1critical"
    # text that looks like a formula, a number or an error code stays the same text
    evil = quarantined["pushed_by_display_name"]
    assert evil.data_type == "s" and evil.value == '=HYPERLINK("http://evil.example","click")'
    assert quarantined["metadata_note"].value == "-1" and quarantined["metadata_note"].data_type == "s"
    assert digestless["size"].value == "#N/A" and digestless["size"].data_type == "s"
    # 40,000 characters: cut with a visible marker, within Excel's limit
    long = quarantined["metadata_org_opencontainers_image_source"].value
    assert long.endswith(TRUNCATION_MARK) and len(long) == MAX_CELL_CHARS
    assert quarantined["metadata_json"].value.endswith(TRUNCATION_MARK)
    assert first["tags"].value is None and digestless["tags"].value is None  # no tags / empty list


def test_errors_sheet_lists_rows_not_ok(book):
    _, wb, _ = book
    header, rows = _rows(wb["Errors"])
    assert header == ["line", "registry_ref", "artifact", "version", "version_type", "digest",
                      "status", "http_status", "error", "attempts", "fetched_at (UTC)"]
    got = [(r["line"].value, r["status"].value, r["http_status"].value, r["error"].value) for r in rows]
    assert got == [(5, "not_found", 500, "artifact not found"), (6, "failed", None, "timeout after 5 attempts"),
                   (7, "forbidden", 403, "no permission"), (8, "invalid_input", None, "digest 'sha1:x' is not sha256")]


def test_run_sheet_and_counters(book):
    _, wb, run = book
    facts = {r[0]: r[1] for r in wb["Run"].iter_rows(min_row=2, values_only=True)}
    assert facts["tool version"] == "0.1.0" and facts["input SHA-256"] == "ab" * 32
    assert facts["started (UTC)"] == datetime(2026, 3, 1, 12, 0) and facts["duration (s)"] == 300
    assert facts["complete"] == "yes" and facts["rows in report"] == 8 and facts["retries"] == 4
    assert facts["option concurrency"] == 4 and facts["rows ok"] == 4
    # the 40,000-character value is cut twice: its metadata_* column and metadata_json
    assert facts["xlsx cells truncated"] == 2 and facts["xlsx cells control chars removed"] == 1
    assert run.notes["xlsx_cells_truncated"] == 2 and run.notes["xlsx_cells_control_chars_removed"] == 1
    assert not any("key" in str(k).lower() for k in facts)


def test_summary_sheet_and_charts(book):
    path, wb, _ = book
    values = [r for r in wb["Summary"].iter_rows(values_only=True)]
    flat = {r[0]: r[1] for r in values if r and r[0]}
    assert flat["ok"] == 4 and flat["not_found"] == 1 and flat["invalid_input"] == 1
    assert flat["quarantined"] == 1 and flat["CVE-2024-1critical"] == 1
    assert flat["2024-06"] == 1  # pushes per month (UTC)
    with zipfile.ZipFile(path) as z:
        charts = [n for n in z.namelist() if n.startswith("xl/charts/chart")]
        assert len(charts) == 3
        xml = b"".join(z.read(n) for n in charts).decode()
    for title in ("Rows by status", "total size (MiB)", "month (UTC)"):
        assert title in xml


def test_sheet_split_at_row_limit(tmp_path, sample, columns, run):
    frame = sample[2]
    w = open_writer("xlsx", tmp_path / "r.xlsx", columns, excel_row_limit=3)
    w.write(frame.iloc[:5])
    w.write(frame.iloc[5:])
    wb = load_workbook(w.close(run))
    assert wb.sheetnames == ["Summary", "Inventory", "Inventory (2)", "Inventory (3)", "Errors", "Errors (2)", "Run"]
    lines = [[r[0] for r in wb[n].iter_rows(min_row=2, values_only=True)] for n in wb.sheetnames[1:4]]
    assert lines == [[2, 3, 4], [5, 6, 7], [8, 9]]
    assert [c.value for c in wb["Inventory (3)"][1]] == [c.value for c in wb["Inventory"][1]]


def test_empty_run_still_has_headers(tmp_path, columns, run):
    w = open_writer("xlsx", tmp_path / "r.xlsx", columns)
    wb = load_workbook(w.close(run))
    assert wb["Inventory"]["A1"].value == "line" and wb["Inventory"].max_row == 1
    assert wb["Errors"]["A1"].value == "line"


SOFFICE = shutil.which("soffice") or shutil.which("libreoffice")


@pytest.mark.skipif(SOFFICE is None, reason="LibreOffice (soffice) is not installed")
def test_libreoffice_reads_the_same_values(book, tmp_path):
    path, wb, _ = book
    out = tmp_path / "lo"
    subprocess.run([SOFFICE, "--headless", f"-env:UserInstallation=file://{tmp_path}/profile",
                    "--convert-to", "csv:Text - txt - csv (StarCalc):44,34,76,1,,0,false,true,false,false,false,2",
                    "--outdir", str(out), str(path)], check=True, capture_output=True, timeout=180)
    got = list(csv.reader(io.open(out / "r-Inventory.csv", encoding="utf-8", newline="")))
    header = got[0]
    assert header[:2] == ["line", "registry_ref"]
    rows = {r[0]: dict(zip(header, r)) for r in got[1:]}
    assert set(rows) == {"2", "3", "4", "5", "6", "7", "8", "9"}
    assert rows["3"]["pushed_by_display_name"] == '=HYPERLINK("http://evil.example","click")'
    assert rows["3"]["quarantine_reason"] == "CVE-2024-1critical"
    assert rows["2"]["created_at (UTC)"].startswith("2024-06-10 06:33:54")
    assert rows["2"]["digest"] == "sha256:" + "0" * 64 and rows["2"]["version"] == "1.0"
    assert rows["4"]["size"] == "#N/A" and rows["3"]["metadata_note"] == "-1"
