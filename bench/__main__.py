"""`python -m bench` (`make bench`): the benchmarks; prints a table and writes `outputs/bench.json`.

Scenarios (one module each): `rate` (rate_bound), `latency` (latency_bound),
`cpu` (cpu_bound), `reports` (report_writers), `scaling`; `profile` runs only
when named with `--only`. The sandbox runs as a separate process on the same
machine. Sizes: `--quick` (a minute or two), default (issue 7's sizes for
the rate, latency and CPU scenarios; 50,000-row reports and scaling to
100,000 rows; about 7 minutes on two cores), `--full` (the sizes of issue
7 in full: 200,000-row reports, 1,000,000-row scaling; about 40 minutes).
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
from dataclasses import asdict
from datetime import datetime, timezone
from pathlib import Path

from . import cpu_bound, latency_bound, profile, rate_bound, report_writers, scaling
from .context import Context, Sizes
from .results import Figure, machine, table, write_json
from .sandbox_proc import REPO

SCENARIOS = {"rate": rate_bound.run, "latency": latency_bound.run, "cpu": cpu_bound.run,
             "reports": report_writers.run, "scaling": scaling.run, "profile": profile.run}
DEFAULT_SCENARIOS = ("rate", "latency", "cpu", "reports", "scaling")

PROFILES = {
    "quick": Sizes(rate_rows=600, latency_rows=1_000, cpu_rows=2_000, requests_rows=500,
                   report_rows=10_000, scale_rows=(2_000, 20_000)),
    "default": Sizes(rate_rows=3_000, latency_rows=5_000, cpu_rows=20_000, requests_rows=2_000,
                     report_rows=50_000, scale_rows=(10_000, 100_000)),
    "full": Sizes(rate_rows=3_000, latency_rows=5_000, cpu_rows=20_000, requests_rows=5_000,
                  report_rows=200_000, scale_rows=(10_000, 100_000, 1_000_000), to_excel_without_lxml=True),
}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    size = p.add_mutually_exclusive_group()
    size.add_argument("--quick", action="store_true", help="small sizes, for a smoke run")
    size.add_argument("--full", action="store_true", help="issue 7's full sizes (slow)")
    p.add_argument("--only", action="append", default=[], metavar="NAME",
                   help=f"run only these scenarios (repeatable or comma-separated): {', '.join(SCENARIOS)}")
    p.add_argument("--repeat", type=int, default=3, help="runs per short scenario, median reported (default 3)")
    p.add_argument("--output", type=Path, default=REPO / "outputs" / "bench.json",
                   help="where to write the JSON results (default outputs/bench.json)")
    p.add_argument("--keep", action="store_true", help="keep the work directory (inputs, journals, reports)")
    args = p.parse_args(argv)
    names = [n for item in args.only for n in item.split(",") if n]
    unknown = [n for n in names if n not in SCENARIOS]
    if unknown:
        p.error(f"unknown scenario(s): {', '.join(unknown)}; expected {', '.join(SCENARIOS)}")
    args.scenarios = names or list(DEFAULT_SCENARIOS)
    if args.repeat < 1:
        p.error("--repeat must be >= 1")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    profile_name = "quick" if args.quick else "full" if args.full else "default"
    started = datetime.now(timezone.utc)
    work = Path(tempfile.mkdtemp(prefix="har-bench-"))
    ctx = Context(PROFILES[profile_name], args.repeat, work, profile_name)
    figures: list[Figure] = []
    failed: dict[str, str] = {}
    ctx.say(f"{profile_name} sizes, scenarios {', '.join(args.scenarios)}; cpu_count={os.cpu_count()}, "
            f"work dir {work}")
    try:
        for name in args.scenarios:
            try:
                figures += SCENARIOS[name](ctx)
            except Exception as exc:  # one broken scenario must not lose the others' figures
                failed[name] = f"{type(exc).__name__}: {exc}"
                ctx.say(f"{name} FAILED: {failed[name]}")
    finally:
        if args.keep:
            ctx.say(f"work dir kept: {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    m = machine()
    print()
    print(table(figures))
    print()
    print(f"cpu_count={m['cpu_count']}  load average {', '.join(f'{x:.2f}' for x in m['load_avg_1_5_15'])}  "
          f"python {m['python']}  aiohttp {m['aiohttp']}  pandas {m['pandas']}  openpyxl {m['openpyxl']}  "
          f"sizes={profile_name}  repeat={args.repeat}")
    print("The sandbox server runs as a separate process on the same machine and shares its cores.")
    for name, why in failed.items():
        print(f"scenario {name} failed: {why}")
    options = {"profile": profile_name, "scenarios": args.scenarios, "repeat": args.repeat,
               "sizes": asdict(PROFILES[profile_name])}
    path = write_json(args.output, figures, options, started, {"failed": failed})
    print(f"wrote {path}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
