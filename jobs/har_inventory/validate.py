"""Input cells -> `ArtifactRef` (valid row) | `InvalidRow` (line + reason).

No I/O: `inputs.py` reads a file into `RawRow`s (trimmed text per field) and
calls `validate_row` on each; this module also holds what the run plans from
the rows (`plan_requests`: one request per distinct `RequestKey`) and the
`--dry-run` / `validate` summary text (`dry_run_report`).

Every reason is `"<kind>: <detail>"`; `reason_kind` gives the kind, which is
what summaries group by (e.g. `digest invalid`, `tag invalid`). The grammar
itself lives in `har.py` (notes §2: Docker image name, tag and digest; notes
§1: registry_ref with 2 to 4 segments; notes §3: TAG unless the version is a
digest).
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from functools import lru_cache
from typing import Iterable, Mapping

from .har import (
    REF_SEGMENT_RE,
    ProtocolError,
    check_artifact,
    check_digest,
    check_tag,
    default_version_type,
    parse_registry_ref,
    strip_plus,
)
from .records import ArtifactRef, InputRow, InvalidRow, VersionType

#: The fields a row can carry, in report order (keys of `RawRow.cells`, `InvalidRow.values`).
KEY_FIELDS = ("registry_ref", "artifact", "version", "version_type", "digest")

REGISTRY_REF_MISSING = "registry_ref missing: give a registry_ref column or --registry-ref"

_BARE_HEX_RE = re.compile(r"[0-9a-f]{64}")
_DIGEST_ANYCASE_RE = re.compile(r"sha256:[0-9a-fA-F]{64}")
# Characters a URL path would need percent-escaped; the API refuses any
# percent-escape in the path (notes §2), so a value holding one cannot be sent.
_NEEDS_ESCAPE = set(' %?#"<>\\^`{|}[]')
_MAX_SHOWN = 80


@dataclass(frozen=True, slots=True)
class RawRow:
    """One non-blank data row as read, before validation.

    `line`: 1-based line (CSV: physical line where the row starts; XLSX: sheet row).
    `cells`: field name (one of `KEY_FIELDS`) -> trimmed text, only for the
    columns the file has (`""` for an empty cell).
    `problem`: a reading problem that makes the row invalid whatever its
    values (e.g. an Excel date in the version column), already a full reason.
    """

    line: int
    cells: Mapping[str, str]
    problem: str | None = None


@dataclass(frozen=True, slots=True)
class InputTable:
    """What reading and validating an input file gave.

    `rows`: one `ArtifactRef` or `InvalidRow` per non-blank data row, in input order.
    `blank_rows`: blank lines and all-empty rows skipped (never invalid).
    `encoding`: codec the text was decoded with (`utf-8`, `utf-8-sig`,
    `utf-16`, `cp1252`), or `xlsx`. `delimiter`: the CSV delimiter used,
    None for XLSX. `warnings`: readable notes for the user (e.g. the file was
    read as Windows-1252). `columns_found`: the header cells as written.
    `sheet`: the XLSX sheet read, None for CSV.
    """

    rows: tuple[InputRow, ...]
    blank_rows: int
    encoding: str
    delimiter: str | None
    warnings: tuple[str, ...] = ()
    columns_found: tuple[str, ...] = ()
    sheet: str | None = None

    @property
    def valid_rows(self) -> tuple[ArtifactRef, ...]:
        return tuple(r for r in self.rows if isinstance(r, ArtifactRef))

    @property
    def invalid_rows(self) -> tuple[InvalidRow, ...]:
        return tuple(r for r in self.rows if isinstance(r, InvalidRow))

    @property
    def valid(self) -> int:
        return sum(isinstance(r, ArtifactRef) for r in self.rows)

    @property
    def invalid(self) -> int:
        return len(self.rows) - self.valid


@dataclass(frozen=True, slots=True)
class RequestPlan:
    """The requests a run makes: rows with the same `RequestKey` are one request.

    `unique`: the first row of each key, in input order (what the fetch stage
    sends). `duplicates`: valid rows that reuse an earlier row's request
    (requests saved). `valid`/`invalid`: row counts. Every row, duplicate or
    not, still gets its own output row.
    """

    unique: tuple[ArtifactRef, ...]
    duplicates: int
    valid: int
    invalid: int

    @property
    def requests(self) -> int:
        return len(self.unique)


# ---------------------------------------------------------------- values

def normalize_digest(value: str) -> str:
    """Trim and lower-case a digest; a bare 64-hex value becomes `sha256:<hex>`.

    Does not validate: the result may still fail `check_digest`.
    """
    text = value.strip().lower()
    return "sha256:" + text if _BARE_HEX_RE.fullmatch(text) else text


def _show(value: str) -> str:
    return repr(value if len(value) <= _MAX_SHOWN else value[: _MAX_SHOWN - 1] + "…")


def _escape_problem(value: str) -> str | None:
    """A phrase naming the first character that would need percent-escaping, or None."""
    for ch in value:
        if ch == " ":
            return "a space"
        if ch in _NEEDS_ESCAPE:
            return f"{ch!r}"
        if ord(ch) < 0x20 or ord(ch) == 0x7F or ch.isspace():
            return f"a control or space character (U+{ord(ch):04X})"
        if ord(ch) > 0x7F:
            return f"the non-ASCII character {ch!r}"
    return None


def _escape_reason(field_name: str, value: str) -> str | None:
    what = _escape_problem(value)
    if what is None:
        return None
    return (f"{field_name} invalid: {_show(value)} contains {what}, which would need "
            "percent-escaping in the URL path")


def reason_kind(reason: str) -> str:
    """The kind of a reason, for grouping: the text before the first `": "`."""
    return reason.split(": ", 1)[0]


# ---------------------------------------------------------------- checks
# Each returns (normalized value, None) or (None, reason). The registry_ref and
# artifact checks are cached: thousands of rows share a few registries and images.

@lru_cache(maxsize=4096)
def _check_registry_ref(value: str) -> tuple[str | None, str | None]:
    try:
        return parse_registry_ref(value), None
    except ProtocolError:
        pass
    ref = strip_plus(value)
    segments = ref.split("/")
    if not 2 <= len(segments) <= 4:
        return None, (f"registry_ref invalid: {_show(value)} has {len(segments)} segment(s); "
                      "expected 2 to 4 (account/registry, account/org/registry or "
                      "account/org/project/registry)")
    escape = _escape_reason("registry_ref", ref)
    if escape:
        return None, escape
    bad = next(s for s in segments if not REF_SEGMENT_RE.fullmatch(s))
    return None, (f"registry_ref invalid: segment {bad!r} of {_show(value)} is not a Harness "
                  "identifier (letters, digits, '_', '.', '-', '$'; not starting with '.' or '-')")


@lru_cache(maxsize=4096)
def _check_artifact(value: str) -> tuple[str | None, str | None]:
    if not strip_plus(value):
        return None, "artifact missing: the artifact cell is empty"
    try:
        return check_artifact(value), None
    except ProtocolError:
        pass
    name = strip_plus(value)
    escape = _escape_reason("artifact", name)
    if escape:
        return None, escape
    if name != name.lower() and _is_image_name(name.lower()):
        return None, f"artifact invalid: {_show(value)} has upper-case letters; Docker image names are lower case"
    return None, (f"artifact invalid: {_show(value)} is not a Docker image name (lower-case "
                  "letters and digits, joined by single '.', '_' or '-', path components "
                  "separated by '/', no leading, trailing or doubled separator)")


def _is_image_name(name: str) -> bool:
    try:
        check_artifact(name)
    except ProtocolError:
        return False
    return True


def _check_tag(value: str) -> tuple[str | None, str | None]:
    try:
        return check_tag(value), None
    except ProtocolError:
        pass
    if _DIGEST_ANYCASE_RE.fullmatch(value):
        return None, (f"tag invalid: {_show(value)} is a digest but version_type is TAG; "
                      "use DIGEST or leave version_type empty")
    escape = _escape_reason("tag", value)
    if escape:
        return None, escape
    if len(value) > 128:
        return None, f"tag invalid: {_show(value)} is {len(value)} characters; a Docker tag has at most 128"
    return None, (f"tag invalid: {_show(value)} is not a Docker tag (letters, digits, '_', '.', "
                  "'-'; not starting with '.' or '-')")


def _check_digest(value: str) -> tuple[str | None, str | None]:
    if not value:
        return None, "digest missing: the digest cell is empty"
    try:
        return check_digest(normalize_digest(value)), None
    except ProtocolError:
        return None, f"digest invalid: {_show(value)} is not sha256: followed by 64 hex digits"


def validate_row(raw: RawRow, default_registry_ref: str | None = None) -> InputRow:
    """Validate one row; returns `ArtifactRef` or `InvalidRow` with the first failing check.

    `default_registry_ref` (already parsed, from `--registry-ref`) fills an
    empty or absent registry_ref cell. Checks, in order: reading problem,
    registry_ref, artifact, digest, version_type, version. Normalizes:
    trailing `/+` removed, digest lower-cased (bare hex gets `sha256:`),
    version_type upper-cased (empty -> `default_version_type(version)`,
    notes §3), a DIGEST row's empty version becomes the digest.
    """
    cells = raw.cells
    values = {k: cells[k] for k in KEY_FIELDS if k in cells}
    if not values.get("registry_ref") and default_registry_ref:
        values["registry_ref"] = default_registry_ref

    def invalid(reason: str) -> InvalidRow:
        return InvalidRow(raw.line, reason, values)

    if raw.problem:
        return invalid(raw.problem)
    if not values.get("registry_ref"):
        return invalid(REGISTRY_REF_MISSING)
    registry_ref, reason = _check_registry_ref(values["registry_ref"])
    if reason:
        return invalid(reason)
    artifact, reason = _check_artifact(cells.get("artifact", ""))
    if reason:
        return invalid(reason)
    digest, reason = _check_digest(cells.get("digest", ""))
    if reason:
        return invalid(reason)

    version = cells.get("version", "")
    vtype_text = cells.get("version_type", "").upper()
    if _DIGEST_ANYCASE_RE.fullmatch(version) or (vtype_text == "DIGEST" and _BARE_HEX_RE.fullmatch(version.lower())):
        version = normalize_digest(version)
    if not vtype_text:
        vtype_text = default_version_type(version) if version else "TAG"
    if vtype_text not in VersionType.__members__:
        return invalid(f"version_type unknown: {_show(cells.get('version_type', ''))} (expected TAG or DIGEST)")
    vtype = VersionType(vtype_text)

    if vtype is VersionType.DIGEST:
        if not version:
            version = digest
        elif version != digest:
            return invalid(f"version mismatch: a DIGEST row's version must be empty or equal "
                           f"to its digest, got {_show(cells.get('version', ''))}")
    else:
        if not version:
            return invalid("version missing: a TAG row needs the tag in its version cell")
        version, reason = _check_tag(version)
        if reason:
            return invalid(reason)
    return ArtifactRef(raw.line, registry_ref, artifact, version, vtype, digest)


# ---------------------------------------------------------------- plan & summary

def plan_requests(rows: Iterable[InputRow]) -> RequestPlan:
    """One request per distinct `RequestKey`, first occurrence first (see `RequestPlan`)."""
    seen: dict = {}
    valid = invalid = 0
    for row in rows:
        if isinstance(row, ArtifactRef):
            valid += 1
            seen.setdefault(row.key, row)
        else:
            invalid += 1
    return RequestPlan(tuple(seen.values()), valid - len(seen), valid, invalid)


def format_duration(seconds: float) -> str:
    """`42 s`, `3 min 20 s`, `2 h 05 min` (rounded up to the second)."""
    s = int(-(-seconds // 1))
    if s < 60:
        return f"{s} s"
    if s < 3600:
        return f"{s // 60} min {s % 60:02d} s"
    return f"{s // 3600} h {s % 3600 // 60:02d} min"


def dry_run_report(table: InputTable, *, rate: float, max_listed: int = 20) -> tuple[str, int]:
    """The `--dry-run` / `validate` text and exit code (0: all rows valid, 1: some invalid).

    `rate` is the pacing budget in requests per second (notes §6: 6.6/s by
    default); the time estimate is distinct requests / rate, without retries.
    Lists the first `max_listed` invalid rows with line and reason, invalid
    counts grouped by `reason_kind`, and the table's warnings.
    Raises ValueError if `rate` is not positive.
    """
    if not rate > 0:
        raise ValueError(f"rate must be > 0 requests/s, got {rate}")
    plan = plan_requests(table.rows)
    source = f"sheet {table.sheet!r}" if table.sheet is not None else (
        f"encoding {table.encoding}, delimiter {_delimiter_name(table.delimiter)}")
    lines = [
        f"rows: {len(table.rows):,} ({source})",
        f"  valid: {plan.valid:,}",
        f"  invalid: {plan.invalid:,}",
    ]
    kinds = Counter(reason_kind(r.reason) for r in table.invalid_rows)
    lines += [f"    {kind}: {n:,}" for kind, n in sorted(kinds.items(), key=lambda kv: (-kv[1], kv[0]))]
    lines += [
        f"blank rows skipped: {table.blank_rows:,}",
        f"duplicates: {plan.duplicates:,} row(s) repeat an earlier row's request",
        f"distinct requests: {plan.requests:,}",
        f"estimated time: {format_duration(plan.requests / rate)} at {rate:g} requests/s (without retries)",
    ]
    invalid_rows = table.invalid_rows
    if invalid_rows:
        lines.append(f"first invalid rows ({min(len(invalid_rows), max_listed)} of {len(invalid_rows):,}):")
        lines += [f"  line {r.line}: {r.reason}" for r in invalid_rows[:max_listed]]
    if table.warnings:
        lines.append("warnings:")
        lines += [f"  {w}" for w in table.warnings]
    return "\n".join(lines), (1 if invalid_rows else 0)


def _delimiter_name(delimiter: str | None) -> str:
    return {"\t": "tab", None: "none"}.get(delimiter, repr(delimiter))
