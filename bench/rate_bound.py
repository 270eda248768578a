"""Scenario 1, rate-bound: the sandbox allows 3,000 requests/min, the job runs `--rate 50`.

Figure: requests/s achieved by the fetch stage ÷ 50 (target >= 0.97) and the
number of 429s (target 0), counted by the client and in the sandbox's own
request log. 3,000 rows at 50/s take a minute, so this runs once.
"""

from __future__ import annotations

import json

from .context import Context
from .pipeline import fetch_and_normalize, fetch_config
from .results import Figure
from .sandbox_proc import SandboxProcess, images_for

RATE = 50.0
LIMIT_PER_MIN = 3000
CONCURRENCY = 8


def run(ctx: Context) -> list[Figure]:
    rows = ctx.sizes.rate_rows
    csv_path, _ = ctx.sandbox_input(rows)
    log_path = ctx.work / "rate-bound-requests.jsonl"
    log_path.unlink(missing_ok=True)
    ctx.say(f"rate-bound: {rows} rows at --rate {RATE:g}, sandbox limit {LIMIT_PER_MIN}/min "
            f"(~{rows / RATE:.0f} s, one run)")
    with SandboxProcess(images=images_for(rows), rate_limit=LIMIT_PER_MIN,
                        extra_args=["--request-log", str(log_path)]) as sb:
        cpu0 = sb.cpu_seconds()
        job = fetch_and_normalize(csv_path, ctx.run_dir("rate"), fetch_config(
            sb.base_url, sb.api_key, concurrency=CONCURRENCY, rate=RATE))
        server_cpu = sb.cpu_seconds() - cpu0
    server_429 = sum(1 for line in log_path.read_text().splitlines() if json.loads(line).get("status") == 429)
    fetch_s = job.stage_seconds["fetch+journal"]
    achieved = job.requests / fetch_s
    detail = {"rows": rows, "requests": job.requests, "fetch_seconds": fetch_s, "statuses": job.statuses,
              "client_429": job.throttled, "server_429": server_429, "retries": job.retries,
              "server_cpu_s": server_cpu, "concurrency": CONCURRENCY, "runs": 1,
              "stage_seconds": job.stage_seconds}
    return [
        Figure("1 rate-bound", "requests/s", achieved, "req/s", RATE, "--rate", achieved / RATE, ">= 0.97",
               achieved / RATE >= 0.97, detail),
        Figure("1 rate-bound", "HTTP 429s", float(max(job.throttled, server_429)), "", None,
               f"limit {LIMIT_PER_MIN}/min", None, "0", max(job.throttled, server_429) == 0, detail),
    ]
