"""JSON text <-> Python values, fast where it is exact and the standard library where it is not.

Every response body is parsed once when it arrives (`har.classify`) and once
more when the reports read it back from the journal; the journal writes each
`data` object as text and `metadata_json` re-encodes each `metadata`. With
the standard `json` module these four steps were ~35 µs of the ~550 µs of
client CPU per row in the CPU-bound benchmark (issue 7); orjson does them in
a fifth of the time.

orjson is not a drop-in replacement, so it is used only where it gives the
exact same values, and `json` takes over otherwise:

- `loads`: orjson turns an integer literal outside [-2**63, 2**64) into a float
  (precision lost: a count of 10**20 would read 1e+20), and refuses what
  `json` accepts (`NaN`, `Infinity`, lone surrogate escapes like `"\\ud800"`,
  a UTF-8 BOM). A body with a run of 19 or more digits anywhere (a big integer
  can hide only there; a digest in a string may also trigger it, which only
  costs speed) and any body orjson refuses are parsed by `json.loads`.
- `dumps`: orjson refuses integers beyond 64 bits, lone surrogates and
  non-string keys (`TypeError`): those values go through `json` (a lone
  surrogate is then written as its `\\udXXX` escape, so the text is always
  valid UTF-8, as SQLite and Arrow require). orjson writes NaN and the
  infinities as `null`, where `json` writes `NaN` / `Infinity`, which no JSON
  reader (DuckDB, Spark, browsers) accepts. They come from the non-standard
  `NaN` / `Infinity` literals or from a number beyond the float range such as
  `1e400`; the journal and the reports keep them as null (an empty cell).
- Nesting: a document nested deeper than `MAX_DEPTH` levels is refused
  (ValueError) by `loads`, so every value it returns can be written again (the
  `json` module fails near 1,000 levels with RecursionError, orjson writes
  at most 254). No registry response comes anywhere near.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

__all__ = ["MAX_DEPTH", "dumps", "loads"]

MAX_DEPTH = 200  # levels of arrays/objects

_ONLY_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")  # other bytes stay as they are
_LONG_DIGIT_RUN = b"0" * 19  # 2**63 has 19 digits: shorter integer literals are exact in orjson


def _std_encoder(sort_keys: bool, ensure_ascii: bool) -> json.JSONEncoder:
    return json.JSONEncoder(separators=(",", ":"), ensure_ascii=ensure_ascii, check_circular=False,
                            default=str, sort_keys=sort_keys)


_STD = {(s, a): _std_encoder(s, a) for s in (False, True) for a in (False, True)}


def loads(text: bytes | str) -> Any:
    """Parse JSON text (UTF-8 bytes or str) exactly as `json.loads` would.

    Raises ValueError (`json.JSONDecodeError`, or `UnicodeDecodeError` for
    bytes that are not UTF-8) when the text is not JSON, or is nested deeper
    than `MAX_DEPTH` levels."""
    raw = text.encode("utf-8", "surrogatepass") if isinstance(text, str) else text
    try:
        value = _parse(text, raw)
    except RecursionError:
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels") from None
    if raw.count(b"[") + raw.count(b"{") > MAX_DEPTH and _depth(value) > MAX_DEPTH:  # the count bounds the depth
        raise ValueError(f"JSON nested deeper than {MAX_DEPTH} levels")
    return value


def _parse(text: bytes | str, raw: bytes) -> Any:
    if _LONG_DIGIT_RUN not in raw.translate(_ONLY_DIGITS_AS_ZERO):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # NaN, Infinity, lone surrogates, BOM, or not JSON at all: json decides
    return json.loads(text)


def _depth(value: Any) -> int:
    """Levels of arrays/objects in a parsed value (0 for a scalar), without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            children = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        deepest = max(deepest, level)
        stack.extend((child, level + 1) for child in children)
    return deepest


def dumps(value: Any, *, sort_keys: bool = False) -> str:
    """Compact JSON text (no spaces, non-ASCII kept as is) of a parsed JSON value.

    `sort_keys=True` sorts object keys at every level. Meant for values `loads`
    returns (JSON types, at most `MAX_DEPTH` levels): never raises for those."""
    try:
        return orjson.dumps(value, default=str, option=orjson.OPT_SORT_KEYS if sort_keys else 0).decode()
    except TypeError:
        pass
    text = _STD[sort_keys, False].encode(value)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate: escape everything beyond ASCII instead
        text = _STD[sort_keys, True].encode(value)
    return text
