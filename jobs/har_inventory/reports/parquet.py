"""Parquet report: one zstd row group per chunk, explicit Arrow schema from `schema.py`.

Types: text `string`, counts `int64`, `is_quarantined` `bool`, times
`timestamp[ms, tz=UTC]`, `tags` `list<element: string>` (an untagged digest
`[]`, no tag information null); each field carries its
description in the field metadata (`description`). The run (`RunInfo.as_dict()`)
is stored as JSON in the file's key-value metadata under `har_inventory.run`,
added to the footer at close (`ParquetWriter.add_key_value_metadata`).

`metadata_*` column types are fixed by the first chunk (or by the
`schema.Column`s given); a later chunk whose values cannot be cast to that
type (the caller did not pass run-wide `metadata_kinds` to `normalize`) gets
nulls there, counted in `run.notes["parquet_values_dropped"]`; the values
stay in `metadata_json`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Sequence

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from .. import schema
from ..records import RunInfo
from .base import ReportWriter

RUN_METADATA_KEY = "har_inventory.run"
COMPRESSION = "zstd"


def arrow_schema(columns: Sequence[schema.Column]) -> pa.Schema:
    """The Arrow schema of the report (nullable fields, descriptions as field metadata)."""
    return pa.schema([pa.field(c.name, c.arrow_type, nullable=True,
                               metadata={"description": c.description}) for c in columns])


def _array(series: pd.Series, col: schema.Column) -> tuple[pa.Array, int]:
    """Series -> Arrow array of `col.arrow_type`; returns (array, values dropped)."""
    target = col.arrow_type
    try:
        return pa.array(series, type=target, from_pandas=True), 0
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError):
        pass
    values = series.astype(object).where(series.notna(), None).tolist()
    if col.kind == schema.TEXT:
        return pa.array([None if v is None else str(v) for v in values], type=target), 0
    if col.kind == schema.LIST:
        ok = [v if isinstance(v, list) and all(isinstance(t, str) for t in v) else None for v in values]
    else:
        ok = []
        for v in values:
            try:
                ok.append(pa.scalar(v).cast(target).as_py() if v is not None else None)
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError, TypeError, ValueError):
                ok.append(None)
    dropped = sum(1 for a, b in zip(values, ok) if a is not None and b is None)
    return pa.array(ok, type=target), dropped


class ParquetReportWriter(ReportWriter):
    """Streaming Parquet writer (see module doc)."""

    extension = "parquet"

    def __init__(self, path: Path, columns: Sequence[str | schema.Column]) -> None:
        super().__init__(path, columns)
        self._writer: pq.ParquetWriter | None = None
        self._schema: pa.Schema | None = None
        self._dropped = 0

    def _open(self, cols: list[schema.Column]) -> pq.ParquetWriter:
        if self._writer is None:
            self._schema = arrow_schema(cols)
            self._writer = pq.ParquetWriter(self.tmp_path, self._schema, compression=COMPRESSION)
        return self._writer

    def _write(self, frame: pd.DataFrame, columns: list[schema.Column]) -> None:
        writer = self._open(columns)
        if frame.empty:
            return
        arrays = []
        for col in columns:
            arr, dropped = _array(frame[col.name], col)
            self._dropped += dropped
            arrays.append(arr)
        writer.write_table(pa.Table.from_arrays(arrays, schema=self._schema))

    def _finish(self, run: RunInfo) -> None:
        if self._writer is None:  # no chunk at all: unknown metadata kinds are text
            self._open([c if isinstance(c, schema.Column) else schema.Column(c, schema.TEXT, c)
                        for c in self._columns])
        if self._dropped:
            run.notes["parquet_values_dropped"] = self._dropped
        assert self._writer is not None
        self._writer.add_key_value_metadata({RUN_METADATA_KEY: json.dumps(run.as_dict(), default=str)})
        self._writer.close()

    def _discard(self) -> None:
        if self._writer is not None:
            try:
                self._writer.close()
            except Exception:  # noqa: BLE001 - the file is being thrown away
                pass
