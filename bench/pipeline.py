"""The job's stages called in-process, as `runner.run_job` calls them, for timing.

`fetch_and_normalize` is the job without its report writers: read_input ->
plan_requests -> `Fetcher.run` with `Journal.record` -> normalize in chunks
(`runner.normalized_frames`, the same call the report stage makes).
`end_to_end` is `run_job` itself, reports included.
Both return a `JobRun` (wall seconds, rows, statuses, requests, retries, 429s).
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

from har_inventory.fetch import FetchConfig, Fetcher
from har_inventory.inputs import read_input
from har_inventory.journal import Journal
from har_inventory.runner import RunOptions, file_sha256, normalized_frames, relaxed_gc, run_job
from har_inventory.validate import plan_requests


@dataclass
class JobRun:
    """One timed job run: `seconds` wall time, `rows` input rows, `statuses` status -> rows."""

    seconds: float
    rows: int
    statuses: dict[str, int] = field(default_factory=dict)
    requests: int = 0
    retries: int = 0
    throttled: int = 0
    stage_seconds: dict[str, float] = field(default_factory=dict)

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds else 0.0


def fetch_config(base_url: str, api_key: str, *, concurrency: int, rate: float) -> FetchConfig:
    """The job's fetch options for a benchmark (defaults otherwise)."""
    return FetchConfig(base_url=base_url, api_key=api_key, concurrency=concurrency, rate=rate)


def fetch_and_normalize(input_csv: Path, work_dir: Path, config: FetchConfig) -> JobRun:
    """read_input -> plan -> fetch (journaled) -> normalize per `CHUNK_ROWS` chunk; no reports.

    Under `runner.relaxed_gc()`, as `run_job` runs."""
    with relaxed_gc():
        return _fetch_and_normalize(input_csv, work_dir, config)


def _fetch_and_normalize(input_csv: Path, work_dir: Path, config: FetchConfig) -> JobRun:
    t0 = time.perf_counter()
    table = read_input(input_csv)
    plan = plan_requests(table.rows)
    sha = file_sha256(input_csv)
    t_read = time.perf_counter()
    journal = Journal.in_dir(work_dir, sha, resume=False)
    try:
        fetcher = Fetcher(config)

        def on_result(result, final: bool) -> None:
            journal.record(result)

        stats = asyncio.run(fetcher.run(plan.unique, on_result))
        journal.flush()
        t_fetch = time.perf_counter()
        statuses = _normalize_all(table.rows, journal)
    finally:
        journal.close()
    t1 = time.perf_counter()
    return JobRun(t1 - t0, len(table.rows), statuses, stats.requests, stats.retries, stats.throttled,
                  {"read+plan": t_read - t0, "fetch+journal": t_fetch - t_read, "normalize": t1 - t_fetch})


def _normalize_all(rows: Sequence, journal: Journal) -> dict[str, int]:
    """`runner.normalized_frames` as the report stage calls it; status -> rows."""
    counts: Counter = Counter()
    _, frames = normalized_frames(rows, journal, {}, missing_error="not fetched")
    for frame in frames:
        counts.update(frame["status"].astype(str).tolist())
    return dict(counts)


def end_to_end(input_csv: Path, out_dir: Path, config: FetchConfig,
               formats: Sequence[str] = ("xlsx", "parquet")) -> JobRun:
    """`run_job` as `har-inventory run` calls it (interpreter start and imports not counted)."""
    t0 = time.perf_counter()
    outcome = run_job(RunOptions(input_path=input_csv, fetch=config, output_dir=out_dir,
                                 formats=tuple(formats)))
    seconds = time.perf_counter() - t0
    run = outcome.run
    return JobRun(seconds, run.input_rows, {k: v for k, v in run.counts.items() if v},
                  run.requests, run.retries)
