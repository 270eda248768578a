"""Scenario 3, CPU-bound: no latency, no limit; what the job's machinery costs.

- job: read_input -> plan -> `Fetcher.run` + `Journal.record` -> normalize in
  chunks (no reports), rows/s ÷ the bare aiohttp loop's rows/s in the same
  run (target >= 0.7). Job and baseline alternate, `repeat` times each, and
  the medians are compared. Client CPU seconds (this process) and server CPU
  seconds (the sandbox process) per row are kept in the detail: with two
  cores, a ratio near 1 only means something if the server was not the limit.
- info: the bare loop with `trust_env=True` (what `fetch.py`'s session did before
  issue 7: a worker-thread lookup of ~/.netrc and proxies per request),
  `run_job` end to end with the XLSX and Parquet reports (once), and the
  naive sequential `requests` loop (once, on `requests_rows` URLs).
"""

from __future__ import annotations

import time

from .baselines import aiohttp_loop, details_urls, requests_loop
from .context import Context
from .pipeline import end_to_end, fetch_and_normalize, fetch_config
from .results import Figure, median
from .sandbox_proc import SandboxProcess, images_for

CONCURRENCY = 32
RATE = 100_000.0  # requests/s: never binds


def run(ctx: Context) -> list[Figure]:
    rows = ctx.sizes.cpu_rows
    csv_path, keys = ctx.sandbox_input(rows)
    ctx.say(f"cpu-bound: {rows} rows, concurrency {CONCURRENCY}, job and bare loop alternating x{ctx.repeat}")
    job_runs, base_runs = [], []
    with SandboxProcess(images=images_for(rows)) as sb:
        urls = details_urls(sb.base_url, keys)
        config = fetch_config(sb.base_url, sb.api_key, concurrency=CONCURRENCY, rate=RATE)

        def measured(fn):
            s0, c0, t0 = sb.cpu_seconds(), time.process_time(), time.perf_counter()
            out = fn()
            return out, time.perf_counter() - t0, time.process_time() - c0, sb.cpu_seconds() - s0

        for i in range(ctx.repeat):
            (base_s, base_ok), wall, cpu, server = measured(lambda: aiohttp_loop(urls, sb.api_key, CONCURRENCY))
            base_runs.append({"rows_per_s": rows / base_s, "ok": base_ok, "client_cpu_s": cpu, "server_cpu_s": server})
            job, wall, cpu, server = measured(lambda: fetch_and_normalize(csv_path, ctx.run_dir("cpu"), config))
            job_runs.append({"rows_per_s": job.rows_per_s, "statuses": job.statuses, "client_cpu_s": cpu,
                             "server_cpu_s": server, "stage_seconds": job.stage_seconds})
            ctx.say(f"  run {i + 1}: bare loop {base_runs[-1]['rows_per_s']:.0f} rows/s, "
                    f"job {job.rows_per_s:.0f} rows/s")
        (env_s, _), _, env_cpu, env_server = measured(
            lambda: aiohttp_loop(urls, sb.api_key, CONCURRENCY, trust_env=True))
        ctx.say("  end to end (run_job, XLSX + Parquet), once")
        e2e, _, e2e_cpu, e2e_server = measured(lambda: end_to_end(csv_path, ctx.run_dir("e2e"), config))
        n_req = min(ctx.sizes.requests_rows, rows)
        ctx.say(f"  sequential requests loop, {n_req} rows, once")
        (req_s, _), _, _, _ = measured(lambda: requests_loop(urls[:n_req], sb.api_key))

    job_rps = median([r["rows_per_s"] for r in job_runs])
    base_rps = median([r["rows_per_s"] for r in base_runs])

    def per_row(runs: list[dict], k: str) -> float:  # µs per row, median over runs
        return median([r[k] for r in runs]) / rows * 1e6

    detail = {"rows": rows, "concurrency": CONCURRENCY, "job_runs": job_runs, "baseline_runs": base_runs,
              "job_client_cpu_us_per_row": per_row(job_runs, "client_cpu_s"),
              "baseline_client_cpu_us_per_row": per_row(base_runs, "client_cpu_s"),
              "job_server_cpu_us_per_row": per_row(job_runs, "server_cpu_s"),
              "baseline_server_cpu_us_per_row": per_row(base_runs, "server_cpu_s")}
    env_rps = rows / env_s
    return [
        Figure("3 CPU-bound", "job rows/s (fetch+journal+normalize)", job_rps, "rows/s", base_rps,
               "bare aiohttp loop", job_rps / base_rps, ">= 0.7", job_rps / base_rps >= 0.7, detail),
        Figure("3 CPU-bound", "client CPU per row, job", detail["job_client_cpu_us_per_row"], "µs",
               detail["baseline_client_cpu_us_per_row"], "bare aiohttp loop",
               detail["job_client_cpu_us_per_row"] / detail["baseline_client_cpu_us_per_row"], "info", None),
        Figure("3 CPU-bound", "bare loop + trust_env=True rows/s", env_rps, "rows/s", base_rps,
               "bare aiohttp loop", env_rps / base_rps, "info", None,
               {"client_cpu_us_per_row": env_cpu / rows * 1e6, "server_cpu_us_per_row": env_server / rows * 1e6}),
        Figure("3 CPU-bound", "end to end rows/s (run_job, XLSX+Parquet)", e2e.rows_per_s, "rows/s", base_rps,
               "bare aiohttp loop", e2e.rows_per_s / base_rps, "info", None,
               {"seconds": e2e.seconds, "statuses": e2e.statuses, "client_cpu_s": e2e_cpu,
                "server_cpu_s": e2e_server, "runs": 1}),
        Figure("3 CPU-bound", "sequential requests loop rows/s", n_req / req_s, "rows/s", base_rps,
               "bare aiohttp loop", n_req / req_s / base_rps, "info", None, {"rows": n_req, "runs": 1}),
    ]
