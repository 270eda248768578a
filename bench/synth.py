"""Synthetic rows and fetch results shaped like the sandbox's answers, at any size.

The sandbox's data set cannot hold a million distinct versions, so for the
report and scaling benchmarks each row `i` is a variant of one of a pool of
real sandbox requests: beyond the pool, rows are TAG rows whose tag gets a
`.b<i>` suffix, and the `data` object is the sandbox's own answer for the
pool request (`sandbox.responses.detail_data`) with `version`, `url` and
`pullCommand` rewritten to that tag. Every 37th row is `not_found`, every
101st `failed` (HTTP 503 after 5 attempts), every 499th an invalid input row
(upper-case artifact), so the reports' Errors sheets are exercised too.
"""

from __future__ import annotations

import csv
from datetime import datetime, timezone
from pathlib import Path
from typing import Sequence

import pandas as pd

from har_inventory.normalize import metadata_kinds, normalize
from har_inventory.records import ArtifactRef, FetchResult, InputRow, InvalidRow, RequestKey, Status
from har_inventory.sandbox.dataset import generate_dataset
from har_inventory.sandbox.responses import detail_data

from .sandbox_proc import HEADER, SEED, ok_keys

POOL_IMAGES = 300
NOT_FOUND_EVERY, FAILED_EVERY, INVALID_EVERY = 37, 101, 499
_FETCHED_AT = datetime(2026, 11, 29, 12, 0, tzinfo=timezone.utc)


class Synth:
    """A pool of real sandbox answers and the rows and results derived from it (see module doc)."""

    def __init__(self, pool_images: int = POOL_IMAGES, seed: int = SEED):
        dataset = generate_dataset(seed, pool_images)
        keys = ok_keys(dataset)
        self.pool: list[tuple[tuple[str, ...], dict]] = []
        for k in keys:
            data = detail_data(dataset, k.registry_ref, k.artifact, k.version, k.version_type, k.digest)
            self.pool.append(((k.registry_ref, k.artifact, k.version, k.version_type, k.digest), data))
        self._tag_pool = [p for p in self.pool if p[0][3] == "TAG"]
        self._by_base: dict[tuple[str, str, str], dict] = {}
        for (ref, art, _v, vtype, digest), data in self._tag_pool:
            self._by_base.setdefault((ref, art, digest), data)
        self._exact = {RequestKey(*values): data for values, data in self.pool}

    # ---------------------------------------------------------------- rows

    def values(self, i: int) -> tuple[str, str, str, str, str]:
        """The five key cells of row `i` (0-based), as written to a CSV."""
        if i < len(self.pool):
            ref, art, version, vtype, digest = self.pool[i][0]
        else:
            ref, art, tag, vtype, digest = self._tag_pool[i % len(self._tag_pool)][0]
            version = f"{tag}.b{i}"
        if i % INVALID_EVERY == INVALID_EVERY - 1:
            art = art.upper() + "X"
        return ref, art, version, vtype, digest

    def write_csv(self, path: Path, n: int) -> Path:
        """Write `n` rows to `path` (the header, then `values(i)` for i < n)."""
        with open(path, "w", encoding="utf-8", newline="") as fh:
            w = csv.writer(fh, lineterminator="\n")
            w.writerow(HEADER)
            for i in range(n):
                w.writerow(self.values(i))
        return path

    def rows(self, n: int) -> list[InputRow]:
        """The validated rows `read_input` gives for `write_csv(path, n)` (without reading a file)."""
        out: list[InputRow] = []
        for i in range(n):
            ref, art, version, vtype, digest = self.values(i)
            line = i + 2
            if i % INVALID_EVERY == INVALID_EVERY - 1:
                out.append(InvalidRow(line, "artifact invalid: upper-case letters",
                                      dict(zip(HEADER, (ref, art, version, vtype, digest)))))
            else:
                out.append(ArtifactRef(line, ref, art, version, vtype, digest))
        return out

    # ---------------------------------------------------------------- results

    def result(self, key: RequestKey, line: int) -> FetchResult:
        """The fetch result for `key` (first asked on input line `line`)."""
        i = line - 2
        if i % NOT_FOUND_EVERY == NOT_FOUND_EVERY - 1:
            return FetchResult(key, Status.NOT_FOUND, 500, f"HTTP 500: failed to get tag {key.version}: not found",
                               1, _FETCHED_AT)
        if i % FAILED_EVERY == FAILED_EVERY - 1:
            return FetchResult(key, Status.FAILED, 503, "HTTP 503 after 5 attempts: service unavailable",
                               5, _FETCHED_AT)
        data = self._exact.get(key)
        if data is None:
            base = self._by_base[(key.registry_ref, key.artifact, key.digest)]
            data = dict(base)
            old = base["version"]
            data["version"] = key.version
            data["url"] = base["url"].removesuffix(old) + key.version
            if "pullCommand" in data:
                data["pullCommand"] = base["pullCommand"].removesuffix(old) + key.version
        return FetchResult(key, Status.OK, 200, None, 1, _FETCHED_AT, data)

    def results(self, rows: Sequence[InputRow]) -> dict[RequestKey, FetchResult]:
        """One result per distinct key of `rows`."""
        out: dict[RequestKey, FetchResult] = {}
        for r in rows:
            if isinstance(r, ArtifactRef) and r.key not in out:
                out[r.key] = self.result(r.key, r.line)
        return out

    def frame(self, n: int, chunk: int = 10_000) -> pd.DataFrame:
        """`n` normalized rows (one frame, the run-wide metadata columns)."""
        rows = self.rows(n)
        results = self.results(rows)
        kinds = metadata_kinds(results.values())
        keys = tuple(sorted(kinds))
        parts = [normalize(rows[i:i + chunk], results, metadata_keys=keys, metadata_kinds=kinds)
                 for i in range(0, n, chunk)]
        return pd.concat(parts, ignore_index=True)

