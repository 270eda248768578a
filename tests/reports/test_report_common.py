"""reports/__init__ and base: naming, atomic publish, the shared interface."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from har_inventory.reports import FORMATS, open_writer, report_path

T = datetime(2026, 3, 1, 12, 0, 5, tzinfo=timezone.utc)


def test_report_path_names_and_suffixes(tmp_path):
    p = report_path(tmp_path, T, "xlsx")
    assert p.name == "docker-inventory-20260301T120005Z.xlsx"
    p.touch()
    assert report_path(tmp_path, T, "xlsx").name == "docker-inventory-20260301T120005Z-2.xlsx"
    (tmp_path / "docker-inventory-20260301T120005Z-2.xlsx").touch()
    assert report_path(tmp_path, T, "xlsx").name.endswith("-3.xlsx")
    assert report_path(tmp_path, T, "parquet").name == "docker-inventory-20260301T120005Z.parquet"
    with pytest.raises(ValueError):
        report_path(tmp_path, T, "pdf")


@pytest.mark.parametrize("fmt", FORMATS)
def test_atomic_write_target_appears_only_at_close(tmp_path, fmt, sample, columns, run):
    target = tmp_path / f"r.{fmt}"
    w = open_writer(fmt, target, columns)
    w.write(sample[2])
    assert not target.exists()
    assert w.close(run) == target and target.stat().st_size > 0
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name]  # no temp file left


@pytest.mark.parametrize("fmt", FORMATS)
def test_abort_leaves_nothing(tmp_path, fmt, sample, columns):
    w = open_writer(fmt, tmp_path / f"r.{fmt}", columns)
    w.write(sample[2])
    w.abort()
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("fmt", FORMATS)
def test_existing_report_is_never_overwritten(tmp_path, fmt, columns, sample, run):
    target = tmp_path / f"r.{fmt}"
    target.write_bytes(b"precious")
    with pytest.raises(FileExistsError):
        open_writer(fmt, target, columns)
    # and a file that appears while writing is not clobbered either
    other = tmp_path / f"s.{fmt}"
    w = open_writer(fmt, other, columns)
    w.write(sample[2])
    other.write_bytes(b"precious too")
    with pytest.raises(FileExistsError):
        w.close(run)
    assert other.read_bytes() == b"precious too" and target.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == [target.name, other.name]


def test_context_manager_aborts_on_error(tmp_path, columns, sample):
    with pytest.raises(RuntimeError):
        with open_writer("csv", tmp_path / "r.csv", columns) as w:
            w.write(sample[2])
            raise RuntimeError("boom")
    assert list(tmp_path.iterdir()) == []


def test_bad_format_and_columns(tmp_path, columns):
    with pytest.raises(ValueError):
        open_writer("pdf", tmp_path / "r.pdf", columns)
    with pytest.raises(ValueError):
        open_writer("csv", tmp_path / "r.csv", list(reversed(columns)))
