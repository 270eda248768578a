"""The `Summary` and `Run` sheets of the XLSX report (filled at close).

Summary: tables from `SummaryAccumulator` in column A-D, native charts to
the right in column F (bar: rows by status; bar: top images by total size in
MiB; column: versions pushed per month, UTC). Run: one `what | value` row per
fact of `RunInfo` (never an API key: RunInfo holds none), counts by status,
options and the writers' counters (`run.notes`).

Printing the Summary: landscape at a fixed PRINT_SCALE (65 %), at which
columns A-F (152 characters: about 11.4 in in Excel's Calibri, 14.7 in in
LibreOffice with a wider substitute font) fit the printable width of
landscape Letter (10 in with 0.5 in margins) and A4 (10.7 in). Rows have a
fixed height (15 pt) and a manual page break follows every ROWS_PER_PAGE
rows (46 rows x 15 pt x 65 % = 449 pt, less than the 509 pt printable height
of landscape A4 and 525 pt of Letter), so pages break exactly there on
either paper. Each chart is anchored to rows (two-cell anchor) inside one
such page band, never across a break. A fixed zoom rather than fit-to-width
because Excel may ignore manual page breaks under "Fit to".
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from openpyxl.chart import BarChart, Reference
from openpyxl.drawing.spreadsheet_drawing import AnchorMarker, TwoCellAnchor
from openpyxl.worksheet.pagebreak import Break

from ..records import RunInfo
from .summary import TOP_N, SummaryAccumulator
from .xlsx_cells import CellMaker, StyleKey, XCell, setup_print, stream_rows

DATE_FORMAT = "yyyy-mm-dd hh:mm:ss"
MIB = 1024 ** 2
SUMMARY_WIDTHS = (("A", 36), ("B", 18), ("C", 18), ("D", 18), ("E", 2), ("F", 60))  # characters
CHART_COL = 5  # 0-based: column F, one chart as wide as the column
PRINT_SCALE = 65  # percent (see module doc)
ROW_HEIGHT_PT = 15
ROWS_PER_PAGE = 46
CHART_ROWS = 18  # a chart's height in rows (about 9.5 cm on screen)


def _naive_utc(dt: datetime | None) -> datetime | None:
    if dt is None:
        return None
    if dt.tzinfo is not None:
        dt = dt.astimezone(timezone.utc).replace(tzinfo=None)
    return dt


class _Rows:
    """Appends rows to a write-only sheet and remembers the row number."""

    def __init__(self, ws: Any, cells: CellMaker) -> None:
        self.ws, self.cells, self.n = ws, cells, 0

    def add(self, *values: Any, fmt: dict[int, str] | None = None) -> int:
        fmt = fmt or {}
        self.ws.append([self.cells.value(v, fmt.get(i, "General")) for i, v in enumerate(values)])
        self.n += 1
        return self.n

    def title(self, text: str) -> int:
        self.ws.append([XCell(text, "s", StyleKey(header=True))])
        self.n += 1
        return self.n

    def header(self, *names: str) -> int:
        self.ws.append([self.cells.header(n) for n in names])
        self.n += 1
        return self.n

    def blank(self) -> None:
        self.ws.append([])
        self.n += 1


def _bar(title: str, x_title: str, y_title: str, data: tuple, horizontal: bool = False) -> BarChart:
    """A bar chart of the table in columns A (categories) and B (values), header row `head`
    to row `last`: `data` = (worksheet, head, last)."""
    ws, head, last = data
    chart = BarChart()
    chart.type = "bar" if horizontal else "col"
    chart.title = title
    chart.x_axis.title = x_title
    chart.y_axis.title = y_title
    chart.legend = None
    # openpyxl >= 3.1 hides axes unless told otherwise
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    chart.add_data(Reference(ws, min_col=2, min_row=head, max_row=last), titles_from_data=True)
    chart.set_categories(Reference(ws, min_col=1, min_row=head + 1, max_row=last))
    return chart


def place_charts(ws: Any, charts: list[tuple[BarChart, int]], first_row: int = 2) -> int:
    """Anchor each `(chart, height in rows)` in column F, top to bottom, each inside
    one ROWS_PER_PAGE band (moved to the next band when it would cross a page
    break). Returns the last row a chart covers (0 when none)."""
    row, last = first_row, 0
    for chart, rows in charts:
        rows = min(rows, ROWS_PER_PAGE - 2)
        band_end = ((row - 1) // ROWS_PER_PAGE + 1) * ROWS_PER_PAGE
        if row + rows - 1 > band_end:
            row = band_end + 2  # one blank row at the top of the next page
        anchor = TwoCellAnchor()
        anchor._from = AnchorMarker(col=CHART_COL, row=row - 1)
        anchor.to = AnchorMarker(col=CHART_COL + 1, row=row - 1 + rows)
        chart.anchor = anchor
        ws.add_chart(chart)
        last = row + rows - 1
        row = last + 2
    return last


def write_summary_sheet(ws: Any, acc: SummaryAccumulator, run: RunInfo, cells: CellMaker) -> None:
    """Fill the (empty, write-only) Summary sheet; charts in column F (see module doc)."""
    for letter, width in SUMMARY_WIDTHS:
        ws.column_dimensions[letter].width = width
    ws.sheet_format.defaultRowHeight = ROW_HEIGHT_PT
    ws.sheet_format.customHeight = True
    setup_print(ws, title_rows=None, scale=PRINT_SCALE)
    stream_rows(ws, cells)
    r = _Rows(ws, cells)
    r.title("Docker image inventory: summary")
    r.add("Generated (UTC)", _naive_utc(run.ended_at or datetime.now(timezone.utc)), fmt={1: DATE_FORMAT})
    r.add("Run", "complete" if run.complete else "interrupted (partial report)")
    r.add("Rows", acc.rows, fmt={1: "#,##0"})
    r.blank()

    charts: list[tuple[BarChart, int]] = []
    r.title("Rows by status")
    head = r.header("status", "rows")
    for status, n in acc.status_counts().items():
        r.add(status, n, fmt={1: "#,##0"})
    if r.n > head:
        chart = _bar("Rows by status", "status", "rows", (ws, head, r.n))
        charts.append((chart, CHART_ROWS))
    r.blank()

    r.title("Quarantine (distinct ok versions)")
    r.header("state", "versions")
    for state, n in acc.quarantine().items():
        r.add(state.replace("_", " "), n, fmt={1: "#,##0"})
    reasons = acc.quarantine_reasons()
    if reasons:
        r.header("quarantine reason", "versions")
        for reason, n in reasons[:TOP_N]:
            r.add(reason, n, fmt={1: "#,##0"})
    r.blank()

    r.title(f"Top {TOP_N} images by versions")
    r.header("image", "versions", "registry_ref")
    for ref, image, n in acc.top_images_by_versions():
        r.add(image, n, ref, fmt={1: "#,##0"})
    r.blank()

    r.title(f"Top {TOP_N} images by total size (distinct digests)")
    head = r.header("image", "total size (MiB)", "total size (bytes)", "registry_ref")
    for ref, image, size in acc.top_images_by_size():
        r.add(image, round(size / MIB, 2), size, ref, fmt={1: "#,##0.00", 2: "#,##0"})
    if r.n > head:
        chart = _bar(f"Top {TOP_N} images by total size", "image", "total size (MiB)", (ws, head, r.n), horizontal=True)
        charts.append((chart, max(CHART_ROWS, r.n - head + 6)))  # a row per bar, and room
    r.blank()

    r.title(f"Top {TOP_N} images by downloads (distinct digests)")
    r.header("image", "downloads", "registry_ref")
    for ref, image, n in acc.top_images_by_downloads():
        r.add(image, n, ref, fmt={1: "#,##0"})
    r.blank()

    r.title("Pushes per month (UTC, from created_at)")
    head = r.header("month (UTC)", "versions pushed")
    for month, n in acc.pushes_per_month():
        r.add(month, n, fmt={1: "#,##0"})
    if r.n > head:
        chart = _bar("Versions pushed per month", "month (UTC)", "versions pushed", (ws, head, r.n))
        charts.append((chart, CHART_ROWS))
    r.blank()

    r.title(f"Top {TOP_N} pushers (pushedBy display name, else uid)")
    r.header("pushed by", "versions pushed")
    for who, n in acc.top_pushers():
        r.add(who, n, fmt={1: "#,##0"})

    last = max(r.n, place_charts(ws, charts))
    for row in range(ROWS_PER_PAGE, last, ROWS_PER_PAGE):
        ws.row_breaks.append(Break(id=row))  # a page ends after this row
    ws.print_area = f"A1:{SUMMARY_WIDTHS[-1][0]}{last}"


def _json(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def write_run_sheet(ws: Any, run: RunInfo, rows_written: int, cells: CellMaker) -> None:
    """Fill the Run sheet: `what | value` rows."""
    ws.column_dimensions["A"].width = 34
    ws.column_dimensions["B"].width = 70
    ws.freeze_panes = "A2"
    setup_print(ws)
    stream_rows(ws, cells)
    r = _Rows(ws, cells)
    r.header("what", "value")
    r.add("tool version", run.tool_version)
    r.add("started (UTC)", _naive_utc(run.started_at), fmt={1: DATE_FORMAT})
    r.add("ended (UTC)", _naive_utc(run.ended_at), fmt={1: DATE_FORMAT})
    r.add("duration (s)", round(run.elapsed_s, 3) if run.elapsed_s is not None else None)
    r.add("complete", "yes" if run.complete else "no: interrupted, report is partial")
    r.add("input", run.input_name)
    r.add("input rows", run.input_rows, fmt={1: "#,##0"})
    r.add("input SHA-256", run.input_sha256)
    r.add("rows in report", rows_written, fmt={1: "#,##0"})
    r.add("base URL", run.base_url)
    r.add("requests", run.requests, fmt={1: "#,##0"})
    r.add("retries", run.retries, fmt={1: "#,##0"})
    r.add("duplicate rows not re-requested", run.duplicates_saved, fmt={1: "#,##0"})
    for status, n in run.counts.items():
        r.add(f"rows {status}", n, fmt={1: "#,##0"})
    for key, value in sorted(run.options.items()):
        r.add(f"option {key}", _json(value))
    for key, value in sorted(run.notes.items()):
        r.add(key.replace("_", " "), _json(value))
    ws.print_area = f"A1:B{r.n}"  # long values overflowing column B stay off the pages
