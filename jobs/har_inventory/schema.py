"""The output columns: the ONLY list of them (names, order, types, formats, meaning).

Every report (XLSX `Inventory` sheet, Parquet, CSV) has these columns in this
order, followed by one `metadata_<key>` column per other top-level key of the
response's free-form `metadata` object (API-NOTES §4), sorted by key.

Each `Column` carries its pandas dtype (what `normalize.normalize` returns),
its Arrow type (Parquet), its Excel cell type and number format (what the
XLSX writer really writes; tests read them back) and a one-line description
with units. `markdown_table()` renders the documentation the README's column
table is checked against (`python -m har_inventory.schema` prints it).

Types in brief: text is pandas' nullable `string` (missing = `<NA>`),
integers are nullable `Int64` (never floats), booleans nullable `boolean`,
times `datetime64[ms, UTC]` (Arrow `timestamp[ms, tz=UTC]`), `tags` a list
of strings (object column of `list[str]` / None; Arrow `list<element: string>`,
the Parquet-compliant list that pyarrow writes and reads back).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

import pyarrow as pa

# Kinds of value a column holds; writers switch on these, not on dtypes.
TEXT = "text"
INT = "int"
FLOAT = "float"
BOOL = "bool"
TIMESTAMP = "timestamp"
LIST = "list"

DATETIME_DTYPE = "datetime64[ms, UTC]"
DATETIME_EXCEL_FORMAT = "yyyy-mm-dd hh:mm:ss"
UNTAGGED = "(untagged)"  # XLSX/CSV cell for `tags == []` (a digest without tags), not for missing tags

_PANDAS = {TEXT: "string", INT: "Int64", FLOAT: "Float64", BOOL: "boolean",
           TIMESTAMP: DATETIME_DTYPE, LIST: "object"}
_ARROW = {TEXT: pa.string(), INT: pa.int64(), FLOAT: pa.float64(), BOOL: pa.bool_(),
          TIMESTAMP: pa.timestamp("ms", tz="UTC"), LIST: pa.list_(pa.field("element", pa.string()))}
# Excel number formats as the XLSX writer applies them. Text is written as
# inline-string cells (the cell type keeps `1.10` or `-1` text), so it needs no `@`.
_EXCEL = {TEXT: "General", INT: "General", FLOAT: "General", BOOL: "General",
          TIMESTAMP: DATETIME_EXCEL_FORMAT, LIST: "General"}
_EXCEL_CELL = {TEXT: "text", INT: "number", FLOAT: "number", BOOL: "TRUE/FALSE",
               TIMESTAMP: "date", LIST: "text"}


@dataclass(frozen=True, slots=True)
class Column:
    """One output column.

    `kind` is one of TEXT, INT, FLOAT, BOOL, TIMESTAMP, LIST; `excel_format`
    is the Excel number format of its cells; `description` says what it
    holds, with units; `metadata_key` is set for `metadata_<key>` columns
    (the original key, dots and all).
    """

    name: str
    kind: str
    description: str
    excel_format: str | None = None
    metadata_key: str | None = None

    @property
    def pandas_dtype(self) -> str:
        return _PANDAS[self.kind]

    @property
    def arrow_type(self) -> pa.DataType:
        return _ARROW[self.kind]

    @property
    def number_format(self) -> str:
        return self.excel_format or _EXCEL[self.kind]

    @property
    def excel_cell(self) -> str:
        """The XLSX cell type: text, number, date (a serial number with a date format) or TRUE/FALSE."""
        return _EXCEL_CELL[self.kind]

    @property
    def excel_header(self) -> str:
        """Header in the XLSX sheets: times say they are UTC."""
        return f"{self.name} (UTC)" if self.kind == TIMESTAMP else self.name


def _c(name: str, kind: str, description: str, excel_format: str | None = None) -> Column:
    return Column(name, kind, description, excel_format)


BASE_COLUMNS: tuple[Column, ...] = (
    _c("line", INT, "1-based line number of the row in the input file"),
    _c("registry_ref", TEXT, "Registry (account/[org/[project/]]registry). Valid rows: the input's value "
                             "(or `--registry-ref` when the cell is empty) without a trailing `/+`; "
                             "invalid rows: the cell as read, trimmed"),
    _c("artifact", TEXT, "Image name (may contain `/`). Valid rows: the input's value without a trailing `/+`; "
                         "invalid rows: the cell as read, trimmed"),
    _c("version", TEXT, "Tag or digest requested (kept as text). Valid rows: the input's value, except that a "
                        "DIGEST row's empty version becomes its digest and a digest is written `sha256:` + "
                        "lower-case hex; invalid rows: the cell as read, trimmed"),
    _c("version_type", TEXT, "`TAG` or `DIGEST`: how the version was requested (API-NOTES §3). Valid rows: "
                             "upper-cased, inferred from `version` when empty; invalid rows: the cell as read, trimmed"),
    _c("digest", TEXT, "Manifest digest. Valid rows: `sha256:` + 64 lower-case hex (a bare or upper-case hex "
                       "input is normalized to that); invalid rows: the cell as read, trimmed"),
    _c("status", TEXT, "Outcome: ok, not_found, forbidden, unauthorized, invalid_input or failed"),
    _c("http_status", INT, "Last HTTP status received for the request; empty when none came or none was sent"),
    _c("error", TEXT, "Why the row is not ok (readable reason); empty when ok"),
    _c("attempts", INT, "HTTP requests made for this row's request (retries included); "
                        "0 when never sent: invalid input or run stopped first"),
    _c("fetched_at", TIMESTAMP, "When the final response (or failure) was received, UTC"),
    _c("image_name", TEXT, "`imageName` from the response"),
    _c("package_type", TEXT, "`packageType` from the response (e.g. DOCKER)"),
    _c("registry_path", TEXT, "`registryPath` from the response (registry/image/digest)"),
    _c("url", TEXT, "`url` from the response (a clickable link in XLSX)"),
    _c("pull_command", TEXT, "`pullCommand` from the response (TAG mode)"),
    _c("pull_command_by_digest", TEXT, "`pullCommandByDigest` from the response"),
    _c("size", TEXT, "`size` as the API writes it: two decimals, binary units (e.g. `12.34MB`)"),
    _c("size_bytes", INT, "`size` in bytes (1 KB = 1024 B; approximate beyond KB: the API rounds to two decimals)", "#,##0"),
    _c("downloads_count", INT, "`downloadsCount`: pulls of the digest (count)", "#,##0"),
    _c("created_at", TIMESTAMP, "`createdAt`: when the version was pushed, UTC (empty when the API gives none or ≤ 0)"),
    _c("modified_at", TIMESTAMP, "`modifiedAt`: last modification, UTC (empty when the API gives none or ≤ 0)"),
    _c("is_quarantined", BOOL, "`isQuarantined`: true when the digest is quarantined (XLSX: row filled)"),
    _c("quarantine_reason", TEXT, "`quarantineReason` (set only when quarantined)"),
    _c("pushed_by_uid", TEXT, "`pushedBy.uid` (SaaS only; empty when absent)"),
    _c("pushed_by_display_name", TEXT, "`pushedBy.display_name` (SaaS only)"),
    _c("pushed_by_email", TEXT, "`pushedBy.email` (SaaS only)"),
    _c("pushed_by_type", TEXT, "`pushedBy.type`: user, service or service_account (SaaS only)"),
    _c("tags", LIST, "`metadata.tags`: tags of the digest (DIGEST mode); empty list = untagged digest; "
                     "missing when the API sent none (usual in TAG mode). XLSX/CSV: joined with `, `, "
                     f"an empty list written `{UNTAGGED}`, missing tags an empty cell; Parquet keeps `[]` vs null"),
    _c("metadata_json", TEXT, "The whole `metadata` object as compact JSON with sorted keys (nothing lost)"),
)

BASE_NAMES: tuple[str, ...] = tuple(c.name for c in BASE_COLUMNS)
_BY_NAME = {c.name: c for c in BASE_COLUMNS}

METADATA_PREFIX = "metadata_"
_CAMEL_RE = re.compile(r"(?<=[a-z0-9])(?=[A-Z])")
_UNSAFE_RE = re.compile(r"[^a-z0-9]+")


def safe_name(key: str) -> str:
    """`org.opencontainers.image.source` -> `org_opencontainers_image_source`;
    `buildDate` -> `build_date`: snake_case of [a-z0-9_] only, never empty."""
    name = _UNSAFE_RE.sub("_", _CAMEL_RE.sub("_", key).lower()).strip("_")
    return name or "key"


def metadata_column_names(keys: Iterable[str]) -> dict[str, str]:
    """Map each metadata key (in sorted order) to its unique column name.

    `metadata_` + `safe_name(key)`; a name already taken (by another key or
    a base column such as `metadata_json`) gets `_2`, `_3`, … appended.
    """
    taken = set(BASE_NAMES)
    out: dict[str, str] = {}
    for key in sorted(set(keys)):
        base = METADATA_PREFIX + safe_name(key)
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        out[key] = name
    return out


def metadata_column(key: str, name: str, kind: str = TEXT) -> Column:
    """The column for one metadata key; `kind` from `normalize.metadata_kinds`."""
    return Column(name, kind, f"`metadata[{key!r}]`", metadata_key=key)


def columns(metadata_keys: Iterable[str] = (), metadata_kinds: Mapping[str, str] | None = None
            ) -> tuple[Column, ...]:
    """The full column list: base columns, then one per metadata key (sorted).

    `metadata_kinds` maps key -> kind (TEXT when absent or unknown).
    """
    kinds = metadata_kinds or {}
    extra = tuple(metadata_column(k, n, kinds.get(k, TEXT))
                  for k, n in metadata_column_names(metadata_keys).items())
    return BASE_COLUMNS + extra


def column_names(metadata_keys: Iterable[str] = ()) -> list[str]:
    """Names only, in order (what `reports.open_writer` takes)."""
    return [c.name for c in columns(metadata_keys)]


def base_column(name: str) -> Column | None:
    """The base column of that name, or None (e.g. for `metadata_*` names)."""
    return _BY_NAME.get(name)


def markdown_table() -> str:
    """The column documentation as a Markdown table (README, `python -m har_inventory.schema`)."""
    lines = [
        "| # | column | pandas dtype | Arrow type | Excel cell (number format) | description |",
        "|---|---|---|---|---|---|",
    ]
    for i, c in enumerate(BASE_COLUMNS, 1):
        lines.append(f"| {i} | `{c.name}` | `{c.pandas_dtype}` | `{c.arrow_type}` "
                     f"| {c.excel_cell} (`{c.number_format}`) | {c.description} |")
    lines.append(
        f"| {len(BASE_COLUMNS) + 1}… | `metadata_<key>` | `string`, `Int64`, `Float64` or `boolean` "
        "| `string`, `int64`, `double` or `bool` | text, number or TRUE/FALSE (`General`) "
        "| One per other top-level `metadata` key, sorted by key; name made snake_case "
        "([a-z0-9_]) and unique (`_2`, `_3`…). Keeps the JSON type when every row agrees "
        "(ints and floats together: float), else text; nested values as compact JSON text |"
    )
    return "\n".join(lines) + "\n"


def check_columns(names: Sequence[str]) -> None:
    """Raise ValueError unless `names` starts with exactly the base columns, in order,
    and the rest are distinct `metadata_*` names."""
    if tuple(names[: len(BASE_NAMES)]) != BASE_NAMES:
        raise ValueError("columns must start with schema.BASE_NAMES in order")
    rest = list(names[len(BASE_NAMES):])
    if len(set(rest)) != len(rest) or not all(n.startswith(METADATA_PREFIX) for n in rest):
        raise ValueError(f"extra columns must be distinct metadata_* names: {rest!r}")


if __name__ == "__main__":  # pragma: no cover
    print(markdown_table(), end="")
