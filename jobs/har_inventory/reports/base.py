"""What every report writer shares: the streaming interface and the atomic publish.

A writer is opened on its preferred path, receives normalized chunks in
input order (`write`), and `close(run)` finishes the file under a temporary
name in the same directory, then links it into place without ever replacing
an existing file: when the name is taken by then (another run started in the
same second with the same output directory), the next free `-2`, `-3`, …
name is used, and `close` returns the path actually written. `abort()`
removes the temporary file. A report on disk is therefore always complete.
"""

from __future__ import annotations

import abc
import errno
import os
import re
import secrets
from pathlib import Path
from typing import Sequence

import pandas as pd

from .. import schema
from ..records import RunInfo

_DTYPE_KINDS = {"Int64": schema.INT, "Float64": schema.FLOAT, "boolean": schema.BOOL}
_NUMBERED_RE = re.compile(r"(?P<base>.+)-(?P<n>[2-9]|[1-9][0-9]+)")
MAX_SUFFIX = 10_000  # names tried before giving up (FileExistsError)
# First characters that make Excel/LibreOffice/Sheets read text as a formula (OWASP CSV Injection).
FORMULA_TRIGGERS = frozenset("=+-@\t\r")


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


def numbered(path: Path, n: int) -> Path:
    """`dir/stem.ext` -> `dir/stem-<n>.ext` (n ≥ 2); n = 1 gives `path` itself."""
    path = Path(path)
    return path if n == 1 else path.with_name(f"{path.stem}-{n}{path.suffix}")


def candidates(path: Path):
    """The names a report may take, in order: `path`, then the next numbered ones.

    `r.csv` -> `r.csv`, `r-2.csv`, `r-3.csv`, …; a path that already ends in
    `-<n>` (n ≥ 2, as `report_path` makes them) goes on from there:
    `r-2.csv` -> `r-2.csv`, `r-3.csv`, … At most MAX_SUFFIX names.
    """
    path = Path(path)
    m = _NUMBERED_RE.fullmatch(path.stem)
    base, first = (path.with_name(m["base"] + path.suffix), int(m["n"])) if m else (path, 1)
    for n in range(first, first + MAX_SUFFIX):
        yield numbered(base, n)


def publish(tmp: Path, target: Path) -> Path:
    """Move the finished `tmp` to `target`, or to the next free `-2`, `-3`, … name
    (`candidates`); returns the path written. Never replaces an existing file.

    Each name is claimed atomically: `os.link` (hard link, then `tmp` is
    unlinked) fails with EEXIST when the name is taken, and the next is tried,
    so concurrent runs publishing into one directory each get their own name.
    On file systems without hard links the name is claimed by creating it
    with O_CREAT|O_EXCL, then `os.replace` puts the report over that claim.
    Raises FileExistsError (tmp removed) when MAX_SUFFIX names are all taken;
    other OSErrors propagate.
    """
    tmp = Path(tmp)
    hard_links = True
    for path in candidates(target):
        if hard_links:
            try:
                os.link(tmp, path)
            except FileExistsError:
                continue
            except OSError as exc:
                if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
                    raise
                hard_links = False
            else:
                tmp.unlink()
                return path
        try:
            os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
        except FileExistsError:
            continue
        os.replace(tmp, path)
        return path
    tmp.unlink(missing_ok=True)
    raise FileExistsError(f"no free report name after {MAX_SUFFIX} tries: {target}")


class ReportWriter(abc.ABC):
    """Streaming report writer (see module doc).

    `columns` is the full column list (base + `metadata_*`), as names or
    `schema.Column`s. `path` is the preferred name: `close` publishes there,
    or under the next free `-2`, `-3`, … name when it is taken by then
    (`publish`), and sets `self.path` to the name written. Usable as a
    context manager: an exception inside aborts.
    """

    extension: str = ""

    def __init__(self, path: Path, columns: Sequence[str | schema.Column]) -> None:
        self.path = Path(path)
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
        """Finish the file and move it into place; returns the report's path (`self.path`,
        or the next free `-2`, `-3`, … name when that was taken meanwhile: `publish`).
        Writers may add counters to `run.notes`. On failure the temp file is removed."""
        if self._done:
            raise ValueError("writer is closed")
        try:
            self._finish(run)
            self._done = True
            self.path = publish(self.tmp_path, self.path)
            return self.path
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
