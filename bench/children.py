"""Run `bench.child` cases in fresh processes and collect their JSON results."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

from .sandbox_proc import REPO


def run_child(args: list[str], *, lxml: bool = True, timeout: float = 3600) -> dict[str, Any]:
    """`python -m bench.child ARGS` in a fresh process; returns its JSON result.
    `lxml=False` sets `OPENPYXL_LXML=False` so openpyxl writes
    without lxml. Raises RuntimeError when the child fails."""
    env = dict(os.environ)
    if not lxml:
        env["OPENPYXL_LXML"] = "False"
    proc = subprocess.Popen([sys.executable, "-m", "bench.child", *args], cwd=REPO, env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        raise RuntimeError(f"bench.child {' '.join(args)} took over {timeout:.0f} s") from None
    if proc.returncode != 0:
        raise RuntimeError(f"bench.child {' '.join(args)} failed ({proc.returncode}):\n{err[-3000:]}")
    return json.loads(out.strip().splitlines()[-1])
