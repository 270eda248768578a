"""jsontext: the fast JSON path must give exactly the values the standard library gives."""

from __future__ import annotations

import json
import math

import pytest
from hypothesis import given, settings, strategies as st

from har_inventory import jsontext

_scalars = (st.none() | st.booleans()
            | st.integers(min_value=-(2 ** 80), max_value=2 ** 80)
            | st.floats(allow_nan=False)
            | st.text(alphabet=st.characters(blacklist_categories=()), max_size=12))
_finite = (st.none() | st.booleans() | st.integers(min_value=-(2 ** 80), max_value=2 ** 80)
           | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=12))
_finite_values = st.recursive(_finite, lambda inner: st.lists(inner, max_size=4)
                              | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=20)
_values = st.recursive(_scalars, lambda inner: st.lists(inner, max_size=4)
                       | st.dictionaries(st.text(max_size=6), inner, max_size=4), max_leaves=20)


def _same(a, b) -> bool:
    """Equal values of the same types all the way down (1 vs 1.0 vs True differ)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    return a == b


@settings(max_examples=300)
@given(_values)
def test_loads_gives_what_json_gives(value):
    text = json.dumps(value)
    assert _same(jsontext.loads(text), json.loads(text))
    assert _same(jsontext.loads(text.encode()), json.loads(text))


@settings(max_examples=300)
@given(_finite_values, st.booleans())
def test_dumps_round_trips_through_json(value, sort_keys):
    text = jsontext.dumps(value, sort_keys=sort_keys)
    text.encode("utf-8")  # always valid UTF-8 (SQLite and Arrow need it): raises otherwise
    assert _same(json.loads(text), json.loads(json.dumps(value, sort_keys=sort_keys)))


def test_integers_beyond_64_bits_stay_exact_integers():
    body = b'{"data": {"downloadsCount": 123456789012345678901234, "small": -9223372036854775809}}'
    data = jsontext.loads(body)["data"]
    assert data["downloadsCount"] == 123456789012345678901234 and type(data["downloadsCount"]) is int
    assert data["small"] == -(2 ** 63) - 1
    assert jsontext.dumps(data) == '{"downloadsCount":123456789012345678901234,"small":-9223372036854775809}'


def test_what_only_the_standard_library_accepts_is_still_accepted():
    assert math.isnan(jsontext.loads(b'{"x": NaN}')["x"])
    assert jsontext.loads(b'[Infinity, -Infinity]') == [math.inf, -math.inf]
    assert jsontext.loads('{"s": "\\ud800"}') == {"s": "\ud800"}
    assert jsontext.loads(b'\xef\xbb\xbf{"a": 1}') == {"a": 1}  # json.loads(bytes) skips a BOM


def test_non_finite_numbers_are_written_as_null():
    assert jsontext.dumps({"x": math.inf, "y": [math.nan]}) == '{"x":null,"y":[null]}'


def test_lone_surrogates_are_written_as_escapes():
    text = jsontext.dumps({"name": "caf\u00e9 \ud800"})
    assert text == '{"name":"caf\\u00e9 \\ud800"}'
    assert jsontext.loads(text) == {"name": "caf\u00e9 \ud800"}


def test_non_ascii_is_kept_and_keys_sort_on_request():
    assert jsontext.dumps({"b": "ü", "a": [1, 2.5, None, True]}) == '{"b":"ü","a":[1,2.5,null,true]}'
    assert jsontext.dumps({"b": {"d": 1, "c": 2}, "a": 0}, sort_keys=True) == '{"a":0,"b":{"c":2,"d":1}}'


@pytest.mark.parametrize("text", [b"", b"nope", b'{"a": 1', b"\xff\xfe\x00", "<html>"])
def test_not_json_raises_value_error(text):
    with pytest.raises(ValueError):
        jsontext.loads(text)


@pytest.mark.parametrize("as_bytes", [False, True])
def test_nesting_up_to_max_depth_round_trips_and_deeper_is_refused(as_bytes):
    def nested(levels: int) -> str:
        return '{"data": ' + "[" * (levels - 1) + "]" * (levels - 1) + "}"

    ok_text, deep_text = nested(jsontext.MAX_DEPTH), nested(jsontext.MAX_DEPTH + 1)
    ok_value = jsontext.loads(ok_text.encode() if as_bytes else ok_text)
    assert jsontext.loads(jsontext.dumps(ok_value)) == json.loads(ok_text)
    for text in (deep_text, nested(1100)):  # 1,100 levels: json.loads itself would raise RecursionError
        with pytest.raises(ValueError, match="nested deeper"):
            jsontext.loads(text.encode() if as_bytes else text)


def test_many_brackets_side_by_side_are_not_deep():
    text = json.dumps({"data": [[i] for i in range(500)]})
    assert jsontext.loads(text)["data"][499] == [499]


def test_a_number_beyond_the_float_range_reads_as_json_reads_it_and_writes_as_null():
    value = jsontext.loads(b'{"big": 1e400}')
    assert value == {"big": math.inf}
    assert jsontext.dumps(value) == '{"big":null}'
