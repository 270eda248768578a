"""Scenario 4, reports: N normalized rows to XLSX and Parquet, the project's writers vs pandas.

The frame is `synth.Synth.frame(N)`: `normalize()` over results shaped like
the sandbox's answers (its own `detail_data`), with ~3% not_found, 1% failed,
0.2% invalid rows. Each case runs in a fresh process (`bench.child`), once:
seconds, and memory added during the write (peak RSS minus RSS before,
the loaded frame excluded; the absolute peak is in the detail).

Targets: the XLSX writer >= 2x faster than `DataFrame.to_excel(engine=
"openpyxl")` and < half its added memory. `to_excel` gets the frame with
time zones dropped and `tags` joined to text first (Excel supports neither;
not timed). openpyxl uses lxml when it is importable; `OPENPYXL_LXML=False`
measures the XLSX writer (and, with `--full`, `to_excel`) without it.
"""

from __future__ import annotations

import pickle

from .children import run_child
from .context import Context
from .results import Figure
from .synth import Synth


def run(ctx: Context) -> list[Figure]:
    n = ctx.sizes.report_rows
    ctx.say(f"reports: building {n:,} normalized rows")
    frame = Synth().frame(n)
    frame_path = ctx.work / f"frame-{n}.pkl"
    with open(frame_path, "wb") as fh:
        pickle.dump(frame, fh, protocol=pickle.HIGHEST_PROTOCOL)
    del frame
    out = ctx.run_dir("reports")
    cases = [("xlsx", True), ("xlsx", False), ("parquet", True), ("to_excel", True), ("to_parquet", True)]
    if ctx.sizes.to_excel_without_lxml:
        cases.append(("to_excel", False))
    res: dict[tuple[str, bool], dict] = {}
    for kind, lxml in cases:
        ctx.say(f"  {kind}{'' if lxml else ' (without lxml)'}, {n:,} rows")
        res[(kind, lxml)] = run_child(["report", kind, "--frame", str(frame_path), "--out", str(out)], lxml=lxml)
    frame_path.unlink()

    xw, xp, tx = res[("xlsx", True)], res[("parquet", True)], res[("to_excel", True)]
    tp, xn = res[("to_parquet", True)], res[("xlsx", False)]
    speedup = tx["seconds"] / xw["seconds"]
    mem_ratio = xw["extra_mb"] / tx["extra_mb"]
    figures = [
        Figure("4 reports", f"XLSX writer s ({n:,} rows)", xw["seconds"], "s", tx["seconds"],
               "to_excel openpyxl", speedup, ">= 2 (to_excel s / ours)", speedup >= 2, {"ours": xw, "pandas": tx}),
        Figure("4 reports", "XLSX writer added MB", xw["extra_mb"], "MB", tx["extra_mb"],
               "to_excel openpyxl", mem_ratio, "< 0.5", mem_ratio < 0.5, {"ours": xw, "pandas": tx}),
        Figure("4 reports", "Parquet writer s", xp["seconds"], "s", tp["seconds"], "to_parquet",
               xp["seconds"] / tp["seconds"], "info", None, {"ours": xp, "pandas": tp}),
        Figure("4 reports", "Parquet writer added MB", xp["extra_mb"], "MB", tp["extra_mb"], "to_parquet",
               xp["extra_mb"] / tp["extra_mb"], "info", None, {"ours": xp, "pandas": tp}),
        Figure("4 reports", "XLSX writer s without lxml", xn["seconds"], "s", xw["seconds"], "with lxml",
               xn["seconds"] / xw["seconds"], "info (>1: lxml faster)", None, {"without": xn, "with": xw}),
    ]
    if ("to_excel", False) in res:
        tn = res[("to_excel", False)]
        figures.append(Figure("4 reports", "to_excel s without lxml", tn["seconds"], "s", tx["seconds"],
                              "with lxml", tn["seconds"] / tx["seconds"], "info (>1: lxml faster)", None,
                              {"without": tn, "with": tx}))
    return figures
