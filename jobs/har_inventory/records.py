"""The plain values the pipeline stages hand each other.

Flow: CSV rows -> `ArtifactRef` (valid row) | `InvalidRow` (line + reason)
-> `FetchResult` (ok with the response's `data` object, or a typed failure)
-> DataFrame (see `schema.py`) -> report writers.

All of these are small frozen dataclasses: a failure is a value that flows
to the report, never an exception that escapes a worker.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Mapping, NamedTuple


class Status(enum.StrEnum):
    """Outcome of one input row, as written in the `status` column."""

    OK = "ok"
    NOT_FOUND = "not_found"
    FORBIDDEN = "forbidden"
    UNAUTHORIZED = "unauthorized"
    INVALID_INPUT = "invalid_input"
    FAILED = "failed"


class VersionType(enum.StrEnum):
    """`version_type` query value (API-NOTES section 3)."""

    TAG = "TAG"
    DIGEST = "DIGEST"


class RequestKey(NamedTuple):
    """What makes two rows the same request: rows with equal keys are fetched once."""

    registry_ref: str
    artifact: str
    version: str
    version_type: str
    digest: str


@dataclass(frozen=True, slots=True)
class ArtifactRef:
    """A validated input row, ready to be requested.

    `registry_ref` and `artifact` are stored without any trailing `/+`;
    `digest` is `sha256:` + 64 lower-case hex; `version_type` is a `VersionType`
    value; `line` is the 1-based line number of the row in the input file.
    """

    line: int
    registry_ref: str
    artifact: str
    version: str
    version_type: str
    digest: str

    @property
    def key(self) -> RequestKey:
        return RequestKey(self.registry_ref, self.artifact, self.version, self.version_type, self.digest)


@dataclass(frozen=True, slots=True)
class InvalidRow:
    """An input row that failed validation and is never sent.

    `values` holds the row's cells for the key columns as read (trimmed), so
    the report can still show what the user wrote: keys are `registry_ref`,
    `artifact`, `version`, `version_type`, `digest` (missing ones absent).
    """

    line: int
    reason: str
    values: Mapping[str, str] = field(default_factory=dict)


InputRow = ArtifactRef | InvalidRow


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The outcome of one distinct request.

    - `status`: `Status.OK` with `data` = the response's `data` object (a dict,
      unknown fields kept), or a failure status with `data` None.
    - `http_status`: last HTTP status seen, None when no response came
      (timeout, connection error).
    - `error`: readable reason for a failure (e.g. "HTTP 503 after 5 attempts:
      service unavailable"), None when ok.
    - `attempts`: HTTP requests made for this key (>= 1).
    - `fetched_at`: UTC time the final response (or failure) was received.
    """

    key: RequestKey
    status: Status
    http_status: int | None
    error: str | None
    attempts: int
    fetched_at: datetime
    data: Mapping[str, Any] | None = None


@dataclass(slots=True)
class RunInfo:
    """What a run was, for the reports' `Run` sheet, the Parquet key-value
    metadata (`har_inventory.run`, as JSON) and the summary line.

    Times are aware UTC datetimes; `elapsed_s` is in seconds. `options` holds
    the command-line options used, never the API key. `counts` maps each
    `Status` value to its row count. `complete` is False for an interrupted
    or aborted run, with `stop_reason` saying why. Report writers may add their own counters to `notes`
    (e.g. cells truncated at Excel's 32,767-character limit).
    """

    tool_version: str
    started_at: datetime
    ended_at: datetime | None = None
    input_name: str = ""
    input_sha256: str = ""
    input_rows: int = 0
    base_url: str = ""
    options: dict[str, Any] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    retries: int = 0
    duplicates_saved: int = 0
    complete: bool = True
    stop_reason: str | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> str:
        """`complete`, `interrupted` (a signal) or `aborted` (refused key, server down)."""
        if self.complete:
            return "complete"
        return "interrupted" if (self.stop_reason or "").startswith("interrupted") else "aborted"

    @property
    def elapsed_s(self) -> float | None:
        if self.ended_at is None:
            return None
        return (self.ended_at - self.started_at).total_seconds()

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready mapping (datetimes as ISO 8601 UTC strings)."""
        return {
            "tool_version": self.tool_version,
            "started_at": self.started_at.isoformat(),
            "ended_at": self.ended_at.isoformat() if self.ended_at else None,
            "elapsed_s": self.elapsed_s,
            "input_name": self.input_name,
            "input_sha256": self.input_sha256,
            "input_rows": self.input_rows,
            "base_url": self.base_url,
            "options": dict(self.options),
            "counts": dict(self.counts),
            "requests": self.requests,
            "retries": self.retries,
            "duplicates_saved": self.duplicates_saved,
            "complete": self.complete,
            "state": self.state,
            "stop_reason": self.stop_reason,
            "notes": dict(self.notes),
        }
