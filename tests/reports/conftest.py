"""A small but nasty run: every status, both modes, quarantine, text Excel would misread."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from har_inventory import schema
from har_inventory.normalize import metadata_keys, metadata_kinds, normalize
from har_inventory.records import ArtifactRef, FetchResult, InvalidRow, RunInfo, Status

WHEN = datetime(2026, 3, 1, 12, 0, 0, tzinfo=timezone.utc)
LONG = "x" * 40_000


def _digest(i: int) -> str:
    return f"sha256:{i:064x}"


def _data(i: int, **extra):
    d = {"imageName": f"team/img{i % 3}", "version": f"1.{i}", "packageType": "DOCKER",
         "registryPath": f"reg/team/img{i % 3}/{_digest(i)}", "url": f"https://h.example/team/img{i % 3}/1.{i}",
         "size": f"{i + 1}.00MB", "downloadsCount": i * 10, "createdAt": str(1718001234567 + i * 40 * 86400000),
         "modifiedAt": "1718001299999", "isQuarantined": False,
         "metadata": {"org.opencontainers.image.source": "https://github.com/x/y"},
         "pushedBy": {"uid": f"u{i % 2}", "display_name": f"User {i % 2}"}}
    d.update(extra)
    return d


@pytest.fixture
def sample():
    """(rows, results, frame): 8 input rows, lines 2..9."""
    rows = [ArtifactRef(i + 2, "acc/reg", f"team/img{i % 3}", f"1.{i}", "TAG", _digest(i)) for i in range(6)]
    rows.append(InvalidRow(8, "digest 'sha1:x' is not sha256", {"artifact": "web", "digest": "sha1:x"}))
    rows.append(ArtifactRef(9, *rows[0].key))  # duplicate of line 2
    results = {}
    for i, r in enumerate(rows[:6]):
        results[r.key] = FetchResult(r.key, Status.OK, 200, None, 1, WHEN, _data(i))
    k = [r.key for r in rows[:6]]
    results[k[1]] = FetchResult(k[1], Status.OK, 200, None, 2, WHEN, _data(
        1, isQuarantined=True, quarantineReason="CVE-2024-1\x0bcritical",
        pushedBy={"uid": "evil", "display_name": '=HYPERLINK("http://evil.example","click")'},
        metadata={"org.opencontainers.image.source": LONG, "note": "-1"}))
    results[k[2]] = FetchResult(k[2], Status.OK, 200, None, 1, WHEN, _data(2, size="#N/A", metadata={"tags": []}))
    results[k[3]] = FetchResult(k[3], Status.NOT_FOUND, 500, "artifact not found", 1, WHEN)
    results[k[4]] = FetchResult(k[4], Status.FAILED, None, "timeout after 5 attempts", 5, WHEN)
    results[k[5]] = FetchResult(k[5], Status.FORBIDDEN, 403, "no permission", 1, WHEN)
    keys, kinds = metadata_keys(results.values()), metadata_kinds(results.values())
    frame = normalize(rows, results, metadata_keys=keys, metadata_kinds=kinds)
    return rows, results, frame


@pytest.fixture
def columns(sample):
    _, results, _ = sample
    return schema.column_names(metadata_keys(results.values()))


@pytest.fixture
def run():
    return RunInfo(tool_version="0.1.0", started_at=WHEN, ended_at=WHEN.replace(minute=5),
                   input_name="images.csv", input_sha256="ab" * 32, input_rows=8,
                   base_url="http://127.0.0.1:8080/api/v1", options={"concurrency": 4, "rate": 6.6},
                   counts={"ok": 4, "not_found": 1, "failed": 1, "forbidden": 1, "invalid_input": 1},
                   requests=7, retries=4, duplicates_saved=1)
