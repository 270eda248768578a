"""The sandbox as a separate process, and input CSVs with N distinct requests.

The benchmarks run the sandbox in its own process (`python -m har_inventory
sandbox --port 0 …`) so its CPU does not share the client's GIL. The machine
may have only two cores, so the server still competes with the client:
`SandboxProcess.cpu_seconds()` reads the server's CPU time (user + system,
seconds, from /proc) so a result can say which side was busy.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from har_inventory.sandbox.dataset import Dataset, generate_dataset

REPO = Path(__file__).resolve().parents[1]
HEADER = ("registry_ref", "artifact", "version", "version_type", "digest")
SEED = 42


def images_for(rows: int) -> int:
    """Images to generate so the data set holds at least `rows` distinct details requests
    (about 10 per image: tags x digests for TAG rows, plus one DIGEST row per digest)."""
    return max(24, rows // 6 + 24)


class SandboxProcess:
    """`python -m har_inventory sandbox` in a child process, as a context manager.

    Runs the project's own `har_inventory.sandbox` CLI.
    `rate_limit` requests/min (0 = off), `latency_ms` "A:B" ms or "",
    `extra_args` more sandbox options (e.g. `--request-log PATH`).
    Attributes once started: `base_url`, `api_key`, `pid`. Raises RuntimeError
    when the server does not print its `base_url=`/`api_key=` lines within
    `startup_timeout` seconds.
    """

    def __init__(self, *, images: int, rate_limit: int = 0, latency_ms: str = "", seed: int = SEED,
                 extra_args: list[str] | None = None, startup_timeout: float = 120.0):
        self.args = [sys.executable, "-m", "har_inventory.sandbox", "--port", "0",
                     "--images", str(images), "--rate-limit", str(rate_limit), "--seed", str(seed),
                     "--list-jitter", "0"]
        if latency_ms:
            self.args += ["--latency-ms", latency_ms]
        self.args += extra_args or []
        self.startup_timeout = startup_timeout
        self.proc: subprocess.Popen | None = None
        self.base_url = self.api_key = ""

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def __enter__(self) -> "SandboxProcess":
        self.proc = subprocess.Popen(self.args, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                                     text=True, cwd=REPO)
        deadline = time.monotonic() + self.startup_timeout
        while not (self.base_url and self.api_key):
            line = self.proc.stdout.readline()
            if not line or time.monotonic() > deadline:
                self.__exit__()
                raise RuntimeError(f"sandbox did not start: {' '.join(self.args)}")
            name, _, value = line.strip().partition("=")
            if name == "base_url":
                self.base_url = value
            elif name == "api_key":
                self.api_key = value
        return self

    def __exit__(self, *exc: object) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc is not None and self.proc.stdout:
            self.proc.stdout.close()

    def cpu_seconds(self) -> float:
        """The server's CPU time so far (user + system), seconds."""
        return proc_cpu_seconds(self.pid)


def proc_cpu_seconds(pid: int) -> float:
    """User + system CPU seconds of a live process (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])  # utime, stime (fields 14, 15 of stat)
    return ticks / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Key:
    """One distinct details request the sandbox answers 200."""

    registry_ref: str
    artifact: str
    version: str
    version_type: str
    digest: str


def ok_keys(dataset: Dataset, limit: int | None = None) -> list[Key]:
    """`limit` (None: all) distinct requests answered 200, interleaved across images.

    Raises ValueError when the data set holds fewer than `limit`.

    TAG rows pair every tag of an image with every digest of it (the server
    does not check the pair, API-NOTES section 3), DIGEST rows take each digest once.
    """
    per_image: list[list[Key]] = []
    for image in dataset.images:
        if dataset.registry(image.registry_ref).forbidden:
            continue
        keys = [Key(image.registry_ref, image.name, m.digest, "DIGEST", m.digest) for m in image.manifests]
        keys += [Key(image.registry_ref, image.name, t.name, "TAG", m.digest)
                 for t in image.tags for m in image.manifests]
        per_image.append(keys)
    out: list[Key] = []
    depth = 0
    limit = sum(map(len, per_image)) if limit is None else limit
    while len(out) < limit and any(depth < len(k) for k in per_image):
        out.extend(k[depth] for k in per_image if depth < len(k))
        depth += 1
    if len(out) < limit:
        raise ValueError(f"data set holds only {len(out)} distinct requests, {limit} asked")
    return out[:limit]


def write_input(path: Path, keys: list[Key]) -> Path:
    """Write `keys` as an input CSV (header `registry_ref,artifact,version,version_type,digest`)."""
    with open(path, "w", encoding="utf-8", newline="") as fh:
        w = csv.writer(fh, lineterminator="\n")
        w.writerow(HEADER)
        for k in keys:
            w.writerow((k.registry_ref, k.artifact, k.version, k.version_type, k.digest))
    return path


def dataset_for(rows: int, seed: int = SEED) -> Dataset:
    """The data set a `SandboxProcess(images=images_for(rows))` serves."""
    return generate_dataset(seed, images_for(rows))
