"""The job, stage by stage: input -> plan -> fetch (journaled) -> normalize -> reports.

`run_job(options)` is what `har-inventory run` does; the CLI only parses
arguments, maps errors to exit codes and prints. Exit codes: 0 every row
ok; 1 finished, some rows not ok; 2 usage or input error, or another run
holding the output folder (`outdir`), nothing sent; 3 aborted or
interrupted, partial results kept.
"""

from __future__ import annotations

import asyncio
import gc
import hashlib
import logging
import signal
import sys
import threading
from contextlib import ExitStack, contextmanager
from itertools import chain
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Sequence

import pandas as pd

from har_inventory import __version__
from har_inventory.fetch import FetchConfig, Fetcher, FetchStats
from har_inventory.inputs import InputTable, read_input
from har_inventory.journal import Journal
from har_inventory import schema
from har_inventory.normalize import metadata_kinds, normalize
from har_inventory.outdir import claim
from har_inventory.records import ArtifactRef, FetchResult, InputRow, RequestKey, RunInfo, Status
from har_inventory.reports import open_writer, report_path
from har_inventory.validate import plan_requests

log = logging.getLogger(__name__)

EXIT_OK, EXIT_NOT_ALL_OK, EXIT_USAGE, EXIT_ABORTED = 0, 1, 2, 3
CHUNK_ROWS = 10_000
SUMMARY_STATUSES = ("ok", "not_found", "forbidden", "unauthorized", "failed", "invalid_input")


@dataclass(frozen=True)
class RunOptions:
    """Everything `har-inventory run` was asked to do (the API key lives in `fetch.api_key` only)."""

    input_path: Path
    fetch: FetchConfig
    output_dir: Path = Path("outputs")
    formats: Sequence[str] = ("xlsx", "parquet")
    registry_ref: str | None = None
    delimiter: str | None = None
    sheet: str | None = None
    resume: bool = False
    retry_failed: bool = False
    grace_seconds: float = 10.0
    progress: bool = False
    excel_row_limit: int = 1_048_575

    def loggable(self) -> dict:
        """The options as plain values for the Run sheet and logs, never the API key."""
        fetch = {k: v for k, v in asdict(self.fetch).items() if k != "api_key"}
        return {"input": str(self.input_path), "output_dir": str(self.output_dir),
                "formats": list(self.formats), "registry_ref": self.registry_ref,
                "delimiter": self.delimiter, "sheet": self.sheet, "resume": self.resume,
                "retry_failed": self.retry_failed, **fetch}


@dataclass
class RunOutcome:
    """What a run produced: exit code, report paths, run information, the summary line."""

    exit_code: int
    paths: list[Path] = field(default_factory=list)
    run: RunInfo | None = None
    summary: str = ""


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes (the journal's and the Run sheet's input identity)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


GC_GEN0_THRESHOLD = 10_000  # objects; Python's default is 700


@contextmanager
def relaxed_gc(gen0: int = GC_GEN0_THRESHOLD) -> Iterator[None]:
    """Run the block with Python's young-generation GC threshold raised to `gen0` allocations.

    The job allocates millions of short-lived objects (a parsed response, a
    row tuple per input row) while it holds many long-lived ones (the input
    rows, the journal's recent rows); with the default threshold of 700 the
    collector ran so often that it took ~20% of the normalize stage (issue 7's
    CPU-bound benchmark). Memory barely changes: reference counting still frees
    everything without cycles at once. The previous thresholds come back on exit;
    a threshold of 0 (automatic collection switched off by the caller) is kept.
    """
    old = gc.get_threshold()
    if old[0]:
        gc.set_threshold(max(gen0, old[0]), *old[1:])
    try:
        yield
    finally:
        gc.set_threshold(*old)


def summary_line(run: RunInfo) -> str:
    """`rows=… ok=… not_found=… forbidden=… unauthorized=… failed=… unsent=… invalid=… requests=… retries=…
    saved=… elapsed=…s run=complete|interrupted|aborted`: the last line on stderr, for cron."""
    c = run.counts
    parts = [f"rows={run.input_rows}"]
    for s in SUMMARY_STATUSES:
        parts.append(f"{'invalid' if s == 'invalid_input' else s}={c.get(s, 0)}")
        if s == "failed":
            parts.append(f"unsent={run.notes.get('rows_not_sent', 0)}")
    parts += [f"requests={run.requests}", f"retries={run.retries}", f"saved={run.duplicates_saved}",
              f"elapsed={run.elapsed_s or 0:.1f}s", f"run={run.state}"]
    return " ".join(parts)


def _chunks(rows: Sequence[InputRow], size: int) -> Iterator[Sequence[InputRow]]:
    for i in range(0, len(rows), size):
        yield rows[i:i + size]
    if not rows:
        yield rows


class _Signals:
    """First SIGINT/SIGTERM: stop taking rows, grace period for in-flight ones. Second: stop now."""

    def __init__(self, fetcher: Fetcher, grace: float):
        self.fetcher, self.grace, self.count, self.task = fetcher, grace, 0, None
        self.hard = False

    def install(self, loop: asyncio.AbstractEventLoop, task: asyncio.Task) -> None:
        self.task = task
        for sig in (signal.SIGINT, signal.SIGTERM):
            try:
                loop.add_signal_handler(sig, self._on_signal, sig, loop)
            except (NotImplementedError, RuntimeError):  # not the main thread
                pass

    def _on_signal(self, sig: signal.Signals, loop: asyncio.AbstractEventLoop) -> None:
        self.count += 1
        if self.count == 1:
            log.warning("%s: finishing in-flight requests (up to %.0f s), then writing what is done; "
                        "send it again to stop at once", sig.name, self.grace,
                        extra={"event": "interrupt", "signal": sig.name})
            self.fetcher.stop(f"interrupted by {sig.name}")
            loop.call_later(self.grace, self._cancel)
        else:
            log.warning("%s again: stopping now", sig.name, extra={"event": "interrupt", "signal": sig.name})
            self.hard = True
            self._cancel()

    def _cancel(self) -> None:
        if self.task and not self.task.done():
            self.task.cancel()


class _ReportSignals:
    """While the reports are written: a first SIGINT/SIGTERM lets them finish (they are
    quick and complete), a second one (counting those of the fetch stage, `count`)
    aborts them (KeyboardInterrupt: no report file is left, the journal keeps every
    result for `--resume`)."""

    def __init__(self, count: int = 0):
        self.count = count
        self.last: str | None = None  # the name of the last signal received here

    def __enter__(self) -> "_ReportSignals":
        self.old = {}
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self.old[sig] = signal.signal(sig, self._on_signal)
        return self

    def _on_signal(self, signum: int, frame) -> None:
        self.count += 1
        name = self.last = signal.Signals(signum).name
        if self.count == 1:
            log.warning("%s: finishing the reports; send it again to stop at once", name,
                        extra={"event": "interrupt", "signal": name})
            return
        log.warning("%s again: reports abandoned", name, extra={"event": "interrupt", "signal": name})
        raise KeyboardInterrupt

    def __exit__(self, *exc) -> None:
        for sig, handler in self.old.items():
            signal.signal(sig, handler)


async def _fetch_all(opts: RunOptions, todo: list[ArtifactRef], journal: Journal,
                     unjournaled: dict[RequestKey, FetchResult]) -> tuple[FetchStats, _Signals]:
    """Fetch `todo`, journaling final results as they come; the rest go to `unjournaled`.

    A row that failed without any HTTP response (timeouts, refused
    connections) is journaled only if the run completes: when the run
    aborts (server down), `--resume` asks for it again without `--retry-failed`.
    """
    fetcher = Fetcher(opts.fetch)
    held: list[FetchResult] = []
    signals = _Signals(fetcher, opts.grace_seconds)
    bar = None
    if opts.progress and todo:
        from tqdm import tqdm
        bar = tqdm(total=len(todo), unit="req", file=sys.stderr, dynamic_ncols=True)

    def on_result(result: FetchResult, final: bool) -> None:
        if final and (result.status != Status.FAILED or result.http_status is not None):
            journal.record(result)
        else:
            unjournaled[result.key] = result
            if final:
                held.append(result)
        if bar is not None:
            bar.update(1)

    task = asyncio.ensure_future(fetcher.run(todo, on_result))
    signals.install(asyncio.get_running_loop(), task)
    try:
        await task
    except asyncio.CancelledError:
        fetcher.stop(fetcher.stopping or "cancelled")
        fetcher.stats.aborted = fetcher.stopping
    finally:
        if fetcher.stopping is None:
            for result in held:
                journal.record(result)
        journal.flush()
        if bar is not None:
            bar.close()
    return fetcher.stats, signals


def run_job(opts: RunOptions, *, table: InputTable | None = None, prior_requests: int = 0) -> RunOutcome:
    """Run the whole job. Raises `InputError` (exit 2) before any request on a refused file,
    `outdir.OutputDirBusy` (exit 2) before any request when another run holds `output_dir`.

    `prior_requests`: requests already made for this run (discovery), added to the count."""
    with relaxed_gc(), ExitStack() as held:
        return _run_job(opts, table, prior_requests, held)


def _run_job(opts: RunOptions, table: InputTable | None, prior_requests: int, held: ExitStack) -> RunOutcome:
    started = datetime.now(timezone.utc)
    table = table or read_input(opts.input_path, delimiter=opts.delimiter, sheet=opts.sheet,
                                default_registry_ref=opts.registry_ref)
    for w in table.warnings:
        log.warning("%s", w, extra={"event": "input_warning"})
    plan = plan_requests(table.rows)
    sha = file_sha256(opts.input_path)
    opts.output_dir.mkdir(parents=True, exist_ok=True)
    held.enter_context(claim(opts.output_dir))  # OutputDirBusy: another run has it
    run = RunInfo(tool_version=__version__, started_at=started, input_name=opts.input_path.name,
                  input_sha256=sha, input_rows=len(table.rows), base_url=opts.fetch.base_url,
                  options=opts.loggable(), duplicates_saved=plan.duplicates)
    if table.warnings:  # kept with the reports too (Run sheet, Parquet run information), not only logged
        run.notes["input_warnings"] = list(table.warnings)
    log.info("run start: %d rows, %d distinct requests, %d invalid, %d duplicates",
             len(table.rows), len(plan.unique), plan.invalid, plan.duplicates,
             extra={"event": "run_start", "rows": len(table.rows), "requests_planned": len(plan.unique),
                    "options": run.options})

    journal = Journal.in_dir(opts.output_dir, sha, resume=opts.resume)
    try:
        done = journal.done_keys(retry_failed=opts.retry_failed) if opts.resume else set()
        todo = [ref for ref in plan.unique if ref.key not in done]
        if opts.resume:
            run.notes["resumed_requests_already_done"] = len(plan.unique) - len(todo)
            log.info("resume: %d of %d requests already done", len(plan.unique) - len(todo), len(plan.unique),
                     extra={"event": "resume", "done": len(plan.unique) - len(todo), "todo": len(todo)})
        unjournaled: dict[RequestKey, FetchResult] = {}
        stats, signals = asyncio.run(_fetch_all(opts, todo, journal, unjournaled))
        run.requests, run.retries = stats.requests + prior_requests, stats.retries
        run.complete = stats.aborted is None
        run.stop_reason = stats.aborted
        if stats.aborted:
            log.error("run stopped: %s", stats.aborted, extra={"event": "abort", "reason": stats.aborted})
        if signals.hard:
            return _reports_skipped(run)
        report_signals = _ReportSignals(signals.count)
        try:
            with report_signals:
                paths = _write_reports(opts, table.rows, journal, unjournaled, run, stats.aborted)
        except KeyboardInterrupt:  # the second signal came while the reports were written
            if run.complete:
                run.complete, run.stop_reason = False, f"interrupted by {report_signals.last or 'a signal'}"
            return _reports_skipped(run)
    finally:
        journal.close()
    if not run.complete:
        code = EXIT_ABORTED
    else:
        code = EXIT_OK if run.counts.get("ok", 0) == run.input_rows else EXIT_NOT_ALL_OK
    run.ended_at = datetime.now(timezone.utc)  # the reports hold the time before they were closed
    summary = summary_line(run)
    log.info("run end: exit %d: %s", code, summary,
             extra={"event": "run_end", "counts": run.counts, "requests": run.requests, "retries": run.retries,
                    "throttled": stats.throttled, "pace_changes": stats.pace_changes, "complete": run.complete,
                    "exit_code": code, "summary": summary, "reports": [str(p) for p in paths]})
    return RunOutcome(code, paths, run, summary)


def normalized_frames(rows: Sequence[InputRow], journal: Journal, unjournaled: dict[RequestKey, FetchResult],
                      *, missing_error: str) -> tuple[list[schema.Column], Iterator[pd.DataFrame]]:
    """The schema's columns for this run, and its rows normalized in `CHUNK_ROWS` frames, input order.

    Results come from the journal, else from `unjournaled`; a row with neither
    is `failed` with `missing_error`. The metadata_* columns are fixed first,
    over every result, so all frames have the same columns and dtypes."""
    meta_kinds = metadata_kinds(chain(journal.results_with_metadata(),
                                      (r for r in unjournaled.values() if r.data)))
    meta_keys = tuple(sorted(meta_kinds))  # every key has a kind (TEXT when only nulls)

    def frames() -> Iterator[pd.DataFrame]:
        for chunk in _chunks(rows, CHUNK_ROWS):
            keys = {r.key for r in chunk if isinstance(r, ArtifactRef)}
            results = journal.lookup(keys)
            results.update((k, unjournaled[k]) for k in keys if k not in results and k in unjournaled)
            yield normalize(chunk, results, metadata_keys=meta_keys, metadata_kinds=meta_kinds,
                            missing_error=missing_error)

    return schema.columns(meta_keys, meta_kinds), frames()


def _reports_skipped(run: RunInfo) -> RunOutcome:
    """A second signal: no report written; the summary line still ends stderr (counts unknown)."""
    run.ended_at = datetime.now(timezone.utc)
    run.counts = {}
    return RunOutcome(EXIT_ABORTED, [], run, summary_line(run) + " reports=skipped")


def _write_reports(opts: RunOptions, rows: Sequence[InputRow], journal: Journal,
                   unjournaled: dict[RequestKey, FetchResult], run: RunInfo,
                   aborted: str | None) -> list[Path]:
    """Normalize chunk by chunk (input order) and stream into every report writer."""
    missing = f"not fetched: {aborted}" if aborted else "not fetched"
    columns, frames = normalized_frames(rows, journal, unjournaled, missing_error=missing)
    writers, counts, unsent = [], Counter(), 0
    try:
        for frame in frames:
            if not writers:
                for fmt in opts.formats:
                    path = report_path(opts.output_dir, run.started_at, fmt)
                    writers.append(open_writer(fmt, path, columns,
                                               **({"excel_row_limit": opts.excel_row_limit} if fmt == "xlsx" else {})))
            counts.update(frame["status"].astype(str).tolist())
            unsent += int(frame["error"].astype(str).str.startswith("not fetched").sum())
            for w in writers:
                w.write(frame)
        run.counts = {s: counts.get(s, 0) for s in SUMMARY_STATUSES}
        run.notes["rows_not_sent"] = unsent  # counted in `failed`: the run stopped before sending them
        run.ended_at = datetime.now(timezone.utc)
        # XLSX first: its counters (cells truncated, …) go into the run information the others store.
        closed = {id(w): w.close(run) for w in sorted(writers, key=lambda w: not w.__class__.__name__.startswith("Xlsx"))}
        return [closed[id(w)] for w in writers]
    except BaseException:
        for w in writers:
            w.abort()
        raise
