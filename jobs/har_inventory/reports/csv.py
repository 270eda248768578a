"""CSV report: UTF-8 with BOM (so Excel detects the encoding), the Inventory columns.

`tags` joined with `, `; times ISO 8601 UTC with milliseconds
(`2024-06-10T06:33:54.567Z`); booleans `true`/`false`; missing values empty.
Written with the `csv` module's default (Excel) dialect, so embedded commas,
quotes and newlines are quoted. Nothing is escaped against spreadsheet
formulas here (a CSV has no cell types): the XLSX report is the one for Excel.
"""

from __future__ import annotations

import csv as _csv
from pathlib import Path
from typing import IO, Sequence

import pandas as pd

from .. import schema
from ..records import RunInfo
from .base import ReportWriter


def _text_column(series: pd.Series, col: schema.Column) -> list:
    """One column as a list of CSV field values (str or None)."""
    if col.kind == schema.TIMESTAMP:
        out = series.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return [None if not isinstance(v, str) else v[:-4] + "Z" for v in out.tolist()]
    if col.kind == schema.LIST:
        return [", ".join(map(str, v)) if isinstance(v, list) else None for v in series.tolist()]
    if col.kind == schema.BOOL:
        return [None if v is pd.NA or v is None else ("true" if v else "false") for v in series.tolist()]
    if col.kind == schema.FLOAT:
        return [None if v is pd.NA or v is None else repr(float(v)) for v in series.tolist()]
    return [None if v is pd.NA or v is None else v for v in series.tolist()]


class CsvWriter(ReportWriter):
    """Streaming CSV writer (see module doc)."""

    extension = "csv"

    def __init__(self, path: Path, columns: Sequence[str | schema.Column]) -> None:
        super().__init__(path, columns)
        self._fh: IO[str] | None = open(self.tmp_path, "x", encoding="utf-8-sig", newline="")
        self._csv = _csv.writer(self._fh)
        self._csv.writerow(self.names)

    def _write(self, frame: pd.DataFrame, columns: list[schema.Column]) -> None:
        cols = [_text_column(frame[c.name], c) for c in columns]
        self._csv.writerows(zip(*cols))

    def _finish(self, run: RunInfo) -> None:
        assert self._fh is not None
        self._fh.close()
        self._fh = None

    def _discard(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
