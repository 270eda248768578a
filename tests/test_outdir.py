"""The output directory's claim: one run at a time, no stale lock after a kill, leftovers removed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from har_inventory.outdir import LOCK_NAME, OutputDirBusy, claim

ROOT = Path(__file__).resolve().parents[1]

_HOLDER = textwrap.dedent("""
    import sys
    from pathlib import Path
    from har_inventory.outdir import claim
    with claim(Path(sys.argv[1])):
        print("held", flush=True)
        sys.stdin.read()  # until the test closes stdin, or kills this process
""")


def hold_in_another_process(directory: Path) -> subprocess.Popen:
    """A second process holding `directory`'s claim (returns once it holds it)."""
    proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(directory)], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, text=True, cwd=ROOT)
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_a_second_process_is_refused_with_the_holders_pid_until_it_ends(tmp_path):
    holder = hold_in_another_process(tmp_path)
    try:
        with pytest.raises(OutputDirBusy) as refused:
            with claim(tmp_path):
                pass
        assert f"pid {holder.pid}" in str(refused.value) and str(tmp_path) in str(refused.value)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    with claim(tmp_path) as stale:  # released on a normal end
        assert stale == []


def test_a_killed_holder_leaves_no_stale_lock(tmp_path):
    holder = hold_in_another_process(tmp_path)
    holder.send_signal(signal.SIGKILL)
    holder.wait(timeout=30)
    assert (tmp_path / LOCK_NAME).exists()  # the file stays; the lock went with the process
    with claim(tmp_path):
        assert f"pid={os.getpid()} " in (tmp_path / LOCK_NAME).read_text()


def test_the_same_process_may_claim_again_inside_its_claim(tmp_path):
    with claim(tmp_path):
        with claim(tmp_path) as inner:
            assert inner == []
        holder = subprocess.run([sys.executable, "-c", _HOLDER, str(tmp_path)], input="", text=True,
                                capture_output=True, cwd=ROOT, timeout=60)
        assert "OutputDirBusy" in holder.stderr  # still held after the inner claim ended
    holder = subprocess.run([sys.executable, "-c", _HOLDER, str(tmp_path)], input="", text=True,
                            capture_output=True, cwd=ROOT, timeout=60)
    assert holder.returncode == 0 and holder.stdout.strip() == "held"


def test_leftovers_of_a_killed_run_are_removed_with_a_warning_and_nothing_else(tmp_path, caplog):
    stale = [tmp_path / ".docker-inventory-20261129T101500Z.xlsx.4242-0badcafe.partial",
             tmp_path / ".docker-inventory-20261129T101500Z-2.parquet.17-deadbeef.partial",
             tmp_path / ".discovered-20261129T101500Z.csv.4242.tmp"]
    kept = [tmp_path / "docker-inventory-20261129T101500Z.xlsx", tmp_path / "notes.partial",
            tmp_path / ".docker-inventory-mine.partial", tmp_path / "har-inventory-journal.sqlite3",
            tmp_path / "discovered-20261129T101500Z.csv"]
    for p in stale + kept:
        p.write_bytes(b"x")
    with claim(tmp_path) as removed:
        assert removed == sorted(stale)
    assert [p for p in stale + kept if p.exists()] == kept
    (record,) = [r for r in caplog.records if getattr(r, "event", None) == "leftovers_removed"]
    assert record.levelname == "WARNING" and record.files == sorted(p.name for p in stale)


def test_another_thread_of_the_same_process_is_refused(tmp_path):
    import threading

    outcome = []

    def second_job():
        try:
            with claim(tmp_path):
                outcome.append("held")
        except OutputDirBusy as exc:
            outcome.append(str(exc))

    with claim(tmp_path):
        worker = threading.Thread(target=second_job)
        worker.start()
        worker.join(timeout=30)
    assert len(outcome) == 1 and f"pid {os.getpid()}," in outcome[0]


def test_a_symlink_under_the_locks_name_is_refused_and_its_target_untouched(tmp_path):
    target = tmp_path / "precious.txt"
    target.write_text("keep me")
    folder = tmp_path / "out"
    folder.mkdir()
    (folder / LOCK_NAME).symlink_to(target)
    with pytest.raises(OSError):
        with claim(folder):
            pass
    assert target.read_text() == "keep me"
