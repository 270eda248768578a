"""One measured case in a fresh process: `python -m bench.child CASE ...`; prints one JSON line.

Peak memory is the process's high-water mark of resident memory (VmHWM,
/proc/self/status), reset (`/proc/self/clear_refs` = 5) after the inputs are
loaded, so `peak_mb` is the peak *during* the measured work and
`extra_mb` = peak minus the resident size just before it (what the work
itself added on top of its input). Linux only.

Cases:
- `report KIND --frame PICKLE --out DIR`: write the pickled normalized frame.
  KIND `xlsx` / `parquet`: the project's writers (`reports.open_writer`), fed
  in `CHUNK_ROWS` slices as the runner does; `to_excel`: `DataFrame.to_excel(
  engine="openpyxl")`; `to_parquet`: `DataFrame.to_parquet()`. openpyxl's
  use of lxml follows the environment (`OPENPYXL_LXML=False` turns it off).
- `scale --rows N --csv PATH --out DIR --formats xlsx,parquet`: the job's path
  with the fetch stage replaced by synthetic results (`synth.Synth.result`):
  read_input -> plan -> journal.record -> normalize per chunk -> writers.
"""

from __future__ import annotations

import argparse
import gc
import json
import pickle
import re
import sys
import time
from collections import Counter
from datetime import datetime, timezone
from pathlib import Path


def memory_kb() -> dict[str, int]:
    """VmRSS and VmHWM of this process, kB."""
    text = Path("/proc/self/status").read_text()
    return {k: int(v) for k, v in re.findall(r"(VmHWM|VmRSS):\s+(\d+)", text)}


_LOAD_PEAK_KB = [0]


def reset_peak() -> int:
    """Reset the high-water mark to the current RSS; returns that RSS in kB.
    The peak before the reset (loading the inputs) is kept in `_LOAD_PEAK_KB`."""
    gc.collect()
    _LOAD_PEAK_KB[0] = memory_kb()["VmHWM"]
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass
    return memory_kb()["VmRSS"]


def _run_info(rows: int):
    from har_inventory.records import RunInfo
    now = datetime.now(timezone.utc)
    return RunInfo(tool_version="bench", started_at=now, ended_at=now, input_name="bench.csv",
                   input_rows=rows, base_url="http://127.0.0.1/bench", complete=True)


def report_case(kind: str, frame_path: Path, out: Path) -> dict:
    import pandas as pd
    from openpyxl import LXML

    from har_inventory.reports import open_writer
    from har_inventory.runner import CHUNK_ROWS

    with open(frame_path, "rb") as fh:
        frame: pd.DataFrame = pickle.load(fh)
    ext = "xlsx" if kind in ("xlsx", "to_excel") else "parquet"
    path = out / f"bench-{kind}-{'lxml' if LXML else 'nolxml'}.{ext}"
    path.unlink(missing_ok=True)
    if kind == "to_excel":  # Excel has no time zones and no list cells: convert beforehand (not timed)
        for c in frame.columns:
            if isinstance(frame[c].dtype, pd.DatetimeTZDtype):
                frame[c] = frame[c].dt.tz_localize(None)
        frame["tags"] = frame["tags"].map(lambda t: ",".join(t) if isinstance(t, list) else None)
    base = reset_peak()
    t0 = time.perf_counter()
    if kind in ("xlsx", "parquet"):
        writer = open_writer(kind, path, list(frame.columns))  # metadata_* kinds from the dtypes
        for i in range(0, len(frame), CHUNK_ROWS):
            writer.write(frame.iloc[i:i + CHUNK_ROWS])
        writer.close(_run_info(len(frame)))
    elif kind == "to_excel":
        frame.to_excel(path, engine="openpyxl", index=False, sheet_name="Inventory")
    elif kind == "to_parquet":
        frame.to_parquet(path)
    else:
        raise SystemExit(f"unknown report kind {kind}")
    seconds = time.perf_counter() - t0
    mem = memory_kb()
    return {"case": kind, "lxml": bool(LXML), "rows": len(frame), "seconds": seconds,
            "peak_mb": mem["VmHWM"] / 1024, "extra_mb": (mem["VmHWM"] - base) / 1024,
            "base_mb": base / 1024, "load_peak_mb": _LOAD_PEAK_KB[0] / 1024, "bytes": path.stat().st_size}


def scale_case(rows: int, csv_path: Path, out: Path, formats: list[str]) -> dict:
    from har_inventory import schema
    from har_inventory.inputs import read_input
    from har_inventory.journal import Journal
    from har_inventory.normalize import metadata_kinds, normalize
    from har_inventory.records import ArtifactRef
    from har_inventory.reports import open_writer, report_path
    from har_inventory.runner import CHUNK_ROWS, file_sha256
    from har_inventory.validate import plan_requests

    from .synth import Synth

    synth = Synth()
    base = reset_peak()
    stages: dict[str, float] = {}
    peaks: dict[str, float] = {}
    t0 = time.perf_counter()
    table = read_input(csv_path)
    plan = plan_requests(table.rows)
    sha = file_sha256(csv_path)
    t1 = time.perf_counter()
    stages["read+plan"] = t1 - t0
    peaks["read+plan"] = memory_kb()["VmHWM"] / 1024
    journal = Journal.in_dir(out, sha, resume=False)
    for ref in plan.unique:  # what Fetcher.run's on_result does, without HTTP
        journal.record(synth.result(ref.key, ref.line))
    journal.flush()
    t2 = time.perf_counter()
    stages["journal"] = t2 - t1
    peaks["journal"] = memory_kb()["VmHWM"] / 1024
    kinds = metadata_kinds(journal.results_with_metadata())
    keys = tuple(sorted(kinds))
    columns = schema.columns(keys, kinds)
    started = datetime.now(timezone.utc)
    writers = [open_writer(f, report_path(out, started, f), columns) for f in formats]
    counts: Counter = Counter()
    t_norm = 0.0
    t_write = {f: 0.0 for f in formats}
    rows_in = table.rows
    for i in range(0, len(rows_in), CHUNK_ROWS):
        chunk = rows_in[i:i + CHUNK_ROWS]
        a = time.perf_counter()
        results = journal.lookup({r.key for r in chunk if isinstance(r, ArtifactRef)})
        frame = normalize(chunk, results, metadata_keys=keys, metadata_kinds=kinds, missing_error="not fetched")
        counts.update(frame["status"].astype(str).tolist())
        t_norm += time.perf_counter() - a
        for f, w in zip(formats, writers):
            a = time.perf_counter()
            w.write(frame)
            t_write[f] += time.perf_counter() - a
    peaks["normalize+write"] = memory_kb()["VmHWM"] / 1024
    run = _run_info(len(rows_in))
    run.counts = dict(counts)
    for f, w in zip(formats, writers):
        a = time.perf_counter()
        w.close(run)
        t_write[f] += time.perf_counter() - a
    journal.close()
    seconds = time.perf_counter() - t0
    stages["normalize"] = t_norm
    stages.update({f"write {f}": t for f, t in t_write.items()})
    mem = memory_kb()
    return {"case": "scale", "rows": len(rows_in), "requests": len(plan.unique), "seconds": seconds,
            "stages": stages, "peak_mb": mem["VmHWM"] / 1024, "extra_mb": (mem["VmHWM"] - base) / 1024,
            "base_mb": base / 1024, "load_peak_mb": _LOAD_PEAK_KB[0] / 1024, "peaks_mb": peaks, "statuses": dict(counts)}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.child")
    sub = p.add_subparsers(dest="case", required=True)
    r = sub.add_parser("report")
    r.add_argument("kind", choices=("xlsx", "parquet", "to_excel", "to_parquet"))
    r.add_argument("--frame", type=Path, required=True)
    r.add_argument("--out", type=Path, required=True)
    s = sub.add_parser("scale")
    s.add_argument("--rows", type=int, required=True)
    s.add_argument("--csv", type=Path, required=True)
    s.add_argument("--out", type=Path, required=True)
    s.add_argument("--formats", default="xlsx,parquet")
    args = p.parse_args(argv)
    if args.case == "report":
        result = report_case(args.kind, args.frame, args.out)
    else:
        result = scale_case(args.rows, args.csv, args.out, [f for f in args.formats.split(",") if f])
    print(json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
