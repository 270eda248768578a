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
