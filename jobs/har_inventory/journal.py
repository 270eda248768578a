"""Durable record of finished requests, so an interrupted run resumes without refetching.

One SQLite file (standard library, WAL mode) next to the reports:
`<output-dir>/har-inventory-journal.sqlite3`. Rows are keyed by the input
file's SHA-256 and the request key (`RequestKey`). A result counts as done
once its transaction is committed; commits are grouped (every
`commit_every` results or `commit_interval` seconds, whichever first), so a
kill costs at most that much work, which `--resume` fetches again.
Nothing else writes this file; the API key is never stored in it.

Speed (issue 7): the table has a rowid (a `WITHOUT ROWID` table keeps the
1-3 KB rows in its primary-key B-tree, so each insert cost more as the file
grew). Journals written before keep their layout and resume as before. The
rows recorded by this `Journal` object are also kept in memory, as written
(JSON text: about the response's size, ~10-30 MB for the default 10,000 of
1-3 KB), so the reports of a run read them back without a query; older ones,
and those of an earlier run, come from the file. (Keeping the parsed `data`
dicts instead made Python's garbage collector walk them again and again
while the fetch runs, which cost more than the query. Committing the groups
from a writer thread was measured too: slower, ~440 -> ~480 µs per row in
the CPU-bound benchmark, as the thread and the event loop hand the GIL back
and forth around every SQLite step.)
"""

from __future__ import annotations

import sqlite3
import threading
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Iterable, Iterator

from har_inventory import jsontext
from har_inventory.records import FetchResult, RequestKey, Status

JOURNAL_NAME = "har-inventory-journal.sqlite3"
CHECKPOINT_EVERY = 5  # commits (of up to 200 results, ~1-3 KB each) between two WAL checkpoints
_SEP = "\x1f"  # unit separator: never valid in a validated key value

_SCHEMA = """
CREATE TABLE IF NOT EXISTS results (
    input_sha256 TEXT NOT NULL,
    request_key  TEXT NOT NULL,
    status       TEXT NOT NULL,
    http_status  INTEGER,
    error        TEXT,
    attempts     INTEGER NOT NULL,
    fetched_at_ms INTEGER NOT NULL,
    data_json    TEXT,
    metadata_keys TEXT,
    PRIMARY KEY (input_sha256, request_key)
);
"""


def _key_text(key: RequestKey) -> str:
    return _SEP.join(key)


def _key_of(text: str) -> RequestKey:
    return RequestKey._make(text.split(_SEP))


_STATUS = {s.value: s for s in Status}
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def _time_of(ms: int) -> datetime:
    """Epoch milliseconds -> aware UTC datetime (exact, as stored)."""
    return _EPOCH + timedelta(milliseconds=ms)


def _result_of(row: tuple, key: RequestKey | None = None) -> FetchResult:
    """A FetchResult from the selected columns; `key` (when known) saves parsing `row[0]`."""
    return FetchResult(key or _key_of(row[0]), _STATUS[row[1]], row[2], row[3], row[4], _time_of(row[5]),
                       jsontext.loads(row[6]) if row[6] is not None else None)


class _Checkpointer:
    """Copies the WAL into the database file from a thread of its own (PASSIVE checkpoints).

    SQLite's automatic checkpoint runs inside the commit that crosses 1,000 WAL
    pages (~4 MB) and syncs the file to disk: milliseconds with the event loop
    stalled, ~20 µs per row on average (issue 7's CPU-bound benchmark). The
    journal's own connection has `wal_autocheckpoint` off; `kick()` asks this
    thread to checkpoint, which is one SQLite call: the GIL stays free
    throughout, unlike a writer thread (see the module doc). A failure here
    only lets the WAL grow; closing the journal still checkpoints everything.
    SQLite starts the WAL over only after a checkpoint that caught up with the
    last commit, which a checkpoint racing the commits may never do: the
    journal then checkpoints on its own connection once the WAL passes
    `wal_limit` bytes (by then almost everything is copied already).
    """

    def __init__(self, path: Path):
        self._wake = threading.Event()
        self._stopping = False
        self._thread = threading.Thread(target=self._run, args=(path,), name="har-inventory-checkpoint",
                                        daemon=True)
        self._thread.start()

    def kick(self) -> None:
        self._wake.set()

    def _run(self, path: Path) -> None:
        try:
            db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error:
            return
        try:
            while True:
                self._wake.wait()
                self._wake.clear()
                if self._stopping:
                    return
                try:
                    db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
                except sqlite3.Error:
                    pass  # busy or failing disk: the next kick, or the close, tries again
        finally:
            db.close()

    def close(self) -> None:
        self._stopping = True
        self._wake.set()
        self._thread.join()


class Journal:
    """The results of one input file (identified by its SHA-256) in a SQLite journal.

    `resume=False` forgets earlier results for the same input; `resume=True`
    keeps them. Raises `sqlite3.Error` if the file cannot be opened.
    `cache_rows`: how many of the rows recorded through this object stay in
    memory for `lookup` (the most recent; 0: none); they are read back
    exactly as from the file.
    """

    def __init__(self, path: Path, input_sha256: str, *, resume: bool,
                 commit_every: int = 200, commit_interval: float = 0.25, cache_rows: int = 10_000,
                 wal_limit: int = 64 * 2 ** 20):
        self.path = path
        self.input_sha256 = input_sha256
        self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute("PRAGMA busy_timeout=5000")
        self._db.execute("PRAGMA wal_autocheckpoint=0")  # `_Checkpointer` does it
        # SQLite never shrinks the WAL file by itself: cut it back when it starts over,
        # so its size says how much is waiting to be copied (see `_checkpoint`).
        self._db.execute(f"PRAGMA journal_size_limit={int(wal_limit) // 2}")
        self._db.executescript(_SCHEMA)
        if not resume:
            self._db.execute("DELETE FROM results WHERE input_sha256 = ?", (input_sha256,))
        self._pending: list[tuple] = []
        self._commit_every = commit_every
        self._commit_interval = commit_interval
        self._last_commit = time.monotonic()
        self._recent: dict[str, tuple] = {}  # key text -> the row as written, oldest first
        self._cache_rows = cache_rows
        # True while the file's results for this input are exactly those in `_recent`.
        self._recent_is_all = self._db.execute(
            "SELECT 1 FROM results WHERE input_sha256 = ? LIMIT 1", (input_sha256,)).fetchone() is None
        self._commits = 0
        self._closed = False
        self._wal = path.with_name(path.name + "-wal")
        self._wal_limit = wal_limit
        self._checkpointer = _Checkpointer(path)

    @classmethod
    def in_dir(cls, output_dir: Path, input_sha256: str, *, resume: bool) -> "Journal":
        """Open (or create) the journal in `output_dir`."""
        return cls(output_dir / JOURNAL_NAME, input_sha256, resume=resume)

    def done_keys(self, *, retry_failed: bool = False) -> set[RequestKey]:
        """Keys that need no new request: every recorded result, less `failed` ones if `retry_failed`."""
        sql = "SELECT request_key FROM results WHERE input_sha256 = ?"
        if retry_failed:
            sql += f" AND status != '{Status.FAILED.value}'"
        return {_key_of(k) for (k,) in self._db.execute(sql, (self.input_sha256,))}

    def record(self, result: FetchResult) -> None:
        """Add one finished result; committed with the next group (see module doc)."""
        data = result.data
        meta = data.get("metadata") if data else None
        meta_keys = sorted(k for k in meta if k != "tags") if isinstance(meta, dict) else []
        key_text = _key_text(result.key)
        row = (
            self.input_sha256, key_text, result.status.value, result.http_status,
            result.error, result.attempts, int(result.fetched_at.timestamp() * 1000),
            jsontext.dumps(data) if data is not None else None,
            jsontext.dumps(meta_keys) if meta_keys else None,
        )
        self._pending.append(row)
        self._remember(key_text, row)
        if (len(self._pending) >= self._commit_every
                or time.monotonic() - self._last_commit >= self._commit_interval):
            self.flush()

    def _remember(self, key_text: str, row: tuple) -> None:
        if self._cache_rows <= 0:
            self._recent_is_all = False
            return
        recent = self._recent
        recent.pop(key_text, None)  # a key recorded again moves to the newest end
        recent[key_text] = row
        if len(recent) > self._cache_rows:
            del recent[next(iter(recent))]
            self._recent_is_all = False

    def flush(self) -> None:
        """Commit every pending result."""
        if self._pending:
            with self._db:
                self._db.execute("BEGIN")
                self._db.executemany(
                    "INSERT OR REPLACE INTO results VALUES (?,?,?,?,?,?,?,?,?)", self._pending)
            self._pending.clear()
            self._commits += 1
            if self._commits % CHECKPOINT_EVERY == 0:
                self._checkpoint()
        self._last_commit = time.monotonic()

    def _checkpoint(self) -> None:
        try:
            wal_size = self._wal.stat().st_size
        except OSError:
            wal_size = 0
        if wal_size <= self._wal_limit:
            self._checkpointer.kick()
            return
        try:
            self._db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()  # no commit of ours can race it
        except sqlite3.Error:
            pass  # the results are committed; a failing disk shows at the next commit

    def lookup(self, keys: Iterable[RequestKey]) -> dict[RequestKey, FetchResult]:
        """The recorded results for `keys` (missing keys are absent from the dict)."""
        out: dict[RequestKey, FetchResult] = {}
        texts = []
        recent = self._recent
        for key in set(keys):
            text = _key_text(key)
            row = recent.get(text)
            if row is None:
                texts.append(text)
            else:
                out[key] = _result_of(row[1:8], key)  # the columns the query below selects
        for i in range(0, len(texts), 500):
            part = texts[i:i + 500]
            marks = ",".join("?" * len(part))
            for row in self._db.execute(
                    f"SELECT request_key, status, http_status, error, attempts, fetched_at_ms, data_json "
                    f"FROM results WHERE input_sha256 = ? AND request_key IN ({marks})",
                    (self.input_sha256, *part)):
                result = _result_of(row)
                out[result.key] = result
        return out

    def results_with_metadata(self) -> Iterator[FetchResult]:
        """The ok results whose metadata has keys other than `tags` (for the metadata_* columns).

        From memory when every result of this input in the file was recorded
        through this object and is still cached; else from the file."""
        if self._recent_is_all:
            for row in list(self._recent.values()):
                if row[8] is not None:  # metadata_keys
                    yield _result_of(row[1:8])
            return
        cur = self._db.execute(
            "SELECT request_key, status, http_status, error, attempts, fetched_at_ms, data_json "
            "FROM results WHERE input_sha256 = ? AND metadata_keys IS NOT NULL", (self.input_sha256,))
        for row in cur:
            yield _result_of(row)

    def count(self) -> int:
        """Results recorded (committed) for this input."""
        return self._db.execute("SELECT count(*) FROM results WHERE input_sha256 = ?",
                                (self.input_sha256,)).fetchone()[0]

    def close(self) -> None:
        """Commit what is pending, checkpoint and close the file; a second call does nothing.

        If the last commit fails (`sqlite3.Error`), the file stays open and
        `close()` may be called again (e.g. once disk space is freed)."""
        if self._closed:
            return
        self.flush()
        self._closed = True
        self._checkpointer.close()
        self._db.close()


