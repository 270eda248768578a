"""Scenario 5, scaling: seconds and peak memory for growing inputs through the job's path.

Each size runs in a fresh process (`bench.child scale`): read_input of a real
CSV -> plan -> journal.record -> normalize per chunk -> XLSX + Parquet
writers. The fetch stage is replaced by synthetic results (`synth.Synth`):
HTTP is linear by construction (bounded queue, scenario 3 measures its cost)
and no sandbox data set holds a million versions. Figures: time growth per
10x rows (target <= 12x, near-linear) and peak-memory growth per 10x rows
(target < 10x, sub-linear), plus the marginal memory per 100,000 rows.
"""

from __future__ import annotations

from .children import run_child
from .context import Context
from .results import Figure
from .synth import Synth


def run(ctx: Context) -> list[Figure]:
    sizes = sorted(ctx.sizes.scale_rows)
    synth = Synth()
    res: list[dict] = []
    for n in sizes:
        csv_path = synth.write_csv(ctx.work / f"scale-{n}.csv", n)
        ctx.say(f"scaling: {n:,} rows (no HTTP), XLSX + Parquet")
        res.append(run_child(["scale", "--rows", str(n), "--csv", str(csv_path), "--out", str(ctx.run_dir("scale"))]))
        csv_path.unlink()
    figures = [Figure("5 scaling", f"{r['rows']:,} rows", r["seconds"], "s", None,
                      f"peak {r['peak_mb']:,.0f} MB", None, "info", None, r) for r in res]
    for a, b in zip(res, res[1:]):
        step = b["rows"] / a["rows"]
        t_growth = b["seconds"] / a["seconds"]
        m_growth = b["peak_mb"] / a["peak_mb"]
        per_100k = (b["peak_mb"] - a["peak_mb"]) / (b["rows"] - a["rows"]) * 100_000
        label = f"{a['rows']:,} -> {b['rows']:,}"
        figures.append(Figure("5 scaling", f"time growth {label}", t_growth, "x", step, "rows growth",
                              t_growth / step, "<= 1.2 (near-linear)", t_growth / step <= 1.2))
        figures.append(Figure("5 scaling", f"peak memory growth {label}", m_growth, "x", step, "rows growth",
                              m_growth / step, "< 1 (sub-linear)", m_growth / step < 1,
                              {"marginal_mb_per_100k_rows": per_100k}))
    return figures
