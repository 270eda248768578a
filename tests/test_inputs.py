"""Reading input lists: encodings, delimiters, line ends, headers, XLSX, refusals."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import openpyxl
import pytest

from har_inventory.inputs import COLUMN_ALIASES, InputError, parse_delimiter, read_input
from har_inventory.records import ArtifactRef, InvalidRow

H1 = "0123456789abcdef" * 4
H2 = "fedcba9876543210" * 4
D1 = f"sha256:{H1}"
D2 = f"sha256:{H2}"
REF = "acc/org/reg"


def write(tmp_path: Path, data: str | bytes, name: str = "in.csv", encoding: str = "utf-8") -> Path:
    p = tmp_path / name
    p.write_bytes(data if isinstance(data, bytes) else data.encode(encoding))
    return p


def ref(line: int, artifact: str = "team/app", version: str = "1.0", digest: str = D1,
        version_type: str = "TAG", registry_ref: str = REF) -> ArtifactRef:
    return ArtifactRef(line, registry_ref, artifact, version, version_type, digest)


STANDARD = f"registry_ref,artifact,version,digest\n{REF},team/app,1.0,{D1}\n{REF},web,2.1.3,{D2}\n"
STANDARD_ROWS = (ref(2), ref(3, "web", "2.1.3", D2))


# ---------------------------------------------------------------- encodings

@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig"])
def test_utf8_with_and_without_bom(tmp_path, encoding):
    table = read_input(write(tmp_path, STANDARD, encoding=encoding))
    assert table.rows == STANDARD_ROWS
    assert table.encoding == encoding
    assert table.columns_found == ("registry_ref", "artifact", "version", "digest")
    assert table.warnings == ()


def test_utf16_bom_tab_delimited_excel_unicode_text(tmp_path):
    text = STANDARD.replace(",", "\t").replace("\n", "\r\n")
    table = read_input(write(tmp_path, text, name="in.txt", encoding="utf-16"))
    assert table.rows == STANDARD_ROWS
    assert (table.encoding, table.delimiter) == ("utf-16", "\t")


def test_cp1252_is_read_with_a_warning_naming_the_encoding(tmp_path):
    # "é" is 0xE9 in Windows-1252, invalid as UTF-8; the owner column keeps it exactly.
    text = f"registry_ref;artifact;version;digest;owner\n{REF};team/app;1.0;{D1};José\n"
    table = read_input(write(tmp_path, text, encoding="cp1252"))
    assert table.rows == (ref(2),)
    assert table.encoding == "cp1252"
    assert any("Windows-1252" in w and "0xE9" in w for w in table.warnings)


def test_cp1252_value_is_never_replaced(tmp_path):
    text = f"registry_ref,artifact,version,digest\n{REF},café,1.0,{D1}\n"
    (row,) = read_input(write(tmp_path, text, encoding="cp1252")).rows
    assert isinstance(row, InvalidRow)
    assert row.values["artifact"] == "café"


@pytest.mark.parametrize("byte", [0x81, 0x8D, 0x8F, 0x90, 0x9D])
def test_bytes_undefined_in_cp1252_refuse_the_file(tmp_path, byte):
    data = f"registry_ref,artifact,version,digest\n{REF},a,1.0,{D1}\n".encode() + bytes([byte]) + b"\n"
    with pytest.raises(InputError, match=rf"neither UTF-8 nor Windows-1252.*0x{byte:02X}"):
        read_input(write(tmp_path, data))


# ---------------------------------------------------------------- delimiters

@pytest.mark.parametrize("delim", [",", ";", "\t", "|"])
def test_delimiter_detected_from_the_header(tmp_path, delim):
    table = read_input(write(tmp_path, STANDARD.replace(",", delim)))
    assert table.rows == STANDARD_ROWS
    assert table.delimiter == delim


def test_comma_version_in_a_semicolon_file_stays_whole(tmp_path):
    text = f"registry_ref;artifact;version;digest\n{REF};team/app;2,0;{D1}\n{REF};team/app;2.0;{D1}\n"
    table = read_input(write(tmp_path, text))
    assert table.delimiter == ";"
    bad, good = table.rows
    assert isinstance(bad, InvalidRow) and bad.values["version"] == "2,0" and bad.line == 2
    assert good == ref(3, version="2.0")


@pytest.mark.parametrize("given, expected", [(",", ","), (";", ";"), ("\t", "\t"), ("tab", "\t"),
                                             ("TAB", "\t"), ("\\t", "\t"), ("|", "|")])
def test_forced_delimiter(tmp_path, given, expected):
    assert parse_delimiter(given) == expected
    table = read_input(write(tmp_path, STANDARD.replace(",", expected)), delimiter=given)
    assert table.rows == STANDARD_ROWS


def test_forced_delimiter_wins_over_the_file(tmp_path):
    # Forcing ';' on a comma file: one column named "registry_ref,artifact,..." -> refused.
    with pytest.raises(InputError, match="missing required column"):
        read_input(write(tmp_path, STANDARD), delimiter=";")


@pytest.mark.parametrize("delim", [";", "\t", "|"])
def test_excel_sep_line_sets_the_delimiter(tmp_path, delim):
    text = f"sep={delim}\n" + STANDARD.replace(",", delim)
    table = read_input(write(tmp_path, text))
    assert table.delimiter == delim
    assert table.rows == (ref(3), ref(4, "web", "2.1.3", D2))


# ---------------------------------------------------------------- line ends, quoting

@pytest.mark.parametrize("eol", ["\r\n", "\n", "\r"])
def test_line_endings_leave_no_cr_in_values(tmp_path, eol):
    table = read_input(write(tmp_path, STANDARD.replace("\n", eol)))
    assert table.rows == STANDARD_ROWS
    assert table.blank_rows == 0


def test_mixed_line_endings(tmp_path):
    text = f"registry_ref,artifact,version,digest\r\n{REF},team/app,1.0,{D1}\r{REF},web,2.1.3,{D2}\n"
    assert read_input(write(tmp_path, text)).rows == STANDARD_ROWS


def test_quoted_fields_with_delimiters_and_quotes_inside(tmp_path):
    text = (f'registry_ref,artifact,version,digest,note\n'
            f'"{REF}","team/app","1.0","{D1}","a, b and ""c"""\n'
            f'{REF},web,"2,1",{D2},x\n')
    ok, bad = read_input(write(tmp_path, text)).rows
    assert ok == ref(2)
    assert isinstance(bad, InvalidRow) and bad.values["version"] == "2,1"


def test_line_numbers_count_blank_lines_and_multiline_quoted_fields(tmp_path):
    text = (f"registry_ref,artifact,version,digest,note\n"          # 1
            f"{REF},a,1.0,{D1},x\n"                                  # 2
            f"\n"                                                    # 3 blank
            f"{REF},b,1.0,{D1},\"two\r\nline note\"\n"               # 4-5
            f",,,,\n"                                                # 6 all-empty
            f"{REF},c,1.0,{D1},y\n")                                 # 7
    table = read_input(write(tmp_path, text))
    assert [r.line for r in table.rows] == [2, 4, 7]
    assert [r.artifact for r in table.rows] == ["a", "b", "c"]
    assert table.blank_rows == 2


def test_multiline_value_in_a_key_column_has_no_cr_and_is_flagged(tmp_path):
    text = f'registry_ref,artifact,version,digest\n{REF},"team/\r\napp",1.0,{D1}\n'
    table = read_input(write(tmp_path, text))
    (row,) = table.rows
    assert isinstance(row, InvalidRow)
    assert row.values["artifact"] == "team/\napp"
    assert any("line 2" in w and "unbalanced" in w for w in table.warnings)


def test_unbalanced_quote_swallows_later_lines_into_one_invalid_row_with_a_warning(tmp_path):
    text = (f"registry_ref,artifact,version,digest\n{REF},\"team/app,1.0,{D1}\n"
            f"{REF},web,1.0,{D1}\n")
    table = read_input(write(tmp_path, text))
    (row,) = table.rows
    assert isinstance(row, InvalidRow) and row.line == 2
    assert row.reason.startswith("artifact invalid: 'team/app,1.0,")
    assert any("line 2" in w and "unbalanced" in w for w in table.warnings)


def test_values_under_no_column_name_are_flagged_with_their_lines_and_trailing_empties_are_not(tmp_path):
    text = (f"registry_ref,artifact,version,digest,\n{REF},team/app,1.0,{D1},,\n"
            f"{REF},web,2.1.3,{D2},extra\n{REF},web,2.1.3,{D2},,more\n")
    table = read_input(write(tmp_path, text))
    # the rows are kept, their key values intact
    assert table.rows == (ref(2), ref(3, "web", "2.1.3", D2), ref(4, "web", "2.1.3", D2))
    (warning,) = [w for w in table.warnings if "values under no column name" in w]
    assert "line 3, 4:" in warning and "line 2" not in warning and "unquoted delimiter" in warning


def test_cp1252_fallback_with_control_characters_is_not_text(tmp_path):
    data = b"registry_ref,artifact\n\x01\x02\xff\xfe\x03data\n"
    with pytest.raises(InputError, match="not a text file"):
        read_input(write(tmp_path, data))


# ---------------------------------------------------------------- headers, blanks, trimming

def test_aliases_case_and_spaces_in_headers(tmp_path):
    text = (f" Registry ,  IMAGE ,Tag, Image Digest ,Version_Type,owner\n"
            f"{REF},team/app,1.0,{D1},,me\n")
    table = read_input(write(tmp_path, text))
    assert table.rows == (ref(2),)
    assert table.columns_found == ("Registry", "IMAGE", "Tag", "Image Digest", "Version_Type", "owner")
    assert any("ignored" in w and "'owner'" in w for w in table.warnings)


@pytest.mark.parametrize("field, alias", [(f, a) for f, aliases in COLUMN_ALIASES.items() for a in aliases])
def test_every_documented_alias_maps_to_its_field(tmp_path, field, alias):
    cols = {"registry_ref": "registry_ref", "artifact": "artifact", "version": "version",
            "digest": "digest", "version_type": "version_type"}
    cols[field] = alias
    values = {"registry_ref": REF, "artifact": "team/app", "version": "1.0", "digest": D1,
              "version_type": "tag"}
    text = ",".join(cols.values()) + "\n" + ",".join(values[f] for f in cols) + "\n"
    assert read_input(write(tmp_path, text)).rows == (ref(2),)


def test_blank_and_all_empty_rows_are_skipped_and_counted(tmp_path):
    text = (f"\nregistry_ref,artifact,version,digest\n\n,,,\n  , ,\t,\n{REF},team/app,1.0,{D1}\n\n")
    table = read_input(write(tmp_path, text))
    assert table.rows == (ref(6),)
    assert table.blank_rows == 5


def test_values_trimmed_digest_lowercased_bare_hex_and_plus_suffix(tmp_path):
    text = (f"registry_ref,artifact,version,digest\n"
            f"  {REF}/+ , team/app/+ ,  1.0  ,  SHA256:{H1.upper()} \n"
            f"{REF},team/app,1.0,{H1.upper()}\n")
    table = read_input(write(tmp_path, text))
    assert table.rows == (ref(2), ref(3))


def test_registry_ref_column_cells_fall_back_to_the_default(tmp_path):
    text = f"registry_ref,artifact,version,digest\n,team/app,1.0,{D1}\nacc/other,web,1.0,{D1}\n"
    table = read_input(write(tmp_path, text), default_registry_ref="acc/org/reg/+")
    assert table.rows == (ref(2), ref(3, "web", registry_ref="acc/other"))


def test_no_registry_ref_column_uses_the_default(tmp_path):
    text = f"artifact,version,digest\nteam/app,1.0,{D1}\n"
    assert read_input(write(tmp_path, text), default_registry_ref=REF).rows == (ref(2),)


def test_empty_registry_ref_cell_without_default_is_an_invalid_row(tmp_path):
    text = f"registry_ref,artifact,version,digest\n,team/app,1.0,{D1}\n"
    (row,) = read_input(write(tmp_path, text)).rows
    assert row == InvalidRow(2, "registry_ref missing: give a registry_ref column or --registry-ref",
                             {"registry_ref": "", "artifact": "team/app", "version": "1.0", "digest": D1})


@pytest.mark.parametrize("text", ["", "\n\n", "\ufeff", "registry_ref,artifact,version,digest\n", ",,,\n"])
def test_empty_file_or_header_only_gives_no_rows(tmp_path, text):
    table = read_input(write(tmp_path, text))
    assert table.rows == ()
    assert table.valid == table.invalid == 0


# ---------------------------------------------------------------- refusals

def test_missing_file(tmp_path):
    with pytest.raises(InputError, match="input file not found: .*nope.csv"):
        read_input(tmp_path / "nope.csv")


def test_directory(tmp_path):
    with pytest.raises(InputError, match="directory"):
        read_input(tmp_path)


def test_binary_file_with_nul_bytes(tmp_path):
    with pytest.raises(InputError, match="not a text file"):
        read_input(write(tmp_path, b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"))


def test_legacy_xls(tmp_path):
    with pytest.raises(InputError, match=r"\.xls is not supported"):
        read_input(write(tmp_path, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x01" * 64, name="old.xls"))


def test_zip_that_is_not_a_workbook(tmp_path):
    import zipfile
    p = tmp_path / "in.csv"
    with zipfile.ZipFile(p, "w") as z:
        z.writestr("hello.txt", "hi")
    with pytest.raises(InputError, match="not a readable XLSX workbook"):
        read_input(p)


def test_missing_required_columns_names_found_and_expected(tmp_path):
    with pytest.raises(InputError) as err:
        read_input(write(tmp_path, f"registry_ref,image,owner\n{REF},a,me\n"))
    msg = str(err.value)
    assert "missing required column(s): version, digest" in msg
    assert "columns found: 'registry_ref', 'image', 'owner'" in msg
    assert "expected artifact, version, digest" in msg
    assert "\n" not in msg


def test_two_columns_for_one_field(tmp_path):
    with pytest.raises(InputError, match="columns 'version' and 'tag' both give version"):
        read_input(write(tmp_path, "registry_ref,artifact,version,tag,digest\n"))


def test_no_registry_ref_column_and_no_default_is_refused(tmp_path):
    with pytest.raises(InputError, match="no registry_ref column: pass --registry-ref"):
        read_input(write(tmp_path, f"artifact,version,digest\nteam/app,1.0,{D1}\n"))


@pytest.mark.parametrize("bad", ["acc", "a/b/c/d/e", "acc/re g"])
def test_bad_default_registry_ref(tmp_path, bad):
    with pytest.raises(InputError, match="--registry-ref"):
        read_input(write(tmp_path, STANDARD), default_registry_ref=bad)


def test_unknown_delimiter(tmp_path):
    with pytest.raises(InputError, match=r"unknown --delimiter ':': use one of , ; tab \|"):
        read_input(write(tmp_path, STANDARD), delimiter=":")


def test_invalid_utf16_after_bom(tmp_path):
    with pytest.raises(InputError, match="UTF-16"):
        read_input(write(tmp_path, b"\xff\xfe" + "artifact".encode("utf-16-le") + b"\x00\xd8"))


# ---------------------------------------------------------------- XLSX

def make_xlsx(path: Path, rows: list[list], formats: dict[tuple[int, int], str] | None = None,
              sheets: tuple[str, ...] = ("Sheet1",), target: str | None = None) -> Path:
    wb = openpyxl.Workbook()
    wb.active.title = sheets[0]
    for name in sheets[1:]:
        wb.create_sheet(name)
    ws = wb[target or sheets[0]]
    for r, row in enumerate(rows, start=1):
        for c, value in enumerate(row, start=1):
            cell = ws.cell(row=r, column=c, value=value)
            if formats and (r, c) in formats:
                cell.number_format = formats[(r, c)]
    wb.save(path)
    return path


HEADER = ["registry_ref", "artifact", "version", "digest"]


def test_xlsx_number_text_and_date_cells(tmp_path):
    p = make_xlsx(tmp_path / "in.xlsx", [
        HEADER,
        [REF, "team/app", "1.10", D1],             # 2: text cell, kept
        [REF, "team/app", 1.1, D1],                # 3: number 1.10 formatted 0.00 -> recovered
        [REF, "team/app", 2.0, D1],                # 4: integral float -> "2"
        [REF, "team/app", 7, D1],                  # 5: int -> "7"
        [REF, "team/app", 1.1, D1],                # 6: General 1.1 -> ambiguous, invalid
        [REF, "team/app", datetime(2024, 1, 2), D1],  # 7: a date -> invalid
        [None, None, None, None],                  # 8: empty row
        ["  " + REF, " web ", "3.0", H2.upper()],  # 9: trimmed, digest normalised
        [REF, "team/app", 2, D1],                  # 10: 2.00 typed in a 0.00 column -> "2.00"
        [REF, "team/app", 1.5, D1],                # 11: 1.5 shown as "2" by format 0 -> invalid
    ], formats={(3, 3): "0.00", (5, 3): "@", (10, 3): "0.00", (11, 3): "0"})
    table = read_input(p)
    assert (table.encoding, table.delimiter, table.sheet) == ("xlsx", None, "Sheet1")
    r2, r3, r4, r5, r6, r7, r9, r10, r11 = table.rows
    assert r2 == ref(2, version="1.10")
    assert r3 == ref(3, version="1.10")
    assert r4 == ref(4, version="2")
    assert r5 == ref(5, version="7")
    assert r6 == InvalidRow(6, "version stored by Excel as a number: 1.1; format the column as Text "
                               "and re-enter the value",
                            {"registry_ref": REF, "artifact": "team/app", "version": "1.1", "digest": D1})
    assert isinstance(r7, InvalidRow) and r7.line == 7
    assert r7.reason.startswith("version stored by Excel as a date: 2024-01-02")
    assert r9 == ref(9, "web", "3.0", D2)
    assert r10 == ref(10, version="2.00")
    assert isinstance(r11, InvalidRow) and r11.reason.startswith("version stored by Excel as a number: 1.5;")
    assert table.blank_rows == 1


def test_xlsx_cells_under_no_column_name_are_flagged_without_the_delimiter_hint(tmp_path):
    p = make_xlsx(tmp_path / "in.xlsx", [HEADER, [REF, "a", "1", D1, None, "a note"], [REF, "b", "1", D1, "  "]])
    table = read_input(p)
    assert table.rows == (ref(2, "a", "1"), ref(3, "b", "1"))
    (warning,) = [w for w in table.warnings if "values under no column name" in w]
    assert "line 2:" in warning and "delimiter" not in warning


def test_xlsx_by_magic_bytes_and_line_is_the_sheet_row(tmp_path):
    p = make_xlsx(tmp_path / "list.csv", [[], [], HEADER, [REF, "a", "1", D1]])
    table = read_input(p)
    assert table.rows == (ref(4, "a", "1"),)
    assert table.blank_rows == 2


def test_xlsx_first_sheet_by_default_with_a_warning_and_sheet_by_name(tmp_path):
    p = tmp_path / "in.xlsx"
    wb = openpyxl.Workbook()
    wb.active.title = "Notes"
    wb.active.append(["just", "notes"])
    ws = wb.create_sheet("Images")
    ws.append(HEADER)
    ws.append([REF, "a", "1.0", D1])
    wb.save(p)
    with pytest.raises(InputError, match="missing required column"):
        read_input(p)
    table = read_input(p, sheet="images")
    assert table.sheet == "Images"
    assert table.rows == (ref(2, "a"),)
    with pytest.raises(InputError, match="sheet 'Nope' not found; the workbook has: 'Notes', 'Images'"):
        read_input(p, sheet="Nope")


def test_xlsx_several_sheets_warns_which_was_read(tmp_path):
    p = make_xlsx(tmp_path / "in.xlsx", [HEADER, [REF, "a", "1.0", D1]], sheets=("Data", "Other"))
    table = read_input(p)
    assert table.rows == (ref(2, "a"),)
    assert any("read the first, 'Data'" in w for w in table.warnings)


def test_corrupt_xlsx(tmp_path):
    with pytest.raises(InputError, match="not a readable XLSX workbook"):
        read_input(write(tmp_path, b"PK\x03\x04garbage", name="in.xlsx"))
