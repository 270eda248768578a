"""Run aggregates shared by the XLSX `Summary` sheet and the CLI's summary line.

`SummaryAccumulator.add(frame)` takes normalized chunks (schema columns) in
any number; memory grows with the number of distinct images, request keys
per image and months, never with the frames already seen.

Counting rules:
- `status_counts`: input rows by status (every row, duplicates included).
- Version-level figures (quarantine, versions per image, pushes per month,
  pushers) count ok rows once per distinct request key (input duplicates
  do not count twice).
- Size and downloads belong to the digest (API-NOTES §3): an image's total
  size (bytes) and downloads add each distinct digest once, so several tags
  of one digest are not counted twice.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pandas as pd

from ..records import Status

TOP_N = 20
UNKNOWN = "(unknown)"


@dataclass(slots=True)
class _Image:
    versions: int = 0
    seen: set[int] = field(default_factory=set)  # hashes of request keys
    digests: dict[str, tuple[int, int]] = field(default_factory=dict)  # digest -> (bytes, downloads)


class SummaryAccumulator:
    """Aggregates over the normalized frames of one run (see module doc)."""

    def __init__(self) -> None:
        self._status: Counter[str] = Counter()
        self._quarantined = 0
        self._not_quarantined = 0
        self._quarantine_unknown = 0
        self._reasons: Counter[str] = Counter()
        self._images: dict[tuple[str, str], _Image] = {}
        self._months: Counter[str] = Counter()
        self._pushers: Counter[str] = Counter()
        self.rows = 0

    def add(self, frame: pd.DataFrame) -> None:
        """Count one normalized chunk (columns as in `schema.py`)."""
        if frame.empty:
            return
        self.rows += len(frame)
        self._status.update(frame["status"].value_counts(dropna=False).to_dict())
        ok = frame[frame["status"] == str(Status.OK)]
        if ok.empty:
            return
        month = ok["created_at"].dt.strftime("%Y-%m")
        pusher = ok["pushed_by_display_name"].fillna(ok["pushed_by_uid"])
        cols = zip(ok["registry_ref"].tolist(), ok["artifact"].tolist(), ok["version"].tolist(),
                   ok["version_type"].tolist(), ok["digest"].tolist(),
                   ok["image_name"].tolist(), ok["size_bytes"].tolist(), ok["downloads_count"].tolist(),
                   ok["is_quarantined"].tolist(), ok["quarantine_reason"].tolist(),
                   month.tolist(), pusher.tolist())
        for ref, artifact, version, vtype, digest, image, size, downloads, quar, reason, mon, who in cols:
            name = artifact if isinstance(artifact, str) else (image if isinstance(image, str) else UNKNOWN)
            img = self._images.get((ref, name))
            if img is None:
                img = self._images[(ref, name)] = _Image()
            h = hash((version, vtype, digest))
            if h in img.seen:
                continue
            img.seen.add(h)
            img.versions += 1
            if isinstance(digest, str) and digest not in img.digests:
                img.digests[digest] = (size if isinstance(size, int) else 0,
                                       downloads if isinstance(downloads, int) else 0)
            if quar is True:
                self._quarantined += 1
                self._reasons[reason if isinstance(reason, str) and reason else UNKNOWN] += 1
            elif quar is False:
                self._not_quarantined += 1
            else:
                self._quarantine_unknown += 1
            if isinstance(mon, str):
                self._months[mon] += 1
            self._pushers[who if isinstance(who, str) and who else UNKNOWN] += 1

    # ------------------------------------------------------------ results

    def status_counts(self) -> dict[str, int]:
        """Rows by status, in `Status` order, statuses with no rows left out."""
        order = [s.value for s in Status]
        known = {s: self._status[s] for s in order if self._status.get(s)}
        known.update({s: n for s, n in sorted(self._status.items()) if s not in known and n})
        return known

    def quarantine(self) -> dict[str, int]:
        """Distinct ok versions: `quarantined`, `not_quarantined`, `unknown`."""
        return {"quarantined": self._quarantined, "not_quarantined": self._not_quarantined,
                "unknown": self._quarantine_unknown}

    def quarantine_reasons(self) -> list[tuple[str, int]]:
        """(reason, versions), most frequent first."""
        return self._reasons.most_common()

    def top_images_by_versions(self, n: int = TOP_N) -> list[tuple[str, str, int]]:
        """(registry_ref, image, distinct ok versions), largest first."""
        rows = [(ref, name, img.versions) for (ref, name), img in self._images.items()]
        return sorted(rows, key=lambda r: (-r[2], r[0], r[1]))[:n]

    def top_images_by_size(self, n: int = TOP_N) -> list[tuple[str, str, int]]:
        """(registry_ref, image, total bytes over distinct digests), largest first."""
        rows = [(ref, name, sum(s for s, _ in img.digests.values()))
                for (ref, name), img in self._images.items()]
        return sorted(rows, key=lambda r: (-r[2], r[0], r[1]))[:n]

    def top_images_by_downloads(self, n: int = TOP_N) -> list[tuple[str, str, int]]:
        """(registry_ref, image, downloads over distinct digests), largest first."""
        rows = [(ref, name, sum(d for _, d in img.digests.values()))
                for (ref, name), img in self._images.items()]
        return sorted(rows, key=lambda r: (-r[2], r[0], r[1]))[:n]

    def pushes_per_month(self) -> list[tuple[str, int]]:
        """(`YYYY-MM` of created_at in UTC, distinct ok versions), oldest first."""
        return sorted(self._months.items())

    def top_pushers(self, n: int = TOP_N) -> list[tuple[str, int]]:
        """(display name, else uid, else `(unknown)`; distinct ok versions), most first."""
        return sorted(self._pushers.items(), key=lambda r: (-r[1], r[0]))[:n]

    def line(self) -> str:
        """One line for the terminal, e.g. `1,234 rows: 1,200 ok, 34 not_found; 3 quarantined`."""
        parts = ", ".join(f"{n:,} {s}" for s, n in self.status_counts().items()) or "nothing"
        return f"{self.rows:,} rows: {parts}; {self._quarantined:,} quarantined"
