"""Input rows + fetch results -> a DataFrame that obeys `schema.py`.

One output row per input row, in input order; rows sharing a `RequestKey`
share its `FetchResult`. Response fields are read defensively (API-NOTES §4:
anything but the five required fields may be absent, `pushedBy` may be
absent, null or partial, unknown fields appear over time, `metadata` is
free-form): odd shapes give empty cells, never an exception.

Speed: called per chunk of ~10,000 rows; the response part of each distinct
key is extracted once, rows are built as tuples and the frame is made once.
"""

from __future__ import annotations

from datetime import datetime, timezone
from collections import abc
from typing import Any, Iterable, Mapping, Sequence

import numpy as np
import pandas as pd
import pyarrow as pa

from . import jsontext, schema
from .har import epoch_ms, parse_size
from .records import ArtifactRef, FetchResult, InvalidRow, RequestKey, Status

_INT64_MIN, _INT64_MAX = -(2 ** 63), 2 ** 63 - 1
_NAT = np.iinfo(np.int64).min  # numpy's NaT as int64
_KEY_FIELDS = ("registry_ref", "artifact", "version", "version_type", "digest")
_NESTED = "nested"


def _is_map(value: Any) -> bool:
    return type(value) is dict or isinstance(value, abc.Mapping)


def _json(value: Any) -> str:
    """Compact JSON with sorted keys; anything not JSON-able becomes its str()."""
    return jsontext.dumps(value, sort_keys=True)


def _text(value: Any) -> str | None:
    """A response value as text: str kept, scalars as JSON (`true`, `17`), nested as compact JSON."""
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return _json(value)


def _int(value: Any) -> int | None:
    """An int64 count from an int, an integral float or a digit string; else None."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):
        if not value.is_integer():
            return None
        value = int(value)
    elif isinstance(value, str):
        try:
            value = int(value.strip())
        except ValueError:
            return None
    if isinstance(value, int) and _INT64_MIN <= value <= _INT64_MAX:
        return value
    return None


def _bool(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "false"):
        return value.strip().lower() == "true"
    return None


def _ms(dt: datetime | None) -> int | None:
    """Aware (or naive = UTC) datetime -> epoch milliseconds."""
    if dt is None:
        return None
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return round(dt.timestamp() * 1000)


def _value_kind(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return schema.BOOL
    if isinstance(value, int):
        return schema.INT if _INT64_MIN <= value <= _INT64_MAX else schema.TEXT
    if isinstance(value, float):
        return schema.FLOAT
    if isinstance(value, str):
        return schema.TEXT
    return _NESTED


def _metadata(result: FetchResult) -> Mapping[str, Any] | None:
    data = result.data
    if result.status != Status.OK or not _is_map(data):
        return None
    meta = data.get("metadata")
    return meta if _is_map(meta) else None


def metadata_keys(results: Iterable[FetchResult]) -> tuple[str, ...]:
    """Sorted top-level `metadata` keys other than `tags`, over the ok results."""
    keys: set[str] = set()
    for r in results:
        meta = _metadata(r)
        if meta:
            keys.update(str(k) for k in meta.keys())
    keys.discard("tags")
    return tuple(sorted(keys))


def metadata_kinds(results: Iterable[FetchResult]) -> dict[str, str]:
    """Key -> schema kind of its `metadata_<key>` column, over the ok results.

    One JSON type everywhere keeps it (BOOL, INT, FLOAT, TEXT); ints and
    floats together give FLOAT; nested values, mixed types or ints beyond
    int64 give TEXT. Nulls don't count. Keys: as `metadata_keys`.
    """
    seen: dict[str, set[str]] = {}
    for r in results:
        meta = _metadata(r)
        if not meta:
            continue
        for k, v in meta.items():
            kinds = seen.setdefault(str(k), set())
            kind = _value_kind(v)
            if kind is not None:
                kinds.add(kind)
    seen.pop("tags", None)
    out: dict[str, str] = {}
    for k, kinds in seen.items():
        if len(kinds) == 1 and _NESTED not in kinds:
            out[k] = next(iter(kinds))
        elif kinds == {schema.INT, schema.FLOAT}:
            out[k] = schema.FLOAT
        else:
            out[k] = schema.TEXT
    return out


_keys_of, _kinds_of = metadata_keys, metadata_kinds  # the parameters of normalize() shadow them


def _meta_value(value: Any, kind: str) -> Any:
    """A metadata value for a column of `kind`; values that don't fit become None
    (they stay in `metadata_json`)."""
    if value is None:
        return None
    if kind == schema.TEXT:
        return _text(value)
    if kind == schema.BOOL:
        return value if isinstance(value, bool) else None
    if kind == schema.INT:
        return _int(value) if isinstance(value, int) else None
    if kind == schema.FLOAT:
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None
    return None


def _tags(meta: Any) -> list[str] | None:
    if not _is_map(meta):
        return None
    tags = meta.get("tags")
    if type(tags) is list and all(type(t) is str for t in tags):
        return list(tags)
    return None


def _response_part(result: FetchResult, meta_cols: Sequence[tuple[str, str]]) -> tuple:
    """The cells from `status` to the last metadata column, for one result."""
    head = (str(result.status), result.http_status, result.error, result.attempts, _ms(result.fetched_at))
    data = result.data if result.status == Status.OK and _is_map(result.data) else None
    if data is None:
        return head + (None,) * (19 + len(meta_cols))
    size = data.get("size")
    pushed = data.get("pushedBy")
    if not _is_map(pushed):
        pushed = {}
    has_meta = "metadata" in data and data.get("metadata") is not None
    meta = data.get("metadata")
    meta_map = meta if _is_map(meta) else {}
    return head + (
        _text(data.get("imageName")),
        _text(data.get("packageType")),
        _text(data.get("registryPath")),
        _text(data.get("url")),
        _text(data.get("pullCommand")),
        _text(data.get("pullCommandByDigest")),
        _text(size),
        parse_size(size),
        _int(data.get("downloadsCount")),
        epoch_ms(data.get("createdAt")),
        epoch_ms(data.get("modifiedAt")),
        _bool(data.get("isQuarantined")),
        _text(data.get("quarantineReason")),
        _text(pushed.get("uid")),
        _text(pushed.get("display_name", pushed.get("displayName"))),
        _text(pushed.get("email")),
        _text(pushed.get("type")),
        _tags(meta),
        _json(meta) if has_meta else None,
    ) + tuple(_meta_value(meta_map.get(k), kind) for k, kind in meta_cols)


def _missing_part(error: str, n_meta: int) -> tuple:
    """A row never sent (the run stopped first): `failed`, `attempts` 0 like invalid input."""
    return (str(Status.FAILED), None, error, 0, None) + (None,) * (19 + n_meta)


def _invalid_part(reason: str, n_meta: int) -> tuple:
    return (str(Status.INVALID_INPUT), None, reason, 0, None) + (None,) * (19 + n_meta)


def _timestamps(ms: Sequence[int | None]) -> pd.Series:
    arr = np.fromiter((_NAT if m is None else m for m in ms), dtype=np.int64, count=len(ms))
    return pd.Series(arr.view("datetime64[ms]")).dt.tz_localize("UTC")


def _text_array(vals: Sequence[str | None]) -> pa.Array:
    try:
        return pa.array(vals, type=pa.large_string())
    except (pa.ArrowInvalid, UnicodeError):  # lone surrogates (valid JSON escapes, not UTF-8)
        return pa.array([v if v is None else v.encode("utf-8", "replace").decode("utf-8") for v in vals],
                        type=pa.large_string())


def empty_frame(metadata_keys: Sequence[str] = (), metadata_kinds: Mapping[str, str] | None = None
                ) -> pd.DataFrame:
    """A zero-row frame with exactly the schema's columns and dtypes."""
    return _frame([], schema.columns(metadata_keys, metadata_kinds))


def _frame(rows: list[tuple], cols: Sequence[schema.Column]) -> pd.DataFrame:
    n = len(rows)
    values = list(zip(*rows)) if rows else [()] * len(cols)
    data: dict[str, Any] = {}
    for col, vals in zip(cols, values):
        if col.kind == schema.TIMESTAMP:
            data[col.name] = _timestamps(vals)
        elif col.kind == schema.LIST:
            s = pd.Series(np.empty(n, dtype=object))
            s[:] = list(vals) if n else []
            data[col.name] = s
        elif col.kind == schema.TEXT:
            data[col.name] = pd.Series(pd.arrays.ArrowStringArray(_text_array(vals)))
        else:
            data[col.name] = pd.Series(pd.array(list(vals), dtype=col.pandas_dtype))
    return pd.DataFrame(data, index=pd.RangeIndex(n))


def normalize(rows: Sequence[ArtifactRef | InvalidRow],
              results: Mapping[RequestKey, FetchResult], *,
              metadata_keys: Sequence[str] | None = None,
              metadata_kinds: Mapping[str, str] | None = None,
              missing_error: str | None = None) -> pd.DataFrame:
    """One schema row per input row, in input order.

    - `ArtifactRef`: the result of `row.key` (the input's key values are kept:
      `version` is what was asked, not the response's `version`).
    - `InvalidRow`: status `invalid_input`, `error` = its reason, the key
      values it had, `attempts` 0.
    - A row whose key is missing from `results`: `KeyError`, unless
      `missing_error` is given (e.g. "not fetched: run interrupted"): then
      status `failed` with that error and `attempts` 0 (never sent).

    `metadata_keys` / `metadata_kinds` fix the `metadata_<key>` columns; pass
    them (computed once over the whole run) when calling per chunk, so every
    chunk has the same columns and dtypes. When None they are computed from
    all of `results` (same answer, more work per chunk).
    Returns a DataFrame with `schema.columns(...)` names and dtypes, also
    for zero rows; RangeIndex.
    """
    if metadata_keys is None:
        metadata_keys = _keys_of(results.values())
    if metadata_kinds is None:
        metadata_kinds = _kinds_of(results.values())
    keys = sorted(set(metadata_keys))
    cols = schema.columns(keys, metadata_kinds)
    meta_cols = [(c.metadata_key, c.kind) for c in cols[len(schema.BASE_COLUMNS):]]
    n_meta = len(meta_cols)
    cache: dict[RequestKey, tuple] = {}
    out: list[tuple] = []
    append = out.append
    for row in rows:
        if isinstance(row, InvalidRow):
            v = row.values
            append((row.line,) + tuple(v.get(f) or None for f in _KEY_FIELDS) + _invalid_part(row.reason, n_meta))
            continue
        key = row.key
        part = cache.get(key)
        if part is None:
            result = results.get(key)
            if result is None:
                if missing_error is None:
                    raise KeyError(key)
                part = _missing_part(missing_error, n_meta)
            else:
                part = _response_part(result, meta_cols)
            cache[key] = part
        append((row.line, row.registry_ref, row.artifact, row.version, row.version_type, row.digest) + part)
    return _frame(out, cols)
