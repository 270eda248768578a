"""What a benchmark reports: `Figure` rows, the printed table and `outputs/bench.json`.

A `Figure` is one measured value against a limit or a baseline, with the
target its ratio must meet (`passed` None when the row is information only).
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Sequence, TypeVar

from .sandbox_proc import REPO

T = TypeVar("T")


@dataclass
class Figure:
    """One row of the table.

    `value` in `unit`; `baseline` the limit or baseline figure in the same
    unit, described by `baseline_label`; `ratio` = value / baseline unless the
    scenario defines it otherwise (`ratio_label` says how); `target` e.g.
    ">= 0.97"; `passed` None for information rows; `detail` anything else
    (runs, stage times, server CPU) for bench.json.
    """

    scenario: str
    name: str
    value: float
    unit: str
    baseline: float | None = None
    baseline_label: str = ""
    ratio: float | None = None
    target: str = ""
    passed: bool | None = None
    detail: dict[str, Any] = field(default_factory=dict)

    def verdict(self) -> str:
        return {True: "pass", False: "FAIL", None: "-"}[self.passed]


def median_run(fn: Callable[[], T], repeat: int, key: Callable[[T], float]) -> tuple[T, list[T]]:
    """Run `fn` `repeat` times; return the run with the median `key` and all runs."""
    runs = [fn() for _ in range(repeat)]
    ordered = sorted(runs, key=key)
    return ordered[(len(ordered) - 1) // 2], runs


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def _fmt(value: float | None, unit: str = "") -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        text = f"{value:,.0f}"
    elif abs(value) >= 10:
        text = f"{value:.1f}"
    else:
        text = f"{value:.3g}" if value else "0"
    return f"{text} {unit}".strip()


def table(figures: Sequence[Figure]) -> str:
    """The results as a Markdown table (scenario, figure, limit/baseline, ratio, target, pass/fail)."""
    head = ("scenario", "figure", "limit / baseline", "ratio", "target", "result")
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join("---" for _ in head) + "|"]
    for f in figures:
        base = f"{_fmt(f.baseline, f.unit)} ({f.baseline_label})" if f.baseline is not None else f.baseline_label or "-"
        ratio = "-" if f.ratio is None else f"{f.ratio:.2f}"
        lines.append("| " + " | ".join((f.scenario, f"{f.name}: {_fmt(f.value, f.unit)}", base, ratio,
                                        f.target or "-", f.verdict())) + " |")
    return "\n".join(lines)


def machine() -> dict[str, Any]:
    """Where the figures come from: CPUs, load, versions, git commit."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True,
                                text=True, timeout=10).stdout.strip()
    except OSError:
        commit = ""
    import aiohttp
    import openpyxl
    import pandas
    import pyarrow
    return {"cpu_count": os.cpu_count(), "load_avg_1_5_15": list(os.getloadavg()),
            "python": sys.version.split()[0], "platform": platform.platform(),
            "aiohttp": aiohttp.__version__, "pandas": pandas.__version__, "pyarrow": pyarrow.__version__,
            "openpyxl": openpyxl.__version__, "git_commit": commit,
            "note": "the sandbox server runs as a separate process on the same machine"}


def write_json(path: Path, figures: Sequence[Figure], options: dict[str, Any], started: datetime,
               extra: dict[str, Any] | None = None) -> Path:
    """Write `outputs/bench.json`: machine, options, every figure (with its detail)."""
    doc = {"started_at": started.isoformat(), "ended_at": datetime.now(timezone.utc).isoformat(),
           "machine": machine(), "options": options, "figures": [asdict(f) for f in figures],
           **(extra or {})}
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2, default=str) + "\n", encoding="utf-8")
    return path
