"""reports/__init__ and base: naming, atomic publish, the shared interface."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timezone
from itertools import islice

import pytest

from har_inventory.reports import FORMATS, open_writer, report_path
from har_inventory.reports.base import candidates, publish

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
def test_existing_report_is_never_overwritten_the_next_name_is_taken(tmp_path, fmt, columns, sample, run):
    target = tmp_path / f"r.{fmt}"
    target.write_bytes(b"precious")
    w = open_writer(fmt, target, columns)
    w.write(sample[2])
    assert w.close(run) == tmp_path / f"r-2.{fmt}" == w.path
    # a file that appears while writing is not clobbered either: -3 after -2
    other = tmp_path / f"r-2.{fmt}"
    w = open_writer(fmt, other, columns)
    w.write(sample[2])
    other.rename(tmp_path / "kept")
    other.write_bytes(b"precious too")
    assert w.close(run).name == f"r-3.{fmt}"
    assert other.read_bytes() == b"precious too" and target.read_bytes() == b"precious"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["kept", target.name, other.name, f"r-3.{fmt}"])


def test_runs_started_in_the_same_second_all_publish(tmp_path, sample, columns, run):
    """Four runs, same --output-dir, same start second: each gets its own complete report."""
    paths = [report_path(tmp_path, T, "csv") for _ in range(4)]
    (tmp_path / paths[0].name).write_text("first run, already published")
    paths = [report_path(tmp_path, T, "csv") for _ in range(4)]  # all pick -2, nobody has published it yet
    assert {p.name for p in paths} == {"docker-inventory-20260301T120005Z-2.csv"}
    writers = [open_writer("csv", p, columns) for p in paths]
    for w in writers:
        w.write(sample[2])
    barrier = threading.Barrier(len(writers))

    def close(w):
        barrier.wait()
        return w.close(run)

    with ThreadPoolExecutor(len(writers)) as pool:
        got = list(pool.map(close, writers))
    assert sorted(p.name for p in got) == [f"docker-inventory-20260301T120005Z-{n}.csv" for n in (2, 3, 4, 5)]
    expected = writers[0].path.read_bytes()
    assert all(p.read_bytes() == expected for p in got)  # each one complete
    assert len(list(tmp_path.iterdir())) == 5  # no temp file left


def test_candidates_and_publish(tmp_path):
    assert [p.name for p in islice(candidates(tmp_path / "r.csv"), 3)] == ["r.csv", "r-2.csv", "r-3.csv"]
    assert [p.name for p in islice(candidates(tmp_path / "r-9.csv"), 2)] == ["r-9.csv", "r-10.csv"]
    stamp = "docker-inventory-20260301T120005Z"
    assert next(candidates(tmp_path / f"{stamp}.xlsx")).name == f"{stamp}.xlsx"
    tmp = tmp_path / ".x.partial"
    tmp.write_text("report")
    (tmp_path / "r.csv").write_text("old")
    assert publish(tmp, tmp_path / "r.csv") == tmp_path / "r-2.csv"
    assert (tmp_path / "r.csv").read_text() == "old" and (tmp_path / "r-2.csv").read_text() == "report"
    assert not tmp.exists()


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
