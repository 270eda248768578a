"""The resume journal: what is committed survives, what is forgotten is forgotten."""

from datetime import datetime, timezone

from har_inventory.journal import Journal
from har_inventory.records import FetchResult, RequestKey, Status

D = "sha256:" + "cd" * 32
NOW = datetime(2026, 11, 29, 12, 0, 0, 123000, tzinfo=timezone.utc)


def key(v: str) -> RequestKey:
    return RequestKey("acc/reg", "team/web", v, "TAG", D)


def ok(v: str, meta=None) -> FetchResult:
    data = {"imageName": "team/web", "version": v, "size": "1.00KB"}
    if meta is not None:
        data["metadata"] = meta
    return FetchResult(key(v), Status.OK, 200, None, 1, NOW, data)


def test_results_survive_reopen_with_resume(tmp_path):
    j = Journal(tmp_path / "j.sqlite3", "sha-a", resume=False)
    j.record(ok("1", {"tags": ["1"], "org.x": "y"}))
    j.record(FetchResult(key("2"), Status.FAILED, 503, "HTTP 503 after 5 attempts: down", 5, NOW))
    j.close()
    j = Journal(tmp_path / "j.sqlite3", "sha-a", resume=True)
    assert j.done_keys() == {key("1"), key("2")}
    assert j.done_keys(retry_failed=True) == {key("1")}
    got = j.lookup([key("1"), key("2"), key("3")])
    assert set(got) == {key("1"), key("2")}
    assert got[key("1")] == ok("1", {"tags": ["1"], "org.x": "y"})
    assert got[key("2")].error == "HTTP 503 after 5 attempts: down" and got[key("2")].attempts == 5
    assert [r.key for r in j.results_with_metadata()] == [key("1")]
    j.close()


def test_without_resume_the_input_starts_over_but_other_inputs_stay(tmp_path):
    j = Journal(tmp_path / "j.sqlite3", "sha-a", resume=False)
    j.record(ok("1"))
    j.close()
    other = Journal(tmp_path / "j.sqlite3", "sha-b", resume=False)
    other.record(ok("9"))
    other.close()
    j = Journal(tmp_path / "j.sqlite3", "sha-a", resume=False)
    assert j.count() == 0
    j.close()
    assert Journal(tmp_path / "j.sqlite3", "sha-b", resume=True).done_keys() == {key("9")}


def test_group_commit_makes_results_visible_to_another_connection(tmp_path):
    j = Journal(tmp_path / "j.sqlite3", "sha-a", resume=False, commit_every=3, commit_interval=3600)
    reader = Journal(tmp_path / "j.sqlite3", "sha-a", resume=True)
    j.record(ok("1"))
    j.record(ok("2"))
    assert reader.count() == 0  # not yet committed: a kill now would refetch these two
    j.record(ok("3"))
    assert reader.count() == 3
    j.close()
    reader.close()


def test_a_journal_written_with_the_old_without_rowid_layout_resumes(tmp_path):
    import sqlite3

    path = tmp_path / "j.sqlite3"
    old = sqlite3.connect(path)
    old.executescript("""
        CREATE TABLE results (input_sha256 TEXT NOT NULL, request_key TEXT NOT NULL, status TEXT NOT NULL,
            http_status INTEGER, error TEXT, attempts INTEGER NOT NULL, fetched_at_ms INTEGER NOT NULL,
            data_json TEXT, metadata_keys TEXT, PRIMARY KEY (input_sha256, request_key)) WITHOUT ROWID;
    """)
    old.execute("INSERT INTO results VALUES (?,?,?,?,?,?,?,?,?)",
                ("sha-a", "\x1f".join(key("1")), "ok", 200, None, 1, int(NOW.timestamp() * 1000),
                 '{"imageName":"team/web","version":"1","size":"1.00KB"}', None))
    old.commit()
    old.close()
    j = Journal(path, "sha-a", resume=True)
    assert j.done_keys() == {key("1")}
    j.record(ok("2"))
    j.close()
    j = Journal(path, "sha-a", resume=True)
    got = j.lookup([key("1"), key("2")])
    assert got[key("1")] == ok("1") and got[key("2")] == ok("2")
    j.close()


def test_results_read_back_in_the_same_run_equal_those_read_from_the_file(tmp_path):
    at = datetime(2026, 11, 29, 12, 0, 0, 123456, tzinfo=timezone.utc)  # microseconds: the file keeps ms
    results = [FetchResult(key(str(i)), Status.OK, 200, None, 1, at, {"version": str(i), "metadata": {"a": i}})
               for i in range(5)]
    results.append(FetchResult(key("tags-only"), Status.OK, 200, None, 1, at, {"metadata": {"tags": ["x"]}}))
    results.append(FetchResult(key("gone"), Status.NOT_FOUND, 404, "no such version", 1, at))
    keys = [r.key for r in results]
    for cache_rows in (3, 10_000):  # the last 3 in memory (the rest from the file), or all of them
        j = Journal(tmp_path / "j.sqlite3", "sha-a", resume=False, cache_rows=cache_rows)
        for r in results:
            j.record(r)
        j.flush()
        same_run, same_run_meta = j.lookup(keys), list(j.results_with_metadata())
        j.close()
        j = Journal(tmp_path / "j.sqlite3", "sha-a", resume=True)
        from_file, from_file_meta = j.lookup(keys), list(j.results_with_metadata())
        j.close()
        assert same_run == from_file and len(same_run) == 7
        assert same_run[key("4")].fetched_at == NOW  # whole milliseconds, as in the file
        assert sorted(same_run_meta, key=lambda r: r.key) == sorted(from_file_meta, key=lambda r: r.key)
        assert {r.key.version for r in same_run_meta} == {"0", "1", "2", "3", "4"}  # not "tags-only"


def test_the_wal_is_copied_into_the_database_while_results_are_recorded(tmp_path):
    """Checkpoints run in the background during the run, not all at close, and the WAL stays bounded."""
    import time

    path = tmp_path / "j.sqlite3"
    j = Journal(path, "sha-a", resume=False, commit_every=50, wal_limit=2_000_000)
    blob = "x" * 2000
    for i in range(4000):  # ~8 MB of results
        j.record(FetchResult(key(str(i)), Status.OK, 200, None, 1, NOW, {"version": str(i), "pad": blob}))
    j.flush()
    deadline = time.monotonic() + 20
    while path.stat().st_size < 4_000_000 and time.monotonic() < deadline:
        time.sleep(0.05)
    assert path.stat().st_size >= 4_000_000  # most results are in the database file before close
    wal = path.with_name(path.name + "-wal")
    assert wal.stat().st_size < 4_000_000  # started over once past wal_limit, not appended to forever
    j.close()
    j = Journal(path, "sha-a", resume=True)
    assert j.count() == 4000
    j.close()


def test_close_after_a_failed_commit_keeps_the_results_and_can_be_retried(tmp_path):
    import sqlite3

    import pytest

    path = tmp_path / "j.sqlite3"
    j = Journal(path, "sha-a", resume=False, commit_every=1000)
    j.record(ok("1"))
    j.record(ok("2"))
    other = sqlite3.connect(path)
    other.execute("ALTER TABLE results RENAME TO parked")  # the commit at close fails
    other.commit()
    with pytest.raises(sqlite3.OperationalError):
        j.close()
    other.execute("ALTER TABLE parked RENAME TO results")  # the problem is fixed (space freed, ...)
    other.commit()
    other.close()
    j.close()
    j.close()  # a second close does nothing
    again = Journal(path, "sha-a", resume=True)
    assert again.done_keys() == {key("1"), key("2")}
    again.close()
