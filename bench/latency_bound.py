"""Scenario 2, latency-bound: every answer takes 50 ms, no rate limit, concurrency 32.

The ceiling is 32 requests in flight / 0.05 s = 640 requests/s. Figure: the
fetch stage's rows/s (one distinct request per row) ÷ 640 (target >= 0.9),
median of `repeat` runs; the job's rate (10,000/s) does not bind. The bare
aiohttp loop at the same latency runs once, to show what this machine allows.

The sandbox answers each request 50 ms after it arrived, its own work
inside that time (`sandbox.app`). (When it added its CPU time on top,
the bare loop reached only ~0.8 of 640 on a 2-core machine.)
Information rows:
- one request at a time (concurrency 1): its mean round trip is 50 ms plus
  what no server can hide: the client's own time, loopback, the event
  loops' wake-ups (asyncio rounds timer waits up to the millisecond);
  32 / that round trip is the ceiling this machine really has;
- the job against that measured ceiling;
- the same run with the latency drawn from 40-60 ms (mean still 50 ms), as
  real network latency varies.
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
        urls = details_urls(sb.base_url, keys)
        base_s, base_ok = aiohttp_loop(urls, sb.api_key, CONCURRENCY)
        single_n = min(100, rows)
        single_s, _ = aiohttp_loop(urls[:single_n], sb.api_key, 1)
    round_trip = single_s / single_n
    low, high = LATENCY_S * 1000 * 0.8, LATENCY_S * 1000 * 1.2
    with SandboxProcess(images=images_for(rows), latency_ms=f"{low:.0f}:{high:.0f}") as sb:
        config = fetch_config(sb.base_url, sb.api_key, concurrency=CONCURRENCY, rate=RATE)
        jitter_job = fetch_and_normalize(csv_path, ctx.run_dir("latency-jitter"), config)
    jitter_rps = jitter_job.requests / jitter_job.stage_seconds["fetch+journal"]
    base_rps = rows / base_s
    detail = {"rows": rows, "runs_fetch_rows_per_s": [r[1] for r in runs],
              "runs_pipeline_rows_per_s": [r[0].rows_per_s for r in runs], "statuses": job.statuses,
              "stage_seconds": job.stage_seconds, "baseline_ok": base_ok}
    return [
        Figure("2 latency-bound", "fetch rows/s", fetch_rps, "rows/s", ceiling, "32 / 50 ms",
               fetch_rps / ceiling, ">= 0.9", fetch_rps / ceiling >= 0.9, detail),
        Figure("2 latency-bound", "bare aiohttp loop rows/s", base_rps, "rows/s", ceiling, "32 / 50 ms",
               base_rps / ceiling, "info", None, {"rows": rows, "runs": 1}),
        Figure("2 latency-bound", "one request at a time: round trip", round_trip * 1000, "ms", LATENCY_S * 1000,
               "sandbox latency", round_trip / LATENCY_S, "info", None,
               {"requests": single_n, "ceiling_rows_per_s": CONCURRENCY / round_trip}),
        Figure("2 latency-bound", "fetch rows/s", fetch_rps, "rows/s", CONCURRENCY / round_trip,
               "32 / measured round trip", fetch_rps * round_trip / CONCURRENCY, "info", None),
        Figure("2 latency-bound", f"fetch rows/s, latency {low:.0f}-{high:.0f} ms", jitter_rps, "rows/s", ceiling,
               "32 / 50 ms", jitter_rps / ceiling, "info", None,
               {"rows": rows, "runs": 1, "statuses": jitter_job.statuses}),
    ]
