"""Write an input CSV that matches a sandbox data set (for demos and end-to-end tests).

Header: `registry_ref,artifact,version,version_type,digest` (API-NOTES §1, §3).
Rows, in a deterministic shuffled order:
- TAG rows (`version` = a tag, `digest` = that tag's digest) and DIGEST rows
  (`version` = `digest`), over registries at all three levels, images with
  and without `/`; some refs and slash artifacts written with a trailing `/+`;
  a few rows with an empty `version_type` (the default rule applies);
- `unknown`: well-formed rows whose digest is in no image (expect not_found);
- `invalid`: rows that fail the Docker grammar (upper-case artifact, bad
  digest, bad tag, one-segment ref) and must never be sent;
- `forbidden`: rows in the registry the sandbox key may not read (403);
- `duplicates`: exact copies of earlier valid rows (fetched once).
"""

from __future__ import annotations

import csv
import random
from dataclasses import dataclass
from pathlib import Path

from .dataset import DEFAULT_SEED, Dataset, Image, fake_digest

HEADER = ("registry_ref", "artifact", "version", "version_type", "digest")
DEFAULT_ROWS = 72
DEFAULT_UNKNOWN = 4
DEFAULT_INVALID = 3
DEFAULT_FORBIDDEN = 1
DEFAULT_DUPLICATES = 2


@dataclass(frozen=True)
class CsvRow:
    """One written row: `line` is its 1-based line in the file (header = line 1).

    `kind`: "tag" | "digest" | "unknown" | "invalid" | "forbidden" | "duplicate";
    `expect`: the outcome a correct client reports: "ok", "not_found",
    "invalid_input" or "forbidden" (a `har_inventory.records.Status` value).
    """

    line: int
    values: tuple[str, str, str, str, str]
    kind: str
    expect: str

    def as_dict(self) -> dict[str, str]:
        return dict(zip(HEADER, self.values))


def _plus(rng: random.Random, value: str, p: float) -> str:
    return value + "/+" if rng.random() < p else value


def _valid_row(rng: random.Random, image: Image, as_digest: bool) -> tuple[tuple[str, ...], str]:
    ref = _plus(rng, image.registry_ref, 0.3)
    artifact = _plus(rng, image.name, 0.4 if "/" in image.name else 0.1)
    if as_digest or not image.tags:
        manifest = rng.choice(image.manifests)
        vtype = "" if rng.random() < 0.06 else "DIGEST"
        return (ref, artifact, manifest.digest, vtype, manifest.digest), "digest"
    tag = rng.choice(image.tags)
    vtype = "" if rng.random() < 0.06 else "TAG"
    return (ref, artifact, tag.name, vtype, tag.digest), "tag"


def _key(values: tuple[str, ...]) -> tuple[str, ...]:
    """The request a row makes: `/+` stripped, empty version_type defaulted (API-NOTES §3)."""
    ref, artifact, version, vtype, digest = values
    vtype = vtype or ("DIGEST" if version.startswith("sha256:") else "TAG")
    return ref.removesuffix("/+"), artifact.removesuffix("/+"), version, vtype, digest


def _unknown_row(rng: random.Random, image: Image, n: int, seed: int) -> tuple[str, ...]:
    digest = fake_digest("unknown", seed, n)
    if image.tags and rng.random() < 0.5:
        return (image.registry_ref, image.name, rng.choice(image.tags).name, "TAG", digest)
    return (image.registry_ref, image.name, digest, "DIGEST", digest)


def _invalid_row(image: Image, n: int) -> tuple[str, ...]:
    m = image.manifests[0]
    kinds = (
        (image.registry_ref, image.name.upper() if image.name.upper() != image.name else "Bad_Name",
         m.digest, "DIGEST", m.digest),
        (image.registry_ref, image.name, "1.0.0", "TAG", "sha256:" + m.digest[7:20]),
        (image.registry_ref, image.name, "v1.0+build.7", "TAG", m.digest),
        (image.registry_ref.split("/")[-1], image.name, m.digest, "DIGEST", m.digest),
        (image.registry_ref, image.name, m.digest, "DIGEST", m.digest.replace("sha256:", "md5:")),
    )
    return kinds[n % len(kinds)]


def input_rows(dataset: Dataset, rows: int = DEFAULT_ROWS, unknown: int = DEFAULT_UNKNOWN,
               invalid: int = DEFAULT_INVALID, forbidden: int = DEFAULT_FORBIDDEN,
               duplicates: int = DEFAULT_DUPLICATES, seed: int = DEFAULT_SEED) -> list[CsvRow]:
    """The rows `write_input_csv` writes, in file order. ValueError if the counts don't fit in `rows`."""
    special = unknown + invalid + forbidden + duplicates
    if min(rows, unknown, invalid, forbidden, duplicates) < 0 or special > rows:
        raise ValueError(f"rows={rows} cannot hold unknown={unknown} + invalid={invalid} + "
                         f"forbidden={forbidden} + duplicates={duplicates}")
    rng = random.Random(seed)
    readable = [i for i in dataset.images if not dataset.registry(i.registry_ref).forbidden]
    closed = [i for i in dataset.images if dataset.registry(i.registry_ref).forbidden]
    if not readable:
        raise ValueError("the data set has no readable image")
    if forbidden and not closed:
        raise ValueError("the data set has no image in a forbidden registry")
    body: list[tuple[tuple[str, ...], str]] = []
    n_valid = rows - special
    by_level: dict[str, list[Image]] = {}
    for image in readable:
        by_level.setdefault(dataset.registry(image.registry_ref).level, []).append(image)
    levels = sorted(by_level)
    seen: set[tuple[str, ...]] = set()
    for k in range(n_valid):
        for _ in range(50):  # avoid accidental duplicates: `duplicates` counts them all
            image = rng.choice(by_level[levels[k % len(levels)]]) if k < 3 * len(levels) else rng.choice(readable)
            values, kind = _valid_row(rng, image, as_digest=k % 3 == 1)
            if _key(values) not in seen:
                break
        seen.add(_key(values))
        body.append((values, kind))
    for k in range(unknown):
        body.append((_unknown_row(rng, rng.choice(readable), k, seed), "unknown"))
    for k in range(invalid):
        body.append((_invalid_row(rng.choice(readable), k), "invalid"))
    for _ in range(forbidden):
        image = rng.choice(closed)
        body.append(((image.registry_ref, image.name, image.manifests[-1].digest, "DIGEST",
                      image.manifests[-1].digest), "forbidden"))
    rng.shuffle(body)
    originals = [v for v, kind in body if kind in ("tag", "digest")]
    for _ in range(duplicates):
        if not originals:
            break
        body.insert(rng.randrange(len(body) // 2, len(body) + 1), (rng.choice(originals), "duplicate"))
    expect = {"tag": "ok", "digest": "ok", "duplicate": "ok", "unknown": "not_found",
              "invalid": "invalid_input", "forbidden": "forbidden"}
    return [CsvRow(line, tuple(values), kind, expect[kind])  # type: ignore[arg-type]
            for line, (values, kind) in enumerate(body, start=2)]


def write_input_csv(dataset: Dataset, path: str | Path, rows: int = DEFAULT_ROWS,
                    unknown: int = DEFAULT_UNKNOWN, invalid: int = DEFAULT_INVALID,
                    seed: int = DEFAULT_SEED, forbidden: int = DEFAULT_FORBIDDEN,
                    duplicates: int = DEFAULT_DUPLICATES) -> list[CsvRow]:
    """Write `rows` data rows (plus the header) to `path` (UTF-8, `\\n` line ends); return them.

    `unknown`, `invalid`, `forbidden`, `duplicates` rows are among the `rows`;
    the rest are valid TAG/DIGEST rows. Deterministic for (dataset, counts, seed).
    Raises ValueError when the counts don't fit in `rows`.
    """
    written = input_rows(dataset, rows, unknown, invalid, forbidden, duplicates, seed)
    with open(path, "w", encoding="utf-8", newline="") as fh:
        writer = csv.writer(fh, lineterminator="\n")
        writer.writerow(HEADER)
        for row in written:
            writer.writerow(row.values)
    return written
