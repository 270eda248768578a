"""`python -m bench --only profile`: pyinstrument profiles of the CPU-bound path vs the bare loop.

Both run against one sandbox process (no latency, no limit, concurrency 32)
with `async_mode="disabled"`, so samples show what the event loop's thread
is doing (time idle in `select` included, listed apart). Writes
`outputs/bench-profile-job.html` and `outputs/bench-profile-baseline.html`
(open in a browser) and prints the self time grouped by where the code
lives (tenacity, aiohttp, the thread pool, har_inventory modules, ...).
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from .baselines import aiohttp_loop, details_urls
from .context import Context
from .pipeline import fetch_and_normalize, fetch_config
from .results import Figure
from .sandbox_proc import REPO, SandboxProcess, images_for

CONCURRENCY = 32

_GROUPS = (  # (substring of the file path or function, group); first match wins
    ("select", "idle (select/epoll)"), ("poll", "idle (select/epoll)"),
    ("/tenacity/", "tenacity (retries)"), ("/inspect.py", "tenacity (retries)"),
    ("concurrent/futures", "thread pool (e.g. trust_env=True)"), ("threading.py", "thread pool (e.g. trust_env=True)"),
    ("asyncio/threads.py", "thread pool (e.g. trust_env=True)"), ("netrc", "thread pool (e.g. trust_env=True)"),
    ("urllib/request.py", "thread pool (e.g. trust_env=True)"),
    ("har_inventory/pacing", "har_inventory.pacing"),
    ("har_inventory/jsontext", "json"), ("orjson", "json"),
    ("har_inventory/fetch", "har_inventory.fetch"), ("har_inventory/har", "har_inventory.har"),
    ("har_inventory/journal", "har_inventory.journal (+sqlite)"), ("sqlite", "har_inventory.journal (+sqlite)"),
    ("Connection", "har_inventory.journal (+sqlite)"),
    ("har_inventory/normalize", "normalize (+pandas/arrow)"), ("/pandas/", "normalize (+pandas/arrow)"),
    ("/pyarrow/", "normalize (+pandas/arrow)"), ("/numpy/", "normalize (+pandas/arrow)"),
    ("har_inventory/inputs", "read_input/validate"), ("har_inventory/validate", "read_input/validate"),
    ("/csv", "read_input/validate"), ("/json/", "json"), ("urllib/parse", "URL building (urllib.parse)"),
    ("/yarl/", "yarl"), ("/aiohttp/", "aiohttp"), ("/multidict/", "aiohttp"),
    ("asyncio", "asyncio event loop"), ("<built-in>", "builtins (socket send/recv, ...)"),
)


def _group(file_path: str, function: str) -> str:
    text = f"{file_path} {function}"
    for needle, group in _GROUPS:
        if needle in text:
            return group
    return "other"


def self_time_by_group(session) -> Counter:
    """Seconds of self time per `_GROUPS` group over every frame of a pyinstrument session
    (a synthetic `[self]` frame counts for the function it belongs to)."""
    totals: Counter = Counter()
    stack = [(session.root_frame(), None)]
    while stack:
        frame, parent = stack.pop()
        if frame is None:
            continue
        stack.extend((child, frame) for child in frame.children)
        owner = parent if frame.is_synthetic and parent is not None else frame
        totals[_group(owner.file_path or "<built-in>", owner.function or "")] += frame.total_self_time
    return totals


def run(ctx: Context, out_dir: Path = REPO / "outputs") -> list[Figure]:
    from pyinstrument import Profiler

    rows = min(ctx.sizes.cpu_rows, 5000)
    csv_path, keys = ctx.sandbox_input(rows)
    ctx.say(f"profile: job and bare loop, {rows} rows each, pyinstrument")
    groups: dict[str, Counter] = {}
    cpu: dict[str, float] = {}
    with SandboxProcess(images=images_for(rows)) as sb:
        config = fetch_config(sb.base_url, sb.api_key, concurrency=CONCURRENCY, rate=100_000.0)
        urls = details_urls(sb.base_url, keys)
        for name, fn in (("job", lambda: fetch_and_normalize(csv_path, ctx.run_dir("profile"), config)),
                         ("baseline", lambda: aiohttp_loop(urls, sb.api_key, CONCURRENCY))):
            profiler = Profiler(interval=0.001, async_mode="disabled")
            c0 = time.process_time()
            profiler.start()
            fn()
            session = profiler.stop()
            cpu[name] = time.process_time() - c0
            out_dir.mkdir(parents=True, exist_ok=True)
            (out_dir / f"bench-profile-{name}.html").write_text(profiler.output_html(), encoding="utf-8")
            groups[name] = self_time_by_group(session)
    lines = [f"{'self time, s':<40}{'job':>10}{'baseline':>10}"]
    for g in sorted(set(groups["job"]) | set(groups["baseline"]), key=lambda g: -groups["job"][g]):
        lines.append(f"{g:<40}{groups['job'][g]:>10.2f}{groups['baseline'][g]:>10.2f}")
    lines.append(f"{'process CPU (incl. profiler)':<40}{cpu['job']:>10.2f}{cpu['baseline']:>10.2f}")
    print("\n".join(lines))
    return [Figure("profile", f"client CPU s, {rows} rows (profiled)", cpu["job"], "s", cpu["baseline"],
                   "bare aiohttp loop", cpu["job"] / cpu["baseline"], "info", None,
                   {"self_time_by_group": {k: dict(v) for k, v in groups.items()},
                    "html": [str(out_dir / f"bench-profile-{n}.html") for n in groups]})]
