"""What every report writer shares: the streaming interface and the atomic publish.

A writer is opened on its final path, receives normalized chunks in input
order (`write`), and `close(run)` finishes the file under a temporary name
in the same directory, then links it into place without ever replacing an
existing file. `abort()` removes the temporary file. A report on disk is
therefore always complete.
"""

from __future__ import annotations

import abc
import os
import secrets
from pathlib import Path
from typing import Sequence

import pandas as pd

from .. import schema
from ..records import RunInfo

_DTYPE_KINDS = {"Int64": schema.INT, "Float64": schema.FLOAT, "boolean": schema.BOOL}


def resolve_columns(columns: Sequence[str | schema.Column]) -> list[schema.Column | str]:
    """Column names or `schema.Column`s -> Columns; `metadata_*` names stay names
    (their kind is taken from the first chunk's dtype). Raises ValueError
    when the base columns are not first and in order."""
    names = [c.name if isinstance(c, schema.Column) else str(c) for c in columns]
    schema.check_columns(names)
    out: list[schema.Column | str] = []
    for c in columns:
        if isinstance(c, schema.Column):
            out.append(c)
        else:
            out.append(schema.base_column(c) or c)
    return out


def kind_of_dtype(dtype: object) -> str:
    """Schema kind of a pandas dtype (for `metadata_*` columns): Int64, Float64,
    boolean keep their kind, anything else is TEXT."""
    return _DTYPE_KINDS.get(str(dtype), schema.TEXT)


def publish(tmp: Path, target: Path) -> Path:
    """Move the finished `tmp` to `target` without replacing an existing file.

    Hard link + unlink, so a file that appeared meanwhile is never clobbered
    (FileExistsError, `tmp` removed). On file systems without hard links,
    an existence check then `os.replace`.
    """
    try:
        os.link(tmp, target)
    except FileExistsError:
        tmp.unlink(missing_ok=True)
        raise FileExistsError(f"report already exists, not overwritten: {target}") from None
    except OSError:
        if target.exists():
            tmp.unlink(missing_ok=True)
            raise FileExistsError(f"report already exists, not overwritten: {target}") from None
        os.replace(tmp, target)
        return target
    tmp.unlink()
    return target


class ReportWriter(abc.ABC):
    """Streaming report writer (see module doc).

    `columns` is the full column list (base + `metadata_*`), as names or
    `schema.Column`s. Raises FileExistsError at construction when `path`
    exists. Usable as a context manager: an exception inside aborts.
    """

    extension: str = ""

    def __init__(self, path: Path, columns: Sequence[str | schema.Column]) -> None:
        self.path = Path(path)
        if self.path.exists():
            raise FileExistsError(f"report already exists, not overwritten: {self.path}")
        self.tmp_path = self.path.with_name(f".{self.path.name}.{os.getpid()}-{secrets.token_hex(4)}.partial")
        self._columns = resolve_columns(columns)
        self.names = [c.name if isinstance(c, schema.Column) else c for c in self._columns]
        self.rows_written = 0
        self._done = False

    # ------------------------------------------------------------ helpers

    def columns_for(self, frame: pd.DataFrame) -> list[schema.Column]:
        """Resolve the still-unknown `metadata_*` kinds from `frame` (first chunk) and return
        the Columns. Later chunks are converted to these kinds."""
        if any(isinstance(c, str) for c in self._columns):
            self._columns = [
                c if isinstance(c, schema.Column)
                else schema.Column(c, kind_of_dtype(frame[c].dtype) if c in frame else schema.TEXT,
                                   f"metadata column {c}")
                for c in self._columns
            ]
        return self._columns  # type: ignore[return-value]

    def conform(self, frame: pd.DataFrame) -> pd.DataFrame:
        """`frame` with exactly this writer's columns, in order. A `metadata_*` column the
        chunk lacks is added empty; a missing base column raises ValueError."""
        missing = [n for n in self.names if n not in frame.columns]
        if missing:
            if any(schema.base_column(n) for n in missing):
                raise ValueError(f"frame lacks schema columns: {missing}")
            frame = frame.assign(**{n: pd.Series(pd.NA, index=frame.index, dtype="string") for n in missing})
        return frame[self.names]

    # ------------------------------------------------------------ interface

    def write(self, frame: pd.DataFrame) -> None:
        """Append one normalized chunk (rows in input order)."""
        if self._done:
            raise ValueError("writer is closed")
        frame = self.conform(frame)
        self._write(frame, self.columns_for(frame))
        self.rows_written += len(frame)

    def close(self, run: RunInfo) -> Path:
        """Finish the file and move it into place; returns the report's path.
        Writers may add counters to `run.notes`. On failure the temp file is removed."""
        if self._done:
            raise ValueError("writer is closed")
        try:
            self._finish(run)
            self._done = True
            return publish(self.tmp_path, self.path)
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Drop everything written so far; the report path is left untouched."""
        self._done = True
        try:
            self._discard()
        finally:
            self.tmp_path.unlink(missing_ok=True)

    def __enter__(self) -> "ReportWriter":
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None and not self._done:
            self.abort()

    @abc.abstractmethod
    def _write(self, frame: pd.DataFrame, columns: list[schema.Column]) -> None: ...

    @abc.abstractmethod
    def _finish(self, run: RunInfo) -> None:
        """Write everything to `self.tmp_path`."""

    def _discard(self) -> None:
        """Release resources without producing a file (default: nothing)."""
