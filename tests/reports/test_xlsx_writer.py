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

from har_inventory import schema
from har_inventory.reports import open_writer
from har_inventory.reports.xlsx_cells import MAX_CELL_CHARS, TRUNCATION_MARK
from har_inventory.reports.xlsx_summary import ROWS_PER_PAGE


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
    # no tag information (TAG mode) stays empty; an untagged digest (tags == []) says so
    assert first["tags"].value is None and digestless["tags"].value == "(untagged)"


def test_cells_have_the_type_and_number_format_the_schema_documents(tmp_path, sample, columns, run):
    """The README's column table (schema.py) says what Excel shows: check it against the file."""
    frame = sample[2].copy()
    for name in ("pull_command", "pull_command_by_digest", "pushed_by_email", "pushed_by_type"):
        frame[name] = frame[name].fillna("x")  # every column has a value somewhere
    w = open_writer("xlsx", tmp_path / "r.xlsx", columns)
    w.write(frame)
    wb = load_workbook(w.close(run))
    cell_types = {"text": {"s"}, "number": {"n"}, "date": {"d", "n"}, "TRUE/FALSE": {"b"}}
    for title in ("Inventory", "Errors"):
        header, rows = _rows(wb[title])
        for name in header:
            col = schema.base_column(name.removesuffix(" (UTC)"))
            if col is None:  # metadata_*: General, whatever the kind
                assert {r[name].number_format for r in rows} == {"General"}, name
                continue
            cells = [r[name] for r in rows if r[name].value is not None]
            assert cells, f"{title}!{name} has no value in the sample"
            assert {c.number_format for c in cells} == {col.number_format}, f"{title}!{name}"
            assert {c.data_type for c in cells} <= cell_types[col.excel_cell], f"{title}!{name}"


def test_print_setup_landscape_one_page_wide_header_repeated(book):
    _, wb, _ = book
    for ws in [wb["Inventory"], wb["Errors"], wb["Run"]]:
        assert ws.page_setup.orientation == "landscape", ws.title
        assert ws.sheet_properties.pageSetUpPr.fitToPage is True, ws.title
        assert (ws.page_setup.fitToWidth, ws.page_setup.fitToHeight) == (1, 0), ws.title
        assert ws.print_title_rows == "$1:$1", ws.title  # the header row on every printed page
    # print areas end at the last column: a long value overflowing to the right is not printed
    last = wb["Inventory"].cell(1, wb["Inventory"].max_column).column_letter
    assert wb["Inventory"].print_area == f"'Inventory'!$A$1:${last}$9"
    assert wb["Errors"].print_area == "'Errors'!$A$1:$K$5"
    summary = wb["Summary"]
    assert summary.page_setup.orientation == "landscape"


def test_summary_charts_never_cross_a_page_break(book):
    _, wb, _ = book
    ws = wb["Summary"]
    breaks = [b.id for b in ws.row_breaks.brk]
    assert breaks and breaks == list(range(ROWS_PER_PAGE, ROWS_PER_PAGE * (len(breaks) + 1), ROWS_PER_PAGE))
    assert (ws.sheet_format.defaultRowHeight, ws.sheet_format.customHeight) == (15, True)
    assert len(ws._charts) == 3
    for chart in ws._charts:
        top, bottom = chart.anchor._from.row + 1, chart.anchor.to.row  # 1-based rows covered
        assert (top - 1) // ROWS_PER_PAGE == (bottom - 1) // ROWS_PER_PAGE, (top, bottom)
        assert chart.anchor._from.col == 5 and chart.anchor.to.col == 6  # column F, right of the tables


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


PDFTOTEXT = shutil.which("pdftotext")


@pytest.mark.skipif(SOFFICE is None or PDFTOTEXT is None, reason="LibreOffice (soffice) or pdftotext is not installed")
def test_libreoffice_prints_charts_beside_the_tables_and_sheets_one_page_wide(book, tmp_path):
    path, _, _ = book
    subprocess.run([SOFFICE, "--headless", f"-env:UserInstallation=file://{tmp_path}/profile",
                    "--convert-to", "pdf", "--outdir", str(tmp_path / "pdf"), str(path)],
                   check=True, capture_output=True, timeout=180)
    text = subprocess.run([PDFTOTEXT, "-layout", str(tmp_path / "pdf" / "r.pdf"), "-"], check=True,
                          capture_output=True, text=True).stdout
    pages = [p for p in text.split("\f") if p.strip()]
    footers = [next(line.strip() for line in reversed(p.splitlines()) if line.strip()) for p in pages]
    sheets = [f.split(":")[0] for f in footers]
    # 8 rows: every sheet fits one page wide, so one page each (the Summary's 3 charts need 2)
    assert sheets == ["Summary", "Summary", "Inventory", "Errors", "Run"], footers
    assert pages[0].count("Rows by status") == 2  # the table and, on the same page, its chart
    assert "Versions pushed per month" in pages[0] + pages[1]
    assert pages[3].lstrip().startswith("line") and "not_found" in pages[3]
