"""`write_input_csv` and the committed `inputs/sample.csv`: what rows they hold, and how the sandbox answers them."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import pytest

from har_inventory import har
from har_inventory.sandbox import generate_dataset, input_rows, write_input_csv
from har_inventory.sandbox.input_csv import HEADER

SAMPLE = Path(__file__).resolve().parents[2] / "inputs" / "sample.csv"


def grammar_ok(values: dict[str, str]) -> bool:
    """The client-side rules of API-NOTES §2, via the job's own validators."""
    try:
        har.parse_registry_ref(values["registry_ref"])
        har.check_artifact(values["artifact"])
        har.check_digest(values["digest"])
        if values["version_type"] == "DIGEST" or values["version"].startswith("sha256:"):
            har.check_digest(values["version"])
        else:
            har.check_tag(values["version"])
    except har.ProtocolError:
        return False
    return True


def test_written_csv_has_the_header_and_the_asked_counts(tmp_path):
    ds = generate_dataset(5, 16)
    path = tmp_path / "in.csv"
    rows = write_input_csv(ds, path, rows=40, unknown=3, invalid=4, seed=9)
    with open(path, newline="", encoding="utf-8") as fh:
        table = list(csv.reader(fh))
    assert tuple(table[0]) == HEADER
    assert [tuple(r) for r in table[1:]] == [r.values for r in rows]
    assert [r.line for r in rows] == list(range(2, 42))
    kinds = Counter(r.kind for r in rows)
    assert (kinds["unknown"], kinds["invalid"], len(rows)) == (3, 4, 40)
    assert write_input_csv(ds, tmp_path / "again.csv", rows=40, unknown=3, invalid=4, seed=9) == rows


def test_counts_that_do_not_fit_raise():
    with pytest.raises(ValueError, match="cannot hold"):
        input_rows(generate_dataset(), rows=5, unknown=3, invalid=3)


def test_every_row_kind_agrees_with_the_client_grammar():
    for row in input_rows(generate_dataset(), rows=120, unknown=6, invalid=10, seed=3):
        assert grammar_ok(row.as_dict()) is (row.kind != "invalid"), row


def test_sample_csv_is_the_default_output_and_covers_the_variety(tmp_path):
    if not SAMPLE.exists():
        pytest.fail(f"{SAMPLE} is missing: run `python -m har_inventory.sandbox --write-input inputs/sample.csv`")
    rows = write_input_csv(generate_dataset(), tmp_path / "sample.csv")
    assert SAMPLE.read_bytes() == (tmp_path / "sample.csv").read_bytes(), \
        "inputs/sample.csv no longer matches the default sandbox: regenerate it"
    assert 60 <= len(rows) <= 80
    kinds = Counter(r.kind for r in rows)
    assert kinds["invalid"] >= 2 and kinds["unknown"] >= 2 and kinds["tag"] and kinds["digest"]
    values = [r.as_dict() for r in rows if r.kind != "invalid"]
    assert {har.strip_plus(v["registry_ref"]).count("/") for v in values} == {1, 2, 3}
    assert any("/" in har.strip_plus(v["artifact"]) for v in values)
    assert any("/" not in har.strip_plus(v["artifact"]) for v in values)
    assert any(v["registry_ref"].endswith("/+") for v in values)
    assert any(v["artifact"].endswith("/+") for v in values)


def test_sample_rows_get_the_expected_answers_from_the_default_sandbox(sandbox, raw_get):
    statuses = {"ok": 200, "not_found": 500, "forbidden": 403}
    for row in input_rows(sandbox.dataset):
        if row.kind == "invalid":
            continue
        v = row.as_dict()
        vtype = v["version_type"] or har.default_version_type(v["version"])
        ref, artifact = har.strip_plus(v["registry_ref"]), har.strip_plus(v["artifact"])
        url = (f"{sandbox.base_url}/registry/{ref}/+/artifact/{artifact}/+/version/{v['version']}"
               f"/docker/details?digest={v['digest']}&version_type={vtype}")
        resp = raw_get(url, sandbox.api_key)
        assert resp.status == statuses[row.expect], (row, resp.text)
        if row.expect == "ok":
            assert resp.json()["data"]["registryPath"].endswith(v["digest"])
