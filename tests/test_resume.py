"""Interrupted runs and `--resume`: signals, SIGKILL at random moments, `--retry-failed`.

The job runs as a subprocess against a loopback sandbox; the sandbox's
request log shows what was asked again, the journal what was kept.
"""

from __future__ import annotations

import random
import re
import signal
import sys
import time
from collections import Counter
from pathlib import Path

import openpyxl
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
from jobrun import (VOLATILE, assert_whole_reports, details_requests, journal_key, journaled,  # noqa: E402
                    parquet_frame, reports, run_job, send, start_job, summary_of, wait_until, write_input)

FAST = ("--rate", "500", "--concurrency", "8", "--no-progress", "--format", "parquet")


def _keys(records) -> set[str]:
    return {journal_key(r.key) for r in records}


def test_resume_skips_done_rows_and_retry_failed_asks_only_the_failed_ones(make_sandbox, tmp_path):
    probe = make_sandbox()
    src = tmp_path / "in.csv"
    rows = write_input(probe.dataset, src, 50)
    flaky = rows[4].values[4]
    sb = make_sandbox(faults=f"script:{flaky}=503,503,200")
    out = tmp_path / "out"
    first = run_job(src, sb.base_url, sb.api_key, out, *FAST, "--max-attempts", "2")
    assert first.returncode == 1
    failed_keys = {k for k, status in journaled(out).items() if status == "failed"}
    assert failed_keys and len(journaled(out)) == 50
    n = len(sb.requests)

    again = run_job(src, sb.base_url, sb.api_key, out, *FAST, "--resume")
    assert again.returncode == 1 and len(sb.requests) == n  # nothing asked again, failed rows stay failed
    assert summary_of(again.stderr)["failed"] == summary_of(first.stderr)["failed"]

    retry = run_job(src, sb.base_url, sb.api_key, out, *FAST, "--resume", "--retry-failed")
    assert retry.returncode == 0, retry.stderr[-2000:]
    asked = sb.requests[n:]
    assert _keys(asked) == failed_keys and len(asked) == len(failed_keys)
    df, meta = parquet_frame(Path(retry.stdout.split()[-1]))
    assert set(df["status"]) == {"ok"} and len(df) == 50 and meta["complete"] is True


def _interrupt_then_resume(make_sandbox, tmp_path, sig):
    # Every request takes 2 s (a stall) so that some are in flight when the signal comes.
    sb = make_sandbox(images=60, faults="stall=1,stall-seconds=2")
    src = tmp_path / "in.csv"
    write_input(sb.dataset, src, 100)
    out = tmp_path / "out"
    proc = start_job(src, sb.base_url, sb.api_key, out, "--rate", "500", "--concurrency", "4",
                     "--timeout", "10", "--no-progress")
    wait_until(lambda: len(sb.requests) >= 4, 30, "4 requests in flight")
    send(proc, sig)
    signalled = time.monotonic()
    assert proc.wait(timeout=30) == 3
    assert time.monotonic() - signalled < 8  # in-flight ones took 2 s; grace is 10 s
    stderr = (tmp_path / "out.stderr").read_text()
    assert f"{sig.name}: finishing in-flight requests" in stderr
    assert summary_of(stderr)["run"] == "interrupted"
    assert len(sb.requests) <= 8  # stopped taking rows: the 4 in flight, perhaps a few just sent

    df, meta = parquet_frame(reports(out, "parquet")[0])
    assert meta["complete"] is False and len(df) == 100
    done = (df["status"] == "ok").sum()
    assert done >= 4  # the in-flight requests finished within the grace period
    assert df["error"].dropna().str.startswith(f"not fetched: interrupted by {sig.name}").sum() == 100 - done
    ws = openpyxl.load_workbook(reports(out, "xlsx")[0], read_only=True)["Run"]
    facts = {row[0]: row[1] for row in ws.iter_rows(values_only=True) if len(row) > 1}
    assert str(facts["complete"]).startswith("no")
    kept = set(journaled(out))
    assert len(kept) == done

    # Resume (against a fault-free twin of the sandbox: same data set) asks only for the rest.
    twin = make_sandbox(images=60)
    resumed = run_job(src, twin.base_url, twin.api_key, out, "--resume", *FAST)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    asked = _keys(details_requests(twin))
    assert not asked & kept and len(asked) == 100 - done
    df, meta = parquet_frame(Path(resumed.stdout.split()[-1]))
    assert set(df["status"]) == {"ok"} and meta["complete"] is True


def test_sigint_finishes_in_flight_rows_writes_partial_reports_then_resume_completes(make_sandbox, tmp_path):
    _interrupt_then_resume(make_sandbox, tmp_path, signal.SIGINT)


def test_sigterm_does_the_same(make_sandbox, tmp_path):
    _interrupt_then_resume(make_sandbox, tmp_path, signal.SIGTERM)


def test_a_second_signal_stops_at_once_without_reports(make_sandbox, tmp_path):
    sb = make_sandbox(images=60, faults="stall=1,stall-seconds=60")  # in-flight requests never finish
    src = tmp_path / "in.csv"
    write_input(sb.dataset, src, 50)
    out = tmp_path / "out"
    proc = start_job(src, sb.base_url, sb.api_key, out, "--rate", "500", "--concurrency", "4",
                     "--timeout", "120", "--no-progress")
    wait_until(lambda: len(sb.requests) >= 4, 30, "4 requests in flight")
    send(proc, signal.SIGTERM)
    time.sleep(0.5)
    assert proc.poll() is None  # the first one waits for the in-flight requests
    send(proc, signal.SIGTERM)
    second = time.monotonic()
    assert proc.wait(timeout=30) == 3
    assert time.monotonic() - second < 5  # not the 10 s grace, not the 60 s stall
    stderr = (tmp_path / "out.stderr").read_text()
    assert "SIGTERM again: stopping now" in stderr and "reports=skipped" in stderr
    assert reports(out, "parquet") == [] and reports(out, "xlsx") == []
    assert not list(out.glob(".docker-inventory-*"))  # no temp file left either


def test_two_signals_while_the_reports_are_written_still_end_stderr_with_the_summary_line(make_sandbox, tmp_path):
    sb = make_sandbox(images=700)
    src = tmp_path / "in.csv"
    write_input(sb.dataset, src, 4000)
    out = tmp_path / "out"
    proc = start_job(src, sb.base_url, sb.api_key, out, "--rate", "2000", "--concurrency", "16",
                     "--format", "xlsx,parquet,csv", "--no-progress")
    wait_until(lambda: list(out.glob(".docker-inventory-*")), 120, "report writing to start", step=0.005)
    send(proc, signal.SIGINT)
    time.sleep(0.1)  # two signals sent at once would arrive as one
    send(proc, signal.SIGINT)
    assert proc.wait(timeout=60) == 3
    stderr = (tmp_path / "out.stderr").read_text()
    last = stderr.strip().splitlines()[-1]
    assert last.startswith("rows=") and last.endswith("reports=skipped")
    assert summary_of(last)["run"] == "interrupted"
    assert reports(out, "parquet") == [] and not list(out.glob(".docker-inventory-*"))
    planned = int(re.search(r"run start: 4000 rows, (\d+) distinct requests", stderr).group(1))
    assert len(journaled(out)) == planned  # every result kept for --resume


def test_sigkill_at_random_moments_then_resume_equals_an_uninterrupted_run(make_sandbox, tmp_path):
    rng = random.Random(20261129)
    clean = make_sandbox(images=600)
    sb = make_sandbox(images=600)
    src = tmp_path / "in.csv"
    write_input(sb.dataset, src, 2000)
    args = ("--rate", "400", "--concurrency", "8", "--no-progress")
    reference = start_job(src, clean.base_url, clean.api_key, tmp_path / "ref", *args, "--format", "parquet")

    out = tmp_path / "out"
    kills: list[tuple[str, int, dict]] = []  # (moment, requests seen, journal at the kill)
    moments = [rng.randint(250, 600) for _ in range(3)]  # requests into each run (>= 1 group commit)
    for i, at in enumerate(moments + ["reports"]):
        proc = start_job(src, sb.base_url, sb.api_key, out, *args, *(["--resume"] if i else []))
        if at == "reports":  # kill while the reports are being written
            wait_until(lambda: proc.poll() is not None or any(out.glob(".docker-inventory-*")), 60,
                       "a report being written")
        else:
            target = len(sb.requests) + at
            wait_until(lambda: proc.poll() is not None or len(sb.requests) >= target, 60,
                       f"{target} requests")
        send(proc, signal.SIGKILL)
        proc.wait(timeout=10)
        time.sleep(0.3)  # let the sandbox log requests that were already on the wire
        kills.append((str(at), len(sb.requests), journaled(out)))
        assert_whole_reports(out)  # nothing half-written under a report's name

    final = run_job(src, sb.base_url, sb.api_key, out, *args, "--resume", "--format", "parquet")
    assert final.returncode == 0, final.stderr[-2000:]
    assert reference.wait(timeout=120) == 0
    assert_whole_reports(out)
    assert not list(out.glob(".*.partial"))  # what the kill during the reports left is cleared

    # No row journaled at a kill was asked again afterwards.
    for moment, seen, journal in kills:
        later = _keys(r for r in sb.requests[seen:] if r.key)
        assert not later & set(journal), f"rows journaled at kill {moment} were requested again"
    assert len(kills[-1][2]) >= len(kills[0][2]) > 0

    got, meta = parquet_frame(Path(final.stdout.split()[-1]))
    want, _ = parquet_frame(reports(tmp_path / "ref", "parquet")[0])
    assert meta["complete"] is True and set(got["status"]) == {"ok"}
    pd.testing.assert_frame_equal(want.drop(columns=VOLATILE), got.drop(columns=VOLATILE))
    asked = Counter(r.key for r in details_requests(sb))
    print(f"kills after {moments} requests and during reports; journal sizes "
          f"{[len(j) for _, _, j in kills]}; {sum(asked.values())} requests for 2000 keys")


def test_in_flight_rows_that_outlast_the_grace_period_are_cut_and_the_reports_written(make_sandbox, tmp_path):
    # In process, to give the grace period (10 s from the CLI) half a second.
    import os
    import threading

    from har_inventory.fetch import FetchConfig
    from har_inventory.runner import EXIT_ABORTED, RunOptions, run_job as run_in_process

    sb = make_sandbox(images=60, faults="stall=1,stall-seconds=60")  # answers never come
    src = tmp_path / "in.csv"
    write_input(sb.dataset, src, 30)
    cfg = FetchConfig(base_url=sb.base_url, api_key=sb.api_key, rate=500.0, concurrency=4, timeout=120.0)
    opts = RunOptions(input_path=src, fetch=cfg, output_dir=tmp_path / "out", formats=("parquet",),
                      grace_seconds=0.5)

    def interrupt():
        wait_until(lambda: len(sb.requests) >= 4, 30, "4 requests in flight")
        os.kill(os.getpid(), signal.SIGTERM)

    threading.Thread(target=interrupt, daemon=True).start()
    started = time.monotonic()
    outcome = run_in_process(opts)
    assert time.monotonic() - started < 20  # not the 60 s stall
    assert outcome.exit_code == EXIT_ABORTED and outcome.summary.endswith("run=interrupted")
    df, meta = parquet_frame(outcome.paths[0])
    assert meta["complete"] is False and len(df) == 30
    assert set(df["status"]) == {"failed"}
    assert set(df["error"]) == {"not fetched: interrupted by SIGTERM"}
    assert len(sb.requests) == 4
