"""Helpers for end-to-end tests that run `har-inventory run` as a subprocess against the sandbox.

Imported by tests/test_resilience.py, test_resume.py, test_secrets.py and
test_logs.py (`sys.path` gets this folder first; pytest runs with
`--import-mode=importlib`). No fixtures here: `make_sandbox` comes from conftest.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Iterable

import pyarrow.parquet as pq

from har_inventory.sandbox.input_csv import write_input_csv

JOURNAL = "har-inventory-journal.sqlite3"
VOLATILE = ["fetched_at", "attempts"]  # what may differ between two runs of the same input
PROXY_VARS = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


def job_env(api_key: str, **extra: str) -> dict[str, str]:
    """The environment for a job subprocess: the key in HARNESS_API_KEY, no inherited proxy or base URL."""
    env = {k: v for k, v in os.environ.items()
           if k.lower() not in PROXY_VARS and k not in ("HAR_BASE_URL", "HARNESS_API_KEY")}
    env["HARNESS_API_KEY"] = api_key
    env.update(extra)
    return env


def job_cmd(input_path: Path, base_url: str, out: Path, *args: str) -> list[str]:
    return [sys.executable, "-m", "har_inventory", "run", str(input_path), "--base-url", base_url,
            "--output-dir", str(out), *args]


def run_job(input_path: Path, base_url: str, api_key: str, out: Path, *args: str,
            timeout: float = 120, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """Run the job to its end; stdout and stderr captured as text."""
    return subprocess.run(job_cmd(input_path, base_url, out, *args), capture_output=True, text=True,
                          env=env or job_env(api_key), timeout=timeout, cwd=out.parent)


def start_job(input_path: Path, base_url: str, api_key: str, out: Path, *args: str,
              env: dict[str, str] | None = None) -> subprocess.Popen:
    """Start the job; stdout/stderr go to `out.parent/<out.name>.stdout|.stderr` files (read them after)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    stdout = open(out.parent / f"{out.name}.stdout", "ab")
    stderr = open(out.parent / f"{out.name}.stderr", "ab")
    try:
        return subprocess.Popen(job_cmd(input_path, base_url, out, *args), stdout=stdout, stderr=stderr,
                                env=env or job_env(api_key), cwd=out.parent)
    finally:
        stdout.close()
        stderr.close()


def wait_until(predicate, timeout: float, what: str, step: float = 0.02) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(step)


def write_input(dataset, path: Path, rows: int, **counts: int) -> list:
    """An input CSV of `rows` rows matching the sandbox data set; no special rows unless asked."""
    for name in ("unknown", "invalid", "forbidden", "duplicates"):
        counts.setdefault(name, 0)
    return write_input_csv(dataset, path, rows=rows, **counts)


def details_requests(handle) -> list:
    """The sandbox's records of details calls (those with a request key)."""
    return [r for r in list(handle.requests) if r.key and r.path.endswith("/docker/details")]


def journal_key(log_key: str) -> str:
    """The sandbox log's `ref|artifact|version|version_type|digest` as the journal's request_key."""
    return "\x1f".join(log_key.split("|"))


def journaled(out: Path) -> dict[str, str]:
    """Committed journal rows of `out`: request_key -> status (read-only, works after a kill)."""
    path = out / JOURNAL
    if not path.exists():
        return {}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return dict(db.execute("SELECT request_key, status FROM results"))
    except sqlite3.OperationalError:  # killed before the table was created
        return {}
    finally:
        db.close()


def reports(out: Path, ext: str) -> list[Path]:
    return sorted(p for p in out.glob(f"docker-inventory-*.{ext}"))


def parquet_frame(path: Path):
    """(DataFrame, run metadata dict) of a Parquet report."""
    table = pq.read_table(path)
    meta = json.loads(pq.read_metadata(path).metadata[b"har_inventory.run"])
    return table.to_pandas(), meta


def assert_whole_reports(out: Path) -> None:
    """Every report under its final name is complete: Parquet has its footer and run
    metadata, XLSX is a valid zip; no half-written file carries a final name."""
    for path in reports(out, "parquet"):
        assert b"har_inventory.run" in pq.read_metadata(path).metadata, path
    for path in reports(out, "xlsx"):
        with zipfile.ZipFile(path) as z:
            assert z.testzip() is None, path
    for path in reports(out, "csv"):
        assert path.read_bytes().endswith(b"\n"), path


def all_bytes(paths: Iterable[Path]) -> Iterable[tuple[Path, bytes]]:
    for root in paths:
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file())
        for f in files:
            yield f, f.read_bytes()


def send(proc: subprocess.Popen, sig: signal.Signals) -> None:
    if proc.poll() is None:
        os.kill(proc.pid, sig)


def summary_of(stderr: str) -> dict[str, str]:
    """The `k=v …` summary line (the last line of stderr starting with `rows=`)."""
    lines = [ln for ln in stderr.splitlines() if ln.startswith("rows=")]
    assert lines, f"no summary line in stderr:\n{stderr[-2000:]}"
    return dict(part.split("=", 1) for part in lines[-1].split())
