"""What every scenario gets: sizes, repeat count, a work directory, progress output."""

from __future__ import annotations

import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from .sandbox_proc import Key, dataset_for, ok_keys, write_input


@dataclass(frozen=True)
class Sizes:
    """Row counts per scenario (see `__main__.PROFILES`)."""

    rate_rows: int
    latency_rows: int
    cpu_rows: int
    requests_rows: int
    report_rows: int
    scale_rows: tuple[int, ...]
    to_excel_without_lxml: bool = False


@dataclass
class Context:
    """Shared state of one `python -m bench` run. `repeat`: runs per short scenario (median)."""

    sizes: Sizes
    repeat: int
    work: Path
    profile: str
    _inputs: dict[int, tuple[Path, list[Key]]] = field(default_factory=dict)

    def say(self, text: str) -> None:
        print(f"[bench {time.strftime('%H:%M:%S')}] {text}", file=sys.stderr, flush=True)

    def sandbox_input(self, rows: int) -> tuple[Path, list[Key]]:
        """An input CSV of `rows` distinct requests the sandbox for `rows` answers 200, and its keys."""
        if rows not in self._inputs:
            keys = ok_keys(dataset_for(rows), rows)
            self._inputs[rows] = (write_input(self.work / f"sandbox-{rows}.csv", keys), keys)
        return self._inputs[rows]

    def run_dir(self, name: str) -> Path:
        """A fresh directory for one run's journal and reports."""
        n = 1
        while (path := self.work / f"{name}-{n}").exists():
            n += 1
        path.mkdir(parents=True)
        return path
