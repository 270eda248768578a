"""XLSX report, streamed with openpyxl's write-only mode (memory stays flat).

Sheets, in order:
- `Summary`: the run's aggregates (`summary.SummaryAccumulator`) with native
  bar/column charts; created first, filled at close (write-only sheets
  stream to their own temp files, so filling it last costs no memory).
- `Inventory`, `Inventory (2)`, …: every row; Excel allows 1,048,576 rows a
  sheet, so after `row_limit` data rows (default 1,048,575) the next sheet
  starts, header repeated. Header bold and frozen, autofilter, widths fitted
  to the first 1,000 rows (bounded), times as real dates in UTC (`(UTC)` in
  the header), `size_bytes`/`downloads_count` as `#,##0` numbers, `url` a
  real hyperlink (the first 65,530 per sheet: Excel's limit), quarantined
  rows filled, `tags` joined with `, ` (`(untagged)` for an empty list, empty
  when the API sent no tags). Cell types and number formats: as `schema.py`
  documents them (checked by the tests).
- `Errors`, `Errors (2)`, …: the rows not ok (line, key columns, status,
  http_status, error, attempts, fetched_at).
- `Run`: what the run was (`RunInfo`) and what Excel's limits changed.
Printing (`xlsx_cells.setup_print`): every sheet landscape with a
`sheet: page N of M` footer; Inventory, Errors and Run fit to one page wide
with their header row repeated on each page; Summary at a fixed zoom with
its charts kept inside printed pages (`xlsx_summary`).
Cell rules (text safety, 32,767-character cut, control characters): see
`xlsx_cells.py`. No formula cell is ever written.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import pandas as pd
from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from .. import schema
from ..records import RunInfo, Status
from .base import ReportWriter
from .summary import SummaryAccumulator
from .xlsx_cells import MAX_HYPERLINKS_PER_SHEET, CellMaker, XCell, setup_print, stream_rows
from .xlsx_summary import write_run_sheet, write_summary_sheet

SHEET_ROW_LIMIT = 1_048_575  # Excel: 1,048,576 rows a sheet, one is the header
WIDTH_SAMPLE_ROWS = 1_000
MIN_WIDTH, MAX_WIDTH = 8, 60
ERROR_COLUMNS = ("line", "registry_ref", "artifact", "version", "version_type", "digest",
                 "status", "http_status", "error", "attempts", "fetched_at")
_BAD_TITLE_RE = re.compile(r"[\[\]:*?/\\]")


def sheet_title(name: str) -> str:
    """A legal sheet name: no `[]:*?/\\`, not starting/ending with `'`, ≤ 31 characters (Excel)."""
    name = _BAD_TITLE_RE.sub("_", name).strip("'") or "Sheet"
    return name[:31]


class _SheetSeries:
    """`Inventory`, `Inventory (2)`, …: write-only sheets of at most `limit` data rows each."""

    def __init__(self, wb: Workbook, title: str, columns: Sequence[schema.Column], limit: int,
                 cells: CellMaker, link_col: int | None = None) -> None:
        self.wb, self.title, self.columns, self.limit = wb, title, list(columns), limit
        self.cells, self.link_col = cells, link_col
        self.sheets: list[Any] = []
        self.widths: list[float] | None = None
        self._rows = 0  # data rows in the current sheet
        self._links = 0
        self._start()

    def _start(self) -> None:
        n = len(self.sheets) + 1
        ws = self.wb.create_sheet(sheet_title(self.title if n == 1 else f"{self.title} ({n})"))
        ws.freeze_panes = "A2"
        setup_print(ws)  # landscape, one page wide, header row on every printed page
        self.sheets.append(ws)
        self._rows = self._links = 0
        self._headed = False

    def _head(self) -> None:
        ws = self.sheets[-1]
        for i, col in enumerate(self.columns, 1):
            dim = ws.column_dimensions[get_column_letter(i)]
            dim.width = self.widths[i - 1] if self.widths else max(MIN_WIDTH, len(col.excel_header) + 2)
        stream_rows(ws, self.cells)  # after the column widths: they are written with the sheet's top
        ws.append([self.cells.header(c.excel_header) for c in self.columns])
        self._headed = True

    def fit_widths(self, frame: pd.DataFrame) -> None:
        """Column widths from the header and the first rows of the first chunk (bounded)."""
        if self.widths is not None or frame.empty:
            return
        sample = frame.head(WIDTH_SAMPLE_ROWS)
        widths = []
        for col in self.columns:
            s = sample[col.name]
            if col.kind == schema.TIMESTAMP:
                w = 19
            elif col.kind == schema.LIST:
                w = max((len(", ".join(v) or schema.UNTAGGED) for v in s if isinstance(v, list)), default=0)
            elif col.kind == schema.TEXT:
                w = int(s.str.len().max(skipna=True) or 0) if s.notna().any() else 0
            else:
                w = max((len(f"{v:,}") if isinstance(v, int) else len(str(v)) for v in s.dropna()), default=0)
            widths.append(float(min(MAX_WIDTH, max(MIN_WIDTH, len(col.excel_header) + 2, w + 2))))
        self.widths = widths

    def append(self, rows: list[list]) -> None:
        link_col = self.link_col
        for row in rows:
            if self._rows >= self.limit:
                self._start()
            if not self._headed:
                self._head()
            ws = self.sheets[-1]
            if link_col is not None and row[link_col] is not None:
                if self._links < MAX_HYPERLINKS_PER_SHEET:
                    v = row[link_col] = self.cells.link(row[link_col])
                    if isinstance(v, XCell) and v.link is not None:
                        self._links += 1
                else:
                    self.cells.counters.hyperlinks_omitted += 1
            ws.append(row)
            self._rows += 1

    def finish(self) -> None:
        """Header on an empty series; autofilter and print area over each sheet's rows
        (the print area keeps long text overflowing past the last column off the pages)."""
        if not self._headed:
            self._head()
        last = get_column_letter(len(self.columns))
        for i, ws in enumerate(self.sheets):
            rows = self.limit if i < len(self.sheets) - 1 else self._rows
            ws.auto_filter.ref = f"A1:{last}{rows + 1}"
            ws.print_area = f"A1:{last}{rows + 1}"


class XlsxWriter(ReportWriter):
    """Streaming XLSX writer (see module doc). `row_limit`: data rows per sheet."""

    extension = "xlsx"

    def __init__(self, path: Path, columns: Sequence[str | schema.Column], *,
                 row_limit: int = SHEET_ROW_LIMIT) -> None:
        super().__init__(path, columns)
        if not 1 <= row_limit <= SHEET_ROW_LIMIT:
            raise ValueError(f"row_limit must be 1..{SHEET_ROW_LIMIT}")
        self.row_limit = row_limit
        self.wb = Workbook(write_only=True)
        self.ws_summary = self.wb.create_sheet("Summary")
        self.cells = CellMaker(self.ws_summary)
        self.summary = SummaryAccumulator()
        self._inventory: _SheetSeries | None = None
        self._errors: _SheetSeries | None = None

    def _series(self, columns: list[schema.Column]) -> tuple[_SheetSeries, _SheetSeries]:
        if self._inventory is None:
            names = [c.name for c in columns]
            self._inventory = _SheetSeries(self.wb, "Inventory", columns, self.row_limit, self.cells,
                                           link_col=names.index("url"))
            by_name = dict(zip(names, columns))
            self._errors = _SheetSeries(self.wb, "Errors", [by_name[n] for n in ERROR_COLUMNS],
                                        self.row_limit, self.cells)
        assert self._errors is not None
        return self._inventory, self._errors

    def _rows(self, frame: pd.DataFrame, columns: Sequence[schema.Column]) -> list[list]:
        cols = [self.cells.column(frame[c.name], c) for c in columns]
        rows = [list(r) for r in zip(*cols)]
        if "is_quarantined" in frame:
            flags = frame["is_quarantined"].fillna(False).to_numpy(dtype=bool)
            for i in flags.nonzero()[0]:
                rows[i] = self.cells.fill_row(rows[i])
        return rows

    def _write(self, frame: pd.DataFrame, columns: list[schema.Column]) -> None:
        inventory, errors = self._series(columns)
        self.summary.add(frame)
        if frame.empty:
            return
        inventory.fit_widths(frame)
        inventory.append(self._rows(frame, columns))
        bad = frame[frame["status"] != str(Status.OK)]
        if not bad.empty:
            errors.fit_widths(bad)
            errors.append(self._rows(bad, errors.columns))

    def _finish(self, run: RunInfo) -> None:
        if self._inventory is None:
            self._series([c if isinstance(c, schema.Column) else schema.Column(c, schema.TEXT, c)
                          for c in self._columns])
        assert self._inventory is not None and self._errors is not None
        self._inventory.finish()
        self._errors.finish()
        counters = self.cells.counters
        run.notes["xlsx_cells_truncated"] = counters.truncated
        run.notes["xlsx_cells_control_chars_removed"] = counters.illegal_removed
        if counters.hyperlinks_omitted:
            run.notes["xlsx_hyperlinks_omitted"] = counters.hyperlinks_omitted
        if len(self._inventory.sheets) > 1:
            run.notes["xlsx_inventory_sheets"] = len(self._inventory.sheets)
        ws_run = self.wb.create_sheet("Run")
        write_summary_sheet(self.ws_summary, self.summary, run, self.cells)
        write_run_sheet(ws_run, run, self.rows_written, self.cells)
        order: list[Any] = [self.ws_summary, *self._inventory.sheets, *self._errors.sheets, ws_run]
        self.wb._sheets = order
        self.wb.active = 0
        self.wb.save(self.tmp_path)

    def _discard(self) -> None:
        """Close and remove the sheets' temporary files (openpyxl would only at exit)."""
        for ws in getattr(self.wb, "_sheets", []):
            if getattr(ws, "_writer", None) is None:
                continue
            try:
                if not ws.closed:
                    ws.close()
                ws._writer.cleanup()
            except Exception:  # noqa: BLE001 - being thrown away
                pass
