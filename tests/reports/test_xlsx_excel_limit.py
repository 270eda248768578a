"""The real Excel row limit: 1,100,000 rows through the XLSX writer (slow)."""

from __future__ import annotations

import re
import resource
import time
import zipfile

import pytest
from openpyxl import load_workbook

from har_inventory.reports import EXCEL_ROW_LIMIT, open_writer

TOTAL = 1_100_000
_ROW_RE = re.compile(rb'<row r="(\d+)"')


def _last_row(z: zipfile.ZipFile, name: str) -> int:
    """Last row number in a sheet's XML, read as a stream (the sheet is hundreds of MB)."""
    last, tail = 0, b""
    with z.open(name) as fh:
        while chunk := fh.read(1 << 22):
            buf = tail + chunk
            for m in _ROW_RE.finditer(buf):
                last = int(m.group(1))
            tail = buf[-64:]
    return last


@pytest.mark.slow
def test_split_at_the_real_limit(tmp_path, sample, columns, run):
    ok_rows = sample[2].iloc[:3]  # ok rows: url, dates, quarantine fill, long text
    chunk = ok_rows.sample(n=10_000, replace=True, random_state=1).reset_index(drop=True)
    chunk["metadata_org_opencontainers_image_source"] = "https://github.com/x/y"
    chunk["metadata_json"] = '{"org.opencontainers.image.source":"https://github.com/x/y"}'
    rss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    t0 = time.perf_counter()
    w = open_writer("xlsx", tmp_path / "big.xlsx", columns)
    for start in range(0, TOTAL, len(chunk)):
        part = chunk.copy()
        part["line"] = range(start + 2, start + 2 + len(part))
        w.write(part)
    path = w.close(run)
    elapsed = time.perf_counter() - t0
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss0) / 1024
    print(f"\n{TOTAL:,} rows: {elapsed:.0f} s, peak RSS grew {grown_mb:.0f} MB, "
          f"file {path.stat().st_size / 1e6:.0f} MB")
    wb = load_workbook(path, read_only=True)
    assert wb.sheetnames == ["Summary", "Inventory", "Inventory (2)", "Errors", "Run"]
    with zipfile.ZipFile(path) as z:
        assert _last_row(z, "xl/worksheets/sheet2.xml") == EXCEL_ROW_LIMIT + 1  # header + limit
    second = wb["Inventory (2)"]
    first_line = next(second.iter_rows(min_row=2, max_row=2, values_only=True))[0]
    assert first_line == EXCEL_ROW_LIMIT + 2  # the row after the last one of `Inventory`
    assert [c.value for c in next(second.iter_rows(max_row=1))][0] == "line"
    assert run.notes["xlsx_inventory_sheets"] == 2
    assert grown_mb < 1_000, "memory should stay flat in write-only mode"
