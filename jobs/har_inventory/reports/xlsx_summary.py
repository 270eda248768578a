"""The `Summary` and `Run` sheets of the XLSX report (filled at close).

Summary: tables from `SummaryAccumulator` in column A-D, native charts to
the right (bar: rows by status; bar: top images by total size in MiB;
column: versions pushed per month, UTC). Run: one `what | value` row per
fact of `RunInfo` (never an API key: RunInfo holds none), counts by status,
options and the writers' counters (`run.notes`).
"""

from __future__ import annotations

import json
from datetime import datetime, timezone
from typing import Any

from openpyxl.chart import BarChart, Reference

from ..records import RunInfo
from .summary import TOP_N, SummaryAccumulator
from .xlsx_cells import CellMaker, StyleKey, XCell, stream_rows

DATE_FORMAT = "yyyy-mm-dd hh:mm:ss"
MIB = 1024 ** 2


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


def _bar(title: str, x_title: str, y_title: str, horizontal: bool = False) -> BarChart:
    chart = BarChart()
    chart.type = "bar" if horizontal else "col"
    chart.title = title
    chart.x_axis.title = x_title
    chart.y_axis.title = y_title
    chart.legend = None
    chart.width, chart.height = 18, 8
    # openpyxl >= 3.1 hides axes unless told otherwise
    chart.x_axis.delete = False
    chart.y_axis.delete = False
    return chart


def write_summary_sheet(ws: Any, acc: SummaryAccumulator, run: RunInfo, cells: CellMaker) -> None:
    """Fill the (empty, write-only) Summary sheet; charts anchored in column G."""
    for letter, width in (("A", 36), ("B", 18), ("C", 18), ("D", 18)):
        ws.column_dimensions[letter].width = width
    stream_rows(ws, cells)
    r = _Rows(ws, cells)
    r.title("Docker image inventory: summary")
    r.add("Generated (UTC)", _naive_utc(run.ended_at or datetime.now(timezone.utc)), fmt={1: DATE_FORMAT})
    r.add("Run", "complete" if run.complete else "interrupted (partial report)")
    r.add("Rows", acc.rows, fmt={1: "#,##0"})
    r.blank()

    charts: list[BarChart] = []
    r.title("Rows by status")
    head = r.header("status", "rows")
    for status, n in acc.status_counts().items():
        r.add(status, n, fmt={1: "#,##0"})
    if r.n > head:
        chart = _bar("Rows by status", "status", "rows")
        chart.add_data(Reference(ws, min_col=2, min_row=head, max_row=r.n), titles_from_data=True)
        chart.set_categories(Reference(ws, min_col=1, min_row=head + 1, max_row=r.n))
        charts.append(chart)
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
        chart = _bar(f"Top {TOP_N} images by total size", "image", "total size (MiB)", horizontal=True)
        chart.add_data(Reference(ws, min_col=2, min_row=head, max_row=r.n), titles_from_data=True)
        chart.set_categories(Reference(ws, min_col=1, min_row=head + 1, max_row=r.n))
        chart.height = max(8, 0.5 * (r.n - head) + 2)
        charts.append(chart)
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
        chart = _bar("Versions pushed per month", "month (UTC)", "versions pushed")
        chart.add_data(Reference(ws, min_col=2, min_row=head, max_row=r.n), titles_from_data=True)
        chart.set_categories(Reference(ws, min_col=1, min_row=head + 1, max_row=r.n))
        charts.append(chart)
    r.blank()

    r.title(f"Top {TOP_N} pushers (pushedBy display name, else uid)")
    r.header("pushed by", "versions pushed")
    for who, n in acc.top_pushers():
        r.add(who, n, fmt={1: "#,##0"})

    row = 2
    for chart in charts:
        ws.add_chart(chart, f"G{row}")
        row += int(chart.height * 2) + 2


def _json(value: Any) -> Any:
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return json.dumps(value, sort_keys=True, default=str)


def write_run_sheet(ws: Any, run: RunInfo, rows_written: int, cells: CellMaker) -> None:
    """Fill the Run sheet: `what | value` rows."""
    ws.column_dimensions["A"].width = 34
    ws.column_dimensions["B"].width = 70
    ws.freeze_panes = "A2"
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
