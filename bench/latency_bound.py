"""Scenario 2, latency-bound: every answer takes 50 ms, no rate limit, concurrency 32.

The ceiling is 32 requests in flight / 0.05 s = 640 requests/s. Figure: the
fetch stage's rows/s (one distinct request per row) ÷ 640 (target >= 0.9),
median of `repeat` runs; the job's rate (10,000/s) does not bind. The bare
aiohttp loop at the same latency runs once, to show what this machine allows.
"""

from __future__ import annotations

from .baselines import aiohttp_loop, details_urls
from .context import Context
from .pipeline import fetch_and_normalize, fetch_config
from .results import Figure, median_run
from .sandbox_proc import SandboxProcess, images_for

LATENCY_S = 0.05
CONCURRENCY = 32
RATE = 10_000.0


def run(ctx: Context) -> list[Figure]:
    rows = ctx.sizes.latency_rows
    csv_path, keys = ctx.sandbox_input(rows)
    ceiling = CONCURRENCY / LATENCY_S
    ctx.say(f"latency-bound: {rows} rows, latency {LATENCY_S * 1000:.0f} ms, concurrency {CONCURRENCY}, "
            f"{ctx.repeat} runs")
    ms = f"{LATENCY_S * 1000:.0f}:{LATENCY_S * 1000:.0f}"
    with SandboxProcess(images=images_for(rows), latency_ms=ms) as sb:
        config = fetch_config(sb.base_url, sb.api_key, concurrency=CONCURRENCY, rate=RATE)

        def once():
            job = fetch_and_normalize(csv_path, ctx.run_dir("latency"), config)
            return job, job.requests / job.stage_seconds["fetch+journal"]

        (job, fetch_rps), runs = median_run(once, ctx.repeat, key=lambda r: r[1])
        base_s, base_ok = aiohttp_loop(details_urls(sb.base_url, keys), sb.api_key, CONCURRENCY)
    base_rps = rows / base_s
    detail = {"rows": rows, "runs_fetch_rows_per_s": [r[1] for r in runs],
              "runs_pipeline_rows_per_s": [r[0].rows_per_s for r in runs], "statuses": job.statuses,
              "stage_seconds": job.stage_seconds, "baseline_ok": base_ok}
    return [
        Figure("2 latency-bound", "fetch rows/s", fetch_rps, "rows/s", ceiling, "32 / 50 ms",
               fetch_rps / ceiling, ">= 0.9", fetch_rps / ceiling >= 0.9, detail),
        Figure("2 latency-bound", "bare aiohttp loop rows/s", base_rps, "rows/s", ceiling, "32 / 50 ms",
               base_rps / ceiling, "info", None, {"rows": rows, "runs": 1}),
    ]
