"""Property tests: any table written in any supported dialect reads back row for row.

The files are written by a small writer here (not the csv module), so the
reader is checked against an independent idea of CSV quoting.
"""

from __future__ import annotations

import re
from pathlib import Path

from hypothesis import HealthCheck, assume, event, given, settings
from hypothesis import strategies as st

from har_inventory.har import IMAGE_NAME_RE, REF_SEGMENT_RE, TAG_RE
from har_inventory.inputs import InputError, read_input
from har_inventory.records import ArtifactRef

SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])
ENCODINGS = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "cp1252"])
DELIMITERS = st.sampled_from([",", ";", "\t", "|"])
EOLS = st.sampled_from(["\n", "\r\n", "\r"])
_BREAK_RE = re.compile(r"\r\n|\r|\n")


def quote(value: str, delim: str) -> str:
    if any(c in value for c in (delim, '"', "\r", "\n")):
        return '"' + value.replace('"', '""') + '"'
    return value


def render(rows: list[list[str]], delim: str, eol: str) -> tuple[str, list[int]]:
    """CSV text and the 1-based physical line where each row starts."""
    parts, starts, line = [], [], 1
    for row in rows:
        text = delim.join(quote(v, delim) for v in row) + eol
        starts.append(line)
        line += len(_BREAK_RE.findall(text))
        parts.append(text)
    return "".join(parts), starts


def encode(text: str, encoding: str) -> tuple[bytes, str]:
    try:
        return text.encode(encoding), encoding
    except UnicodeEncodeError:
        return text.encode("utf-8"), "utf-8"


# ---------------------------------------------------------------- arbitrary text

CELL = st.one_of(
    st.text(st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00"), max_size=12),
    st.sampled_from(["", " ", ",", ";", "\t", "|", '"', '""', "\r\n", "\r", "\n", "a,b", '"x"', "sep=;"]),
)


@SETTINGS
@given(rows=st.lists(st.lists(CELL, min_size=5, max_size=5), max_size=8),
       encoding=ENCODINGS, delim=DELIMITERS, eol=EOLS, force=st.booleans())
def test_arbitrary_text_reads_one_row_per_non_blank_data_row(tmp_path: Path, rows, encoding, delim, eol, force):
    header = ["registry_ref", "artifact", "version", "digest", "note"]
    text, starts = render([header] + rows, delim, eol)
    data, used = encode(text, encoding)
    if used == "cp1252" and not text.isascii():
        # Bytes that are also valid UTF-8 are read as UTF-8 (by design); skip those.
        try:
            data.decode("utf-8")
            assume(False)
        except UnicodeDecodeError:
            pass
    path = tmp_path / "in.csv"
    path.write_bytes(data)
    try:
        table = read_input(path, delimiter=delim if force else None)
    except InputError as exc:
        event(f"refused: {str(exc)[:40]}")
        return
    event("read")
    non_blank = [(start, row) for start, row in zip(starts[1:], rows) if any(c.strip() for c in row)]
    assert len(table.rows) == len(non_blank)
    assert [r.line for r in table.rows] == [start for start, _ in non_blank]
    assert table.blank_rows == len(rows) - len(non_blank)
    assert table.delimiter == delim
    for got, (_, row) in zip(table.rows, non_blank):
        values = {"registry_ref": got.registry_ref, "artifact": got.artifact, "version": got.version,
                  "digest": got.digest} if isinstance(got, ArtifactRef) else got.values
        assert not any("\r" in v for v in values.values())
        if not isinstance(got, ArtifactRef):
            assert values["artifact"] == row[1].replace("\r\n", "\n").replace("\r", "\n").strip()


# ---------------------------------------------------------------- valid rows round-trip

HEX = st.text("0123456789abcdefABCDEF", min_size=64, max_size=64)
LOWER_ALNUM = "abcdefghijklmnopqrstuvwxyz0123456789"
ALNUM = LOWER_ALNUM + "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_RUN = st.text(LOWER_ALNUM, min_size=1, max_size=6)
# Built from the grammar's parts (from_regex is slow); each is checked against har.py's regex.
COMPONENT = st.builds(lambda first, rest: first + "".join(sep + run for sep, run in rest),
                      _RUN, st.lists(st.tuples(st.sampled_from("._-"), _RUN), max_size=3))
IMAGE_NAME = st.lists(COMPONENT, min_size=1, max_size=3).map("/".join)
TAG = st.builds(str.__add__, st.sampled_from(ALNUM + "_"), st.text(ALNUM + "_.-", max_size=20))
REF_SEGMENT = st.builds(str.__add__, st.sampled_from(ALNUM + "_$"), st.text(ALNUM + "_.$-", max_size=10))
SPACE = st.sampled_from(["", " ", "  "])
COLUMNS = ("registry_ref", "artifact", "version", "version_type", "digest")


@st.composite
def valid_row(draw):
    segments = draw(st.lists(REF_SEGMENT, min_size=2, max_size=4))
    assert all(REF_SEGMENT_RE.fullmatch(s) for s in segments)
    ref = "/".join(segments)
    artifact = draw(IMAGE_NAME)
    assert IMAGE_NAME_RE.fullmatch(artifact)
    hexes = draw(HEX)
    digest = "sha256:" + hexes.lower()
    digest_cell = draw(st.sampled_from([hexes, "sha256:" + hexes, "SHA256:" + hexes.upper()]))
    if draw(st.booleans()):
        tag = draw(TAG)
        assert TAG_RE.fullmatch(tag)
        vtype_cell = draw(st.sampled_from(["", "TAG", "tag", "Tag"]))
        expected = (ref, artifact, tag, "TAG", digest)
        version_cell = tag
    else:
        version_cell = draw(st.sampled_from(["", digest, digest.upper().replace("SHA256", "sha256")]))
        vtype_cell = draw(st.sampled_from(["DIGEST", "digest"])) if version_cell == "" else draw(
            st.sampled_from(["", "DIGEST"]))
        expected = (ref, artifact, digest, "DIGEST", digest)
    cells = {
        "registry_ref": ref + draw(st.sampled_from(["", "/+"])),
        "artifact": artifact + draw(st.sampled_from(["", "/+"])),
        "version": version_cell, "version_type": vtype_cell, "digest": digest_cell,
    }
    cells = {k: draw(SPACE) + v + draw(SPACE) for k, v in cells.items()}
    return cells, expected


@SETTINGS
@given(rows=st.lists(st.one_of(valid_row(), st.none()), max_size=10), order=st.permutations(COLUMNS),
       encoding=ENCODINGS, delim=DELIMITERS, eol=EOLS)
def test_valid_rows_round_trip_exactly(tmp_path: Path, rows, order, encoding, delim, eol):
    # None stands for a blank line.
    lines = [list(order)] + [[c[0][k] for k in order] if c else [""] * len(order) for c in rows]
    text, starts = render(lines, delim, eol)
    path = tmp_path / "in.csv"
    path.write_bytes(text.encode(encoding))
    table = read_input(path)
    expected = tuple(ArtifactRef(start, *c[1]) for start, c in zip(starts[1:], rows) if c)
    assert table.rows == expected
    assert table.blank_rows == sum(c is None for c in rows)
