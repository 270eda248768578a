"""CSV report: UTF-8 with BOM (so Excel detects the encoding), the Inventory columns.

`tags` joined with `, ` (an empty list, an untagged digest: `(untagged)`;
missing tags: empty); times ISO 8601 UTC with milliseconds
(`2024-06-10T06:33:54.567Z`); booleans `true`/`false`; numbers plain
(`-3`, `1048576`); missing values empty. Written with the `csv` module's
default (Excel) dialect, so embedded commas, quotes and newlines are quoted.

Formula injection (OWASP "CSV Injection"): the BOM makes Excel open the file
directly, and Excel, LibreOffice and Google Sheets evaluate a cell that
starts with a formula trigger. So a value of a text column (`text` and
`tags` kinds, `metadata_*` text included) whose first character is `=`,
`+`, `-`, `@`, tab (U+0009) or carriage return (U+000D) is written with a
single quote `'` in front (`=1+1` -> `'=1+1`, `-2+3` -> `'-2+3`), unless the
whole value is a plain decimal number (`PLAIN_NUMBER_RE`: optional sign,
ASCII digits, optional fraction and exponent, e.g. `-1`, `+2.5`, `-1e5`),
which a spreadsheet reads as that number, not a formula. Numeric, boolean
and time columns are never changed. The quote is part of the CSV value:
programs reading the CSV see it; the Parquet and XLSX reports keep the
value as it was (XLSX marks such cells text with Excel's quote prefix).
"""

from __future__ import annotations

import csv as _csv
import re
from pathlib import Path
from typing import IO, Sequence

import pandas as pd

from .. import schema
from ..records import RunInfo
from .base import FORMULA_TRIGGERS, ReportWriter

PLAIN_NUMBER_RE = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")


def neutralize(value: str) -> str:
    """`value` with `'` in front when a spreadsheet would run it as a formula (module doc)."""
    if value and value[0] in FORMULA_TRIGGERS and not PLAIN_NUMBER_RE.fullmatch(value):
        return "'" + value
    return value


def _text_column(series: pd.Series, col: schema.Column) -> list:
    """One column as a list of CSV field values (str or None)."""
    if col.kind == schema.TIMESTAMP:
        out = series.dt.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        return [None if not isinstance(v, str) else v[:-4] + "Z" for v in out.tolist()]
    if col.kind == schema.LIST:
        return [(neutralize(", ".join(map(str, v))) if v else schema.UNTAGGED) if isinstance(v, list) else None
                for v in series.tolist()]
    if col.kind == schema.BOOL:
        return [None if v is pd.NA or v is None else ("true" if v else "false") for v in series.tolist()]
    if col.kind == schema.FLOAT:
        return [None if v is pd.NA or v is None else repr(float(v)) for v in series.tolist()]
    if col.kind == schema.TEXT:
        return [None if v is pd.NA or v is None else neutralize(str(v)) for v in series.tolist()]
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
