"""Report writers: one module per format behind one small streaming interface.

    writer = open_writer("xlsx", report_path(out_dir, run.started_at, "xlsx"), columns)
    for frame in chunks:          # normalized chunks, in input order
        writer.write(frame)
    path = writer.close(run)      # the path written (maybe `-2`…: see below); or writer.abort()

`columns` is the full list (`schema.column_names(keys)` or, to pin the
`metadata_*` types, `schema.columns(keys, kinds)`).

Names: `report_path` picks the first free name when the run's reports are
opened; `close` claims it atomically and, when another run took it in the
meantime, the next free `-2`, `-3`, … one (`base.publish`). A report is never
overwritten and a name clash never fails a run.
"""

from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

from .. import schema
from .base import ReportWriter, candidates
from .summary import SummaryAccumulator

FORMATS = ("xlsx", "parquet", "csv")
EXCEL_ROW_LIMIT = 1_048_575  # data rows per sheet: 1,048,576 rows minus the header (Excel spec)

__all__ = ["FORMATS", "EXCEL_ROW_LIMIT", "ReportWriter", "SummaryAccumulator", "open_writer", "report_path"]


def report_path(output_dir: Path, started_at: datetime, fmt: str) -> Path:
    """`<output_dir>/docker-inventory-<UTC yyyymmddThhmmssZ>.<fmt>`; when that exists,
    `-2`, `-3`… is added before the extension. Naive `started_at` is taken as UTC.
    Only a first choice: `ReportWriter.close` returns the name finally taken.
    Raises ValueError for an unknown format, FileExistsError when
    `base.MAX_SUFFIX` names are all taken."""
    if fmt not in FORMATS:
        raise ValueError(f"unknown report format {fmt!r}; expected one of {', '.join(FORMATS)}")
    if started_at.tzinfo is None:
        started_at = started_at.replace(tzinfo=timezone.utc)
    stem = "docker-inventory-" + started_at.astimezone(timezone.utc).strftime("%Y%m%dT%H%M%SZ")
    first = Path(output_dir) / f"{stem}.{fmt}"
    path = next((p for p in candidates(first) if not p.exists()), None)
    if path is None:
        raise FileExistsError(f"no free report name near {first}")
    return path


def open_writer(fmt: str, path: Path, columns: Sequence[str | schema.Column], *,
                excel_row_limit: int = EXCEL_ROW_LIMIT) -> ReportWriter:
    """A streaming writer for `fmt` (one of FORMATS) that will publish `path`, or the
    next free `-2`, `-3`, … name when `path` is taken at close (see module doc).

    Raises ValueError for an unknown format or a column list that does not
    start with the schema's columns.
    `excel_row_limit` (data rows per XLSX sheet) exists for tests.
    """
    if fmt == "xlsx":
        from .xlsx import XlsxWriter
        return XlsxWriter(path, columns, row_limit=excel_row_limit)
    if fmt == "parquet":
        from .parquet import ParquetReportWriter
        return ParquetReportWriter(path, columns)
    if fmt == "csv":
        from .csv import CsvWriter
        return CsvWriter(path, columns)
    raise ValueError(f"unknown report format {fmt!r}; expected one of {', '.join(FORMATS)}")
