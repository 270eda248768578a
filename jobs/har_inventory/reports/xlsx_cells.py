"""Cells for the write-only XLSX sheets: Excel's limits, styles and a fast row writer.

Rules (Excel specifications and limits):
- A cell holds at most 32,767 characters (counted in UTF-16 units): longer
  text is cut and ends with `…[truncated]`, total still ≤ 32,767; counted.
- Characters XML 1.0 and Excel reject (C0 controls but tab/LF/CR — openpyxl's
  ILLEGAL_CHARACTERS_RE — and U+FFFE/U+FFFF) are removed; changed cells counted.
- Every text is an inline string cell, never a formula. Text beginning with
  `=`, `+`, `-`, `@`, tab or CR, or equal to an error code such as `#N/A`,
  also gets the quote prefix, so Excel keeps it text when the cell is edited.
- Times are Excel serial numbers (UTC, 1900 date system) with a date format,
  so Excel, LibreOffice and openpyxl read them as datetimes.

Speed: openpyxl's own write-only path costs ~18 µs per cell here (value
binding, per-cell XML context managers). `stream_rows(ws, maker)` keeps
openpyxl for the workbook, styles, hyperlinks and charts but serializes each
row as one XML string parsed by lxml (about 5x faster); it relies on openpyxl 3.1's
write-only internals (`_get_writer`, `_writer.write_row`, `_values_to_row`,
`_hyperlinks`), checked by the tests reading the files back.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from xml.sax.saxutils import escape

from lxml.etree import fromstring
from openpyxl.cell.cell import ERROR_CODES, Cell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.utils.datetime import to_excel
from openpyxl.worksheet.hyperlink import Hyperlink
from openpyxl.worksheet.page import PageMargins

from .. import schema
from .base import FORMULA_TRIGGERS

MAX_CELL_CHARS = 32_767  # Excel: total characters a cell can contain
TRUNCATION_MARK = "…[truncated]"
MAX_HYPERLINKS_PER_SHEET = 65_530  # Excel: hyperlinks in a worksheet
MAX_URL_CHARS = 2_079  # Excel: hyperlink address length
RISKY_FIRST = FORMULA_TRIGGERS
ILLEGAL_RE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_ILLEGAL_RE2 = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x{FFFE}\x{FFFF}]"  # the same set, for pyarrow (RE2)
_EXCEL_EPOCH_MS = np.int64(-2_209_161_600_000)  # 1899-12-30T00:00Z: Excel serial 0 (1900 system)
_MS_PER_DAY = 86_400_000.0

QUARANTINE_FILL = PatternFill(fill_type="solid", start_color="FFF4CCCC", end_color="FFF4CCCC")
LINK_FONT = Font(color="FF0563C1", underline="single")
BOLD_FONT = Font(bold=True)
HEADER_FILL = PatternFill(fill_type="solid", start_color="FFD9E1F2", end_color="FFD9E1F2")


class StyleKey(NamedTuple):
    number_format: str = "General"
    quote: bool = False
    fill: bool = False
    link: bool = False
    header: bool = False


class XCell:
    """A styled cell value: `t` is `s` (text), `n` (number) or `b` (bool);
    `style` a StyleKey; `link` a hyperlink target or None."""

    __slots__ = ("value", "t", "style", "link")

    def __init__(self, value: Any, t: str, style: StyleKey, link: str | None = None) -> None:
        self.value, self.t, self.style, self.link = value, t, style, link


@dataclass
class Counters:
    """What had to change to fit Excel (reported in the Run sheet and `run.notes`)."""

    truncated: int = 0
    illegal_removed: int = 0
    hyperlinks_omitted: int = 0


def excel_len(text: str) -> int:
    """Length as Excel counts it (UTF-16 code units)."""
    if len(text) * 2 <= MAX_CELL_CHARS:
        return len(text)
    return len(text.encode("utf-16-le", "surrogatepass")) // 2


def truncate(text: str, limit: int = MAX_CELL_CHARS) -> str:
    """`text` cut so that text + TRUNCATION_MARK is `limit` UTF-16 units at most."""
    keep = (limit - len(TRUNCATION_MARK)) * 2
    return text.encode("utf-16-le", "surrogatepass")[:keep].decode("utf-16-le", "ignore") + TRUNCATION_MARK


class CellMaker:
    """Makes the cells of one workbook and registers their styles in it."""

    def __init__(self, style_sheet: Any) -> None:
        self._sheet = style_sheet  # any sheet of the workbook: style registration needs one
        self._ids: dict[StyleKey, str] = {}
        self.counters = Counters()

    def style_id(self, key: StyleKey) -> str:
        sid = self._ids.get(key)
        if sid is None:
            c = Cell(self._sheet, 1, 1)
            c.number_format = key.number_format
            if key.quote:
                c.quotePrefix = True
            if key.fill:
                c.fill = QUARANTINE_FILL
            elif key.header:
                c.fill = HEADER_FILL
            if key.link:
                c.font = LINK_FONT
            elif key.header:
                c.font = BOLD_FONT
            sid = self._ids[key] = str(c.style_id)
        return sid

    # ------------------------------------------------------------ values

    def text(self, value: str, check_illegal: bool = True, fmt: str = "General") -> str | XCell:
        """A text value made safe for Excel (see module doc)."""
        if check_illegal:
            value, n = ILLEGAL_RE.subn("", value)
            if n:
                self.counters.illegal_removed += 1
        if len(value) > MAX_CELL_CHARS // 2 and excel_len(value) > MAX_CELL_CHARS:
            value = truncate(value)
            self.counters.truncated += 1
        if value and (value[0] in RISKY_FIRST or value in ERROR_CODES):
            return XCell(value, "s", StyleKey(fmt, quote=True))
        return value

    def header(self, text: str) -> XCell:
        return XCell(text, "s", StyleKey(header=True))

    def value(self, value: Any, fmt: str = "General") -> Any:
        """A scalar of the Run/Summary sheets: text made safe, datetimes (naive UTC) as dates."""
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, datetime):
            return XCell(to_excel(value), "n", StyleKey(fmt))
        if fmt != "General" and value is not None and not isinstance(value, bool):
            return XCell(value, "n", StyleKey(fmt))
        return value

    def column(self, series: pd.Series, col: schema.Column) -> list:
        """One normalized column -> list of cell values (None = empty), each with
        `col.number_format` (plain values are General cells)."""
        kind = col.kind
        if kind == schema.TEXT:
            values = series.tolist()
            flagged = series.str.contains(_ILLEGAL_RE2, regex=True).fillna(False).to_numpy(dtype=bool)
            text = self.text
            return [None if v is None or v is pd.NA else text(v, f) for v, f in zip(values, flagged)]
        if kind == schema.LIST:  # [] (an untagged digest) is not the same as no tag information
            text = self.text
            return [(text(", ".join(map(str, v))) if v else schema.UNTAGGED) if isinstance(v, list) else None
                    for v in series.tolist()]
        if kind == schema.TIMESTAMP:
            ms = series.astype(schema.DATETIME_DTYPE).array.asi8
            na = series.isna().to_numpy()
            serial = ((ms - _EXCEL_EPOCH_MS) / _MS_PER_DAY).tolist()
            key = StyleKey(col.number_format)
            return [None if n else XCell(s, "n", key) for s, n in zip(serial, na)]
        if kind == schema.FLOAT:
            return [float(v) if isinstance(v, (int, float)) and math.isfinite(v) else None
                    for v in series.tolist()]
        values = [None if v is None or v is pd.NA else v for v in series.tolist()]
        if kind == schema.INT and col.number_format != "General":
            key = StyleKey(col.number_format)
            return [None if v is None else XCell(v, "n", key) for v in values]
        return values

    def fill_row(self, row: list) -> list:
        """The same row with every cell (empty ones too) in the quarantine fill."""
        out = []
        for v in row:
            if isinstance(v, XCell):
                v.style = v.style._replace(fill=True)
                out.append(v)
            elif isinstance(v, str):
                out.append(XCell(v, "s", StyleKey(fill=True)))
            elif isinstance(v, bool):
                out.append(XCell(v, "b", StyleKey(fill=True)))
            else:
                out.append(XCell(v, "n", StyleKey(fill=True)))
        return out

    def link(self, value: Any) -> Any:
        """A url cell as a real hyperlink (http/https, short enough); else unchanged."""
        target = value.value if isinstance(value, XCell) else value
        if not isinstance(target, str) or len(target) > MAX_URL_CHARS or \
                not target.lower().startswith(("http://", "https://")):
            return value
        c = value if isinstance(value, XCell) else XCell(target, "s", StyleKey())
        c.style = c.style._replace(link=True)
        c.link = target
        return c


def setup_print(ws: Any, *, title_rows: str | None = "1:1", scale: int | None = None) -> None:
    """Print setup of a write-only sheet, for auditors who print the report.

    Landscape, margins 0.5 in left/right and 0.6 in top/bottom, footer
    `<sheet>: page N of M`. With `scale` None: fit to one page wide, as many
    pages tall as needed (fitToWidth=1, fitToHeight=0); else that fixed zoom
    (percent). `title_rows` (e.g. `"1:1"`, the header) repeats at the top of
    every printed page. Paper size is left to the printer (A4 or Letter).
    Call before `stream_rows`: fitToPage is written with the sheet's top.
    """
    ws.page_setup.orientation = "landscape"
    ws.page_margins = PageMargins(left=0.5, right=0.5, top=0.6, bottom=0.6, header=0.3, footer=0.3)
    if scale is None:
        ws.page_setup.fitToWidth = 1
        ws.page_setup.fitToHeight = 0
        ws.sheet_properties.pageSetUpPr.fitToPage = True
    else:
        ws.page_setup.scale = scale
    if title_rows:
        ws.print_title_rows = title_rows
    ws.oddFooter.center.text = "&A: page &P of &N"


_ESCAPES = {"\r": "&#13;"}  # a raw CR would become LF when the row is parsed


def _inline(ref: str, text: str, style: str | None) -> str:
    s = f' s="{style}"' if style is not None else ""
    space = ' xml:space="preserve"' if text != text.strip() else ""
    return f'<c r="{ref}" t="inlineStr"{s}><is><t{space}>{escape(text, _ESCAPES)}</t></is></c>'


def stream_rows(ws: Any, maker: CellMaker) -> None:
    """Make the write-only sheet `ws` take rows of plain values / XCells (see module doc).

    Plain values: str (already made safe), bool, int, float, None (empty).
    Must be called before the first `ws.append` and after setting column widths
    and panes (they are written with the sheet's top).
    """
    ws._get_writer()
    letters: list[str] = []
    hyperlinks = ws._hyperlinks
    style_id = maker.style_id

    def write_row(xf: Any, row: Any, row_idx: int) -> None:
        r = str(row_idx)
        parts = [f'<row r="{r}">']
        add = parts.append
        while len(letters) < len(row):
            letters.append(get_column_letter(len(letters) + 1))
        for letter, v in zip(letters, row):
            if v is None:
                continue
            ref = letter + r
            tv = type(v)
            if tv is str:
                add(_inline(ref, v, None))
            elif tv is bool:
                add(f'<c r="{ref}" t="b"><v>{1 if v else 0}</v></c>')
            elif tv is int or tv is float:
                add(f'<c r="{ref}" t="n"><v>{v!r}</v></c>')
            elif tv is XCell:
                sid = style_id(v.style)
                val = v.value
                if val is None:
                    add(f'<c r="{ref}" s="{sid}"/>')
                elif v.t == "s":
                    add(_inline(ref, val, sid))
                elif v.t == "b":
                    add(f'<c r="{ref}" t="b" s="{sid}"><v>{1 if val else 0}</v></c>')
                else:
                    add(f'<c r="{ref}" t="n" s="{sid}"><v>{val!r}</v></c>')
                if v.link is not None:
                    hyperlinks.append(Hyperlink(ref=ref, target=v.link))
            else:  # not produced by CellMaker; written as text rather than failing
                add(_inline(ref, ILLEGAL_RE.sub("", str(v))[:MAX_CELL_CHARS], None))
        add("</row>")
        xf.write(fromstring("".join(parts)))

    ws._writer.write_row = write_row
    ws._values_to_row = lambda values, row_idx: values
