"""Read the input list (CSV/TSV text or XLSX) into an `InputTable` of validated rows.

`read_input` is the only entry point. A file it cannot read as a table is
refused with `InputError` (one readable line; the CLI prints it and exits 2);
a row it cannot use is an `InvalidRow` with a reason (see `validate.py`).

Text files: UTF-8 with or without BOM, UTF-16/32 with BOM (Excel "Unicode
text"), else Windows-1252 with a warning. Delimiter `,` `;` tab or `|`:
taken from an Excel `sep=X` first line, else the one that splits the header
into known column names, else `csv.Sniffer`, else `,`. Any line ending
(CRLF, LF, lone CR). XLSX: first sheet (or `sheet=`), read with openpyxl.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Iterable, Iterator

from .har import ProtocolError, parse_registry_ref
from .validate import KEY_FIELDS, InputTable, RawRow, validate_row

__all__ = ["COLUMN_ALIASES", "InputError", "InputTable", "read_input", "parse_delimiter"]

#: Accepted header names per field, matched case-insensitively after trimming,
#: with inner spaces and `-` read as `_` (`Image Digest` -> `image_digest`).
COLUMN_ALIASES: dict[str, tuple[str, ...]] = {
    "registry_ref": ("registry_ref", "registry", "registry_path"),
    "artifact": ("artifact", "artifact_name", "image", "image_name", "repository", "name"),
    "version": ("version", "tag"),
    "version_type": ("version_type",),
    "digest": ("digest", "sha", "image_digest"),
}
REQUIRED_FIELDS = ("artifact", "version", "digest")
_ALIAS_TO_FIELD = {alias: f for f, aliases in COLUMN_ALIASES.items() for alias in aliases}

#: `--delimiter` spellings -> delimiter character.
DELIMITERS = {",": ",", "comma": ",", ";": ";", "semicolon": ";", "\t": "\t", "\\t": "\t",
              "tab": "\t", "|": "|", "pipe": "|"}
_CANDIDATES = (",", ";", "\t", "|")
_XLSX_SUFFIXES = (".xlsx", ".xlsm", ".xltx", ".xltm")
_ZIP_MAGIC = b"PK\x03\x04"
_OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"  # legacy .xls
_BOMS = ((b"\xff\xfe\x00\x00", "utf-32"), (b"\x00\x00\xfe\xff", "utf-32"),
         (b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
_SEP_LINE_RE = re.compile(r"sep=(.)")
_DECIMALS_FORMAT_RE = re.compile(r"[#0]*0(?:\.(0+))?")


class InputError(Exception):
    """The input file is refused as a whole; `str(err)` is one readable line."""


def read_input(path: Path, *, delimiter: str | None = None, sheet: str | None = None,
               default_registry_ref: str | None = None) -> InputTable:
    """Read and validate an input list.

    - `path`: CSV/TSV text, or XLSX (by suffix or ZIP magic bytes).
    - `delimiter`: force `,` `;` `\\t`/`tab` `|` (text files only).
    - `sheet`: XLSX sheet name (default: the first sheet).
    - `default_registry_ref`: `--registry-ref`, used where a row has none.

    Required columns: artifact, version, digest (aliases in `COLUMN_ALIASES`);
    optional: registry_ref, version_type. A file without a registry_ref
    column needs `default_registry_ref`. An empty file, or a header without
    data rows, gives a table with no rows.

    Raises `InputError`: file missing or unreadable, not text (NUL bytes,
    legacy .xls, other ZIP), not decodable as UTF-8/16/32 or Windows-1252,
    missing required columns, two columns for one field, no registry_ref
    column and no default, bad `default_registry_ref`, unknown delimiter,
    XLSX sheet not found, a field over the csv module's size limit.
    """
    path = Path(path)
    default_ref = None
    if default_registry_ref is not None and default_registry_ref.strip():
        try:
            default_ref = parse_registry_ref(default_registry_ref)
        except ProtocolError as exc:
            raise InputError(f"--registry-ref: {exc}") from None
    forced = parse_delimiter(delimiter) if delimiter is not None else None
    data = _read_bytes(path)
    warnings: list[str] = []

    if path.suffix.lower() in _XLSX_SUFFIXES or data.startswith(_ZIP_MAGIC):
        if delimiter is not None:
            warnings.append("--delimiter ignored: the input is an XLSX workbook")
        sheet_name, rows = _xlsx_rows(data, sheet, warnings)
        return _build(rows, default_ref, warnings, encoding="xlsx", delimiter=None, sheet=sheet_name)

    if data.startswith(_OLE_MAGIC):
        raise InputError(f"{path.name}: legacy Excel .xls is not supported; save it as .xlsx or CSV UTF-8")
    if sheet is not None:
        warnings.append("--sheet ignored: the input is a text file, not an XLSX workbook")
    text, encoding = _decode(data, path.name, warnings)
    first_line = text.split("\n", 1)[0].split("\r", 1)[0]
    skip_first = False
    sep = _SEP_LINE_RE.fullmatch(first_line.strip(" "))
    if forced is not None:
        delim = forced
        skip_first = sep is not None
    elif sep is not None and sep.group(1) in _CANDIDATES:
        delim, skip_first = sep.group(1), True
    else:
        delim = _detect_delimiter(text)
    rows = _csv_rows(text, delim, path.name, skip_first)
    return _build(rows, default_ref, warnings, encoding=encoding, delimiter=delim, sheet=None)


def parse_delimiter(value: str) -> str:
    """`--delimiter` value -> the character; raises `InputError` for anything but , ; tab |."""
    key = value if value in DELIMITERS else value.strip().lower()
    try:
        return DELIMITERS[key]
    except KeyError:
        raise InputError(f"unknown --delimiter {value!r}: use one of , ; tab |") from None


# ---------------------------------------------------------------- bytes -> text

def _read_bytes(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"input file not found: {path}") from None
    except IsADirectoryError:
        raise InputError(f"input is a directory, not a file: {path}") from None
    except PermissionError:
        raise InputError(f"cannot read input file (permission denied): {path}") from None
    except OSError as exc:
        raise InputError(f"cannot read input file {path}: {exc.strerror or exc}") from None


def _decode(data: bytes, name: str, warnings: list[str]) -> tuple[str, str]:
    """Bytes -> (text, encoding name). Never replaces a character."""
    for bom, codec in _BOMS:
        if data.startswith(bom):
            try:
                text = data.decode(codec)
            except UnicodeDecodeError as exc:
                raise InputError(f"{name}: starts with a {codec.upper()} byte-order mark but is not "
                                 f"valid {codec.upper()} ({exc.reason} at byte {exc.start})") from None
            if "\x00" in text:
                raise InputError(f"{name}: not a text file (NUL characters)")
            return text.lstrip("\ufeff"), codec
    if b"\x00" in data:
        raise InputError(f"{name}: not a text file (it contains NUL bytes; a UTF-16 file needs "
                         "a byte-order mark)")
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError as exc:
        first_bad = exc.start
    try:
        text = data.decode("cp1252")
    except UnicodeDecodeError as exc:
        raise InputError(f"{name}: neither UTF-8 nor Windows-1252 text (byte 0x{data[exc.start]:02X} "
                         f"at offset {exc.start}); save it as CSV UTF-8") from None
    control = next((c for c in text if c < " " and c not in "\t\n\r\f"), None)
    if control is not None:
        raise InputError(f"{name}: not a text file (not UTF-8, and control character "
                          f"U+{ord(control):04X} in it)")
    warnings.append(f"not UTF-8 (byte 0x{data[first_bad]:02X} at offset {first_bad}): read as "
                    "Windows-1252 (cp1252); check accented characters, or save the file as CSV UTF-8")
    return text, "cp1252"


def _normalize_header(name: str) -> str:
    return re.sub(r"[\s\-]+", "_", name.strip().lower())


def _detect_delimiter(text: str) -> str:
    """The candidate that splits the first non-blank line into the most known column
    names; else `csv.Sniffer` on the start of the text; else the most frequent
    candidate in the first line; else `,`."""
    lines = (ln for ln in re.split(r"\r\n|\r|\n", text[:65536]) if ln.strip())
    header = next(lines, "")
    scores = {}
    for d in _CANDIDATES:
        cells = next(csv.reader([header], delimiter=d), [])
        scores[d] = sum(_normalize_header(c) in _ALIAS_TO_FIELD for c in cells)
    best = max(_CANDIDATES, key=lambda d: scores[d])
    if scores[best] > 0:
        return best
    try:
        return csv.Sniffer().sniff(text[:8192], delimiters="".join(_CANDIDATES)).delimiter
    except csv.Error:
        pass
    counts = {d: header.count(d) for d in _CANDIDATES}
    best = max(_CANDIDATES, key=lambda d: counts[d])
    return best if counts[best] else ","


def _csv_rows(text: str, delim: str, name: str, skip_first: bool) -> Iterator[tuple[int, list[str], dict]]:
    """(line where the row starts, cells, {}) for every row, blank ones included."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delim, quotechar='"',
                        doublequote=True, skipinitialspace=False, strict=False)
    if skip_first:
        next(reader, None)
    start = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(f"{name} line {start}: {exc} (an unbalanced quote?)") from None
        yield start, cells, {}
        start = reader.line_num + 1


# ---------------------------------------------------------------- xlsx

def _xlsx_rows(data: bytes, sheet: str | None, warnings: list[str]) -> tuple[str, Iterator]:
    import openpyxl

    try:
        wb = openpyxl.load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as exc:  # noqa: BLE001 - any parser failure on an untrusted file is a refusal
        raise InputError(f"not a readable XLSX workbook ({type(exc).__name__}: {exc})") from None
    names = list(wb.sheetnames)
    if sheet is None:
        if not names:
            raise InputError("the XLSX workbook has no sheets")
        ws = wb[names[0]]
        if len(names) > 1:
            warnings.append(f"workbook has {len(names)} sheets; read the first, {names[0]!r} "
                            "(use --sheet to choose)")
    else:
        match = [n for n in names if n == sheet] or [n for n in names if n.strip().lower() == sheet.strip().lower()]
        if not match:
            raise InputError(f"sheet {sheet!r} not found; the workbook has: {', '.join(map(repr, names))}")
        ws = wb[match[0]]
    if not hasattr(ws, "iter_rows"):
        raise InputError(f"sheet {ws.title!r} is not a worksheet (a chart sheet?)")
    if hasattr(ws, "reset_dimensions"):
        ws.reset_dimensions()  # some writers store wrong dimensions; read every row

    def rows() -> Iterator[tuple[int, list[str], dict]]:
        line = 0
        try:
            for line, cells in enumerate(ws.iter_rows(min_row=1), start=1):
                texts, notes = [], {}
                for i, cell in enumerate(cells):
                    text, note = _cell_text(cell)
                    texts.append(text)
                    if note:
                        notes[i] = note
                yield line, texts, notes
        except InputError:
            raise
        except Exception as exc:  # noqa: BLE001 - a corrupt sheet is a refusal, not a traceback
            raise InputError(f"sheet {ws.title!r} after row {line}: cannot read "
                             f"({type(exc).__name__}: {exc})") from None
        finally:
            wb.close()

    return ws.title, rows()


def _cell_text(cell) -> tuple[str, str | None]:
    """A cell's text, and None or a note (`"a number"`, `"a date"`) when Excel
    turned what the user typed into a value whose text cannot be recovered.

    Numbers: with a fixed-decimals format (`0`, `0.00`) that shows the whole
    value -> formatted with those decimals (`1.10`); other formats: an
    integral value -> `2`, anything else is ambiguous (General drops
    trailing zeros: 1.10 shows as 1.1).
    """
    value = cell.value
    if value is None:
        return "", None
    if isinstance(value, str):
        return value, None
    if isinstance(value, bool):
        return ("TRUE" if value else "FALSE"), None
    if isinstance(value, (datetime, date, time, timedelta)):
        return str(value), "a date"
    if isinstance(value, (int, float)):
        fmt = _DECIMALS_FORMAT_RE.fullmatch(cell.number_format or "")
        if fmt is not None:
            decimals = len(fmt.group(1) or "")
            if round(value, decimals) == value:
                return f"{value:.{decimals}f}", None
        elif isinstance(value, int) or value.is_integer():
            return str(int(value)), None
        return repr(value), "a number"
    return str(value), None


# ---------------------------------------------------------------- rows -> table

def _map_header(cells: list[str]) -> dict[int, str]:
    """Column index -> field. Raises `InputError` on a field given twice or a required one missing."""
    mapping: dict[int, str] = {}
    by_field: dict[str, str] = {}
    for i, cell in enumerate(cells):
        f = _ALIAS_TO_FIELD.get(_normalize_header(cell))
        if f is None:
            continue
        if f in by_field:
            raise InputError(f"columns {by_field[f]!r} and {cell.strip()!r} both give {f}; keep one")
        by_field[f] = cell.strip()
        mapping[i] = f
    missing = [f for f in REQUIRED_FIELDS if f not in by_field]
    if missing:
        found = ", ".join(repr(c.strip()) for c in cells if c.strip()) or "none"
        raise InputError(f"missing required column(s): {', '.join(missing)}; columns found: {found}; "
                         "expected artifact, version, digest (optional registry_ref, version_type; "
                         "aliases: " + "; ".join(f"{f}: {'/'.join(a)}" for f, a in COLUMN_ALIASES.items()) + ")")
    return mapping


def _clean(value: str) -> str:
    if "\r" in value:
        value = value.replace("\r\n", "\n").replace("\r", "\n")
    return value.strip()


def _lines(lines: list[int]) -> str:
    """`3, 7, 9, 12, 15, …`: the first five line numbers of a warning."""
    return ", ".join(map(str, lines[:5])) + (", …" if len(lines) > 5 else "")


def _build(rows: Iterable[tuple[int, list[str], dict]], default_ref: str | None, warnings: list[str],
           *, encoding: str, delimiter: str | None, sheet: str | None) -> InputTable:
    blank = 0
    mapping: dict[int, str] | None = None
    header: list[str] = []
    out = []
    multiline: list[int] = []
    overlong: list[int] = []
    for line, cells, notes in rows:
        texts = [_clean(c) for c in cells]
        if not any(texts):
            blank += 1
            continue
        if mapping is None:
            header = texts
            mapping = _map_header(texts)
            if "registry_ref" not in mapping.values() and default_ref is None:
                raise InputError("no registry_ref column: pass --registry-ref ACCOUNT/[ORG/[PROJECT/]]REGISTRY "
                                 "or add a registry_ref column")
            ignored = [h for i, h in enumerate(texts) if h and i not in mapping]
            if ignored:
                warnings.append(f"column(s) ignored: {', '.join(map(repr, ignored))}")
            continue
        fields = {f: (texts[i] if i < len(texts) else "") for i, f in mapping.items()}
        if any(t for i, t in enumerate(texts) if t and (i >= len(header) or not header[i])):
            overlong.append(line)
        problem = None
        for i, f in mapping.items():
            if i in notes and i < len(texts):
                problem = problem or (f"{f} stored by Excel as {notes[i]}: {texts[i]}; format the "
                                      "column as Text and re-enter the value")
        ordered = {k: fields[k] for k in KEY_FIELDS if k in fields}
        if any("\n" in v for v in ordered.values()):
            multiline.append(line)
        out.append(validate_row(RawRow(line, ordered, problem), default_ref))
    if multiline:
        warnings.append(f"a value runs over several lines in the row(s) at line {_lines(multiline)}: is a "
                        "'\"' quote unbalanced? the lines it covers are part of that value")
    if overlong:
        hint = "" if delimiter is None else "; is a value holding an unquoted delimiter?"
        warnings.append(f"values under no column name in the row(s) at line {_lines(overlong)}: "
                        f"they are ignored{hint}")
    return InputTable(tuple(out), blank, encoding, delimiter, tuple(warnings),
                      tuple(h for h in header if h), sheet)
