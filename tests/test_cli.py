"""`har-inventory run` end to end, as cron runs it: a subprocess against the sandbox over loopback."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from datetime import datetime, timezone
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
from openpyxl import load_workbook

from har_inventory.sandbox.input_csv import write_input_csv

ROOT = Path(__file__).resolve().parents[1]


def run_cli(args, *, key=None, env=None, timeout=120):
    e = dict(os.environ)
    e.pop("HARNESS_API_KEY", None)
    e.pop("HAR_BASE_URL", None)
    if key is not None:
        e["HARNESS_API_KEY"] = key
    e.update(env or {})
    return subprocess.run([sys.executable, "-m", "har_inventory", *map(str, args)], capture_output=True,
                          text=True, env=e, timeout=timeout, cwd=ROOT)


def summary(proc) -> dict[str, str]:
    last = proc.stderr.strip().splitlines()[-1]
    assert last.startswith("rows="), f"last stderr line is not the summary: {last!r}"
    return dict(p.split("=", 1) for p in last.split())


def reports(proc) -> dict[str, Path]:
    paths = [Path(line) for line in proc.stdout.split()]
    return {p.suffix.lstrip("."): p for p in paths if p.name.startswith("docker-inventory-")}


def none_if_na(value):
    return None if value is None or (not isinstance(value, (list, str)) and pd.isna(value)) else value


def normalized_key(values):
    ref, artifact, version, vtype, digest = values
    vtype = vtype or ("DIGEST" if version.startswith("sha256:") else "TAG")
    return ref.removesuffix("/+"), artifact.removesuffix("/+"), version, vtype, digest


def job_args(sb, csv_path, out, *extra):
    return ["run", csv_path, "--base-url", sb.base_url, "--output-dir", out, "--rate", "1000",
            "--no-progress", *extra]


def test_thousand_rows_every_line_once_with_the_right_values(make_sandbox, tmp_path):
    sb = make_sandbox(images=150)
    rows = write_input_csv(sb.dataset, tmp_path / "in.csv", rows=1000, unknown=10, invalid=5,
                           forbidden=3, duplicates=20)
    proc = run_cli(job_args(sb, tmp_path / "in.csv", tmp_path / "out"), key=sb.api_key)
    assert proc.returncode == 1, proc.stderr
    s = summary(proc)
    expected = {k: sum(r.expect == k for r in rows) for k in ("ok", "not_found", "forbidden", "invalid_input")}
    assert (s["rows"], s["ok"], s["not_found"], s["forbidden"], s["invalid"], s["failed"]) == (
        "1000", str(expected["ok"]), str(expected["not_found"]), str(expected["forbidden"]),
        str(expected["invalid_input"]), "0")
    # Rows that differ only by a trailing /+ or an empty version_type are the same request.
    distinct = {normalized_key(r.values) for r in rows if r.expect != "invalid_input"}
    assert s["saved"] == str(1000 - 5 - len(distinct)) and s["run"] == "complete"
    # Every distinct valid key requested exactly once; invalid rows never sent.
    keys = [r.key for r in sb.requests]
    assert len(keys) == len(set(keys)) == int(s["requests"]) == len(distinct)

    table = pq.read_table(reports(proc)["parquet"]).to_pandas()
    assert table["line"].tolist() == [r.line for r in rows]
    assert table["status"].tolist() == [r.expect for r in rows]
    by_line = table.set_index("line")
    for r in rows:
        if r.expect != "ok":
            continue
        ref, artifact, version, vtype, digest = r.values
        got = by_line.loc[r.line]
        image = sb.dataset.image(ref.removesuffix("/+"), artifact.removesuffix("/+"))
        manifest = image.manifest(digest)
        assert got["digest"] == digest and got["artifact"] == image.name
        unit = 1024 ** max(0, (manifest.size_bytes.bit_length() - 1) // 10)  # the size string's unit
        assert abs(got["size_bytes"] - manifest.size_bytes) <= 0.005 * unit + 1  # two decimals of it
        assert got["downloads_count"] == manifest.downloads
        assert bool(got["is_quarantined"]) == manifest.quarantined
        if version.startswith("sha256:"):
            assert sorted(got["tags"]) == sorted(image.tags_of(digest))
            if manifest.created_ms > 0:
                assert got["created_at"] == datetime.fromtimestamp(manifest.created_ms / 1000, timezone.utc)
        else:
            tag = image.tag(version)
            if tag.created_ms > 0:
                assert got["created_at"] == datetime.fromtimestamp(tag.created_ms / 1000, timezone.utc)
            else:  # Go's zero time: unknown, never year 1
                assert pd.isna(got["created_at"])
            assert got["pull_command"].endswith(f"/{image.name}:{version}")
        pushed = manifest.pushed_by if manifest.pushed_by_state == "object" else {}
        for field in ("uid", "display_name", "email", "type"):
            assert none_if_na(got[f"pushed_by_{field}"]) == pushed.get(field)


def test_all_rows_ok_exits_0_and_prints_both_report_paths(sandbox, tmp_path):
    rows = write_input_csv(sandbox.dataset, tmp_path / "in.csv", rows=20, unknown=0, invalid=0,
                           forbidden=0, duplicates=0)
    proc = run_cli(job_args(sandbox, tmp_path / "in.csv", tmp_path / "out"), key=sandbox.api_key)
    assert proc.returncode == 0, proc.stderr
    assert summary(proc)["ok"] == "20"
    paths = reports(proc)
    assert set(paths) == {"xlsx", "parquet"} and all(p.exists() for p in paths.values())
    assert paths["xlsx"].name.startswith("docker-inventory-") and paths["xlsx"].stem.endswith("Z")
    wb = load_workbook(paths["xlsx"])
    inv = wb["Inventory"]
    assert inv.max_row == len(rows) + 1


def test_input_warnings_are_kept_in_the_reports_run_information(sandbox, tmp_path):
    write_input_csv(sandbox.dataset, tmp_path / "in.csv", rows=3, unknown=0, invalid=0, forbidden=0, duplicates=0)
    lines = (tmp_path / "in.csv").read_text(encoding="utf-8").splitlines()
    lines[2] += ",a stray value"  # line 3
    (tmp_path / "in.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    proc = run_cli(job_args(sandbox, tmp_path / "in.csv", tmp_path / "out", "--format", "parquet"),
                   key=sandbox.api_key)
    assert proc.returncode == 0, proc.stderr
    run = json.loads(pq.read_metadata(reports(proc)["parquet"]).metadata[b"har_inventory.run"])
    (warning,) = run["notes"]["input_warnings"]
    assert "values under no column name" in warning and "line 3:" in warning


def test_a_refusal_after_the_logs_are_set_up_is_in_the_log_file_too(sandbox, tmp_path):
    log_file = tmp_path / "cron.log"
    proc = run_cli(job_args(sandbox, tmp_path / "no-such.csv", tmp_path / "out", "--log-file", log_file),
                   key=sandbox.api_key)
    assert proc.returncode == 2 and summary(proc)["run"] == "refused"
    assert "ERROR refused: " in log_file.read_text() and "no-such.csv" in log_file.read_text()


def test_verbose_logs_one_line_per_http_answer_without_the_key(sandbox, tmp_path):
    write_input_csv(sandbox.dataset, tmp_path / "in.csv", rows=5, unknown=0, invalid=0, forbidden=0, duplicates=0)
    log_file = tmp_path / "run.log"
    proc = run_cli(job_args(sandbox, tmp_path / "in.csv", tmp_path / "out", "--format", "csv", "-v",
                            "--log-format", "json", "--log-file", log_file), key=sandbox.api_key)
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in log_file.read_text().splitlines()]
    answers = [e for e in events if e["event"] == "response"]
    assert len(answers) == len(sandbox.requests) == 5 and {e["status"] for e in answers} == {200}
    assert sandbox.api_key not in log_file.read_text()


@pytest.mark.parametrize("args, key, message", [
    (["--api-key", "pat.typed-on-the-command-line"], "k", "the key is read from HARNESS_API_KEY"),
    ([], "pat.abc\u2013def", "non-ASCII"),
])
def test_key_mistakes_exit_2_with_a_hint_and_no_echo(sandbox, tmp_path, args, key, message):
    proc = run_cli(job_args(sandbox, ROOT / "inputs" / "sample.csv", tmp_path / "out", *args), key=key)
    assert proc.returncode == 2 and message in proc.stderr
    assert "typed-on-the-command-line" not in proc.stderr and sandbox.requests == []


def test_sample_run_has_errors_sheet_and_no_formula_cells(sandbox, tmp_path):
    proc = run_cli(job_args(sandbox, ROOT / "inputs" / "sample.csv", tmp_path), key=sandbox.api_key)
    assert proc.returncode == 1
    s = summary(proc)
    wb = load_workbook(reports(proc)["xlsx"])
    errors = list(wb["Errors"].iter_rows(values_only=True))
    assert len(errors) - 1 == int(s["rows"]) - int(s["ok"])
    header = [c.value for c in wb["Inventory"][1]]
    created = header.index(next(h for h in header if h.startswith("created_at")))
    for ws in wb.worksheets:
        for row in ws.iter_rows():
            for cell in row:
                assert cell.data_type != "f", f"formula in {ws.title}!{cell.coordinate}"
    dates = [r[created] for r in wb["Inventory"].iter_rows(min_row=2, values_only=True) if r[created]]
    assert dates and all(isinstance(d, datetime) for d in dates)


def test_refused_file_exits_2_and_sends_nothing(sandbox, tmp_path):
    bad = tmp_path / "bad.csv"
    bad.write_text("image,tag\nweb,1.0\n", encoding="utf-8")
    proc = run_cli(job_args(sandbox, bad, tmp_path / "out"), key=sandbox.api_key)
    assert proc.returncode == 2
    assert "digest" in proc.stderr and "Traceback" not in proc.stderr
    assert summary(proc)["run"] == "refused"
    assert sandbox.requests == []


@pytest.mark.parametrize("args, message", [
    (["--format", "xlsx,pdf"], "unknown format 'pdf'"),
    (["--registry-ref", "just-one-segment"], "registry_ref"),
    (["--concurrency", "0"], "at least 1"),
    (["--rate", "-3"], "positive"),
    (["--retry-failed"], "--retry-failed goes with --resume"),
])
def test_bad_options_exit_2_with_one_readable_line(sandbox, tmp_path, args, message):
    csv_path = tmp_path / "in.csv"
    csv_path.write_text("artifact,version,digest\nweb,1.0,sha256:" + "a" * 64 + "\n", encoding="utf-8")
    proc = run_cli(job_args(sandbox, csv_path, tmp_path / "out", *args), key=sandbox.api_key)
    assert proc.returncode == 2
    assert message in proc.stderr and "Traceback" not in proc.stderr
    assert sandbox.requests == []


def test_output_dir_that_is_a_file_exits_2_before_any_request(sandbox, tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x")
    proc = run_cli(job_args(sandbox, ROOT / "inputs" / "sample.csv", blocker), key=sandbox.api_key)
    assert proc.returncode == 2, proc.stderr
    assert "--output-dir" in proc.stderr and "Traceback" not in proc.stderr
    assert summary(proc)["run"] == "refused"
    assert sandbox.requests == []


def test_a_run_while_another_holds_the_output_dir_exits_2_before_any_request(sandbox, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys; from pathlib import Path; from har_inventory.outdir import claim\n"
         "with claim(Path(sys.argv[1])):\n    print('held', flush=True); sys.stdin.read()", str(out)],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        assert holder.stdout.readline().strip() == "held"
        log_file = tmp_path / "cron.log"
        proc = run_cli(job_args(sandbox, ROOT / "inputs" / "sample.csv", out, "--log-format", "json",
                                "--log-file", log_file), key=sandbox.api_key)
    finally:
        holder.stdin.close()
        holder.wait(timeout=30)
    assert proc.returncode == 2, proc.stderr
    assert f"another har-inventory run (pid {holder.pid}," in proc.stderr and "Traceback" not in proc.stderr
    assert summary(proc)["run"] == "refused"
    assert sandbox.requests == []
    (refused,) = [e for e in map(json.loads, log_file.read_text().splitlines()) if e["event"] == "refused"]
    assert f"(pid {holder.pid}," in refused["message"]  # the cron log says why nothing ran
    proc = run_cli(job_args(sandbox, ROOT / "inputs" / "sample.csv", out), key=sandbox.api_key)
    assert proc.returncode == 1 and summary(proc)["run"] == "complete"  # free again: the sample's own mix


@pytest.mark.parametrize("kind, why", [("directory", "Is a directory"), ("symlink", "it is a symbolic link")])
def test_a_lock_file_that_cannot_be_opened_exits_2_before_any_request(sandbox, tmp_path, kind, why):
    out = tmp_path / "out"
    out.mkdir()
    if kind == "directory":  # refused even to root, unlike a chmod
        (out / ".har-inventory.lock").mkdir()
    else:
        (out / ".har-inventory.lock").symlink_to(tmp_path / "elsewhere")
    proc = run_cli(job_args(sandbox, ROOT / "inputs" / "sample.csv", out), key=sandbox.api_key)
    assert proc.returncode == 2, proc.stderr
    assert f"cannot take its lock file .har-inventory.lock: {why}" in proc.stderr
    assert "Traceback" not in proc.stderr and not (tmp_path / "elsewhere").exists()
    assert summary(proc)["run"] == "refused"
    assert sandbox.requests == []


@pytest.mark.parametrize("where", ["missing-folder/run.log", "a-directory"])
def test_log_file_that_cannot_be_opened_exits_2_before_any_request(sandbox, tmp_path, where):
    (tmp_path / "a-directory").mkdir()
    log_file = tmp_path / where
    proc = run_cli(job_args(sandbox, ROOT / "inputs" / "sample.csv", tmp_path / "out", "--log-file", log_file),
                   key=sandbox.api_key)
    assert proc.returncode == 2, proc.stderr
    assert f"--log-file {log_file} cannot be opened" in proc.stderr and "Traceback" not in proc.stderr
    assert summary(proc)["run"] == "refused"
    assert sandbox.requests == []


def test_empty_key_file_is_named(sandbox, tmp_path):
    key_file = tmp_path / "key"
    key_file.write_text("\n")
    key_file.chmod(0o600)
    proc = run_cli(job_args(sandbox, ROOT / "inputs" / "sample.csv", tmp_path / "out",
                            "--api-key-file", key_file))
    assert proc.returncode == 2 and f"--api-key-file {key_file} is empty" in proc.stderr


def test_missing_key_exits_2(sandbox, tmp_path):
    proc = run_cli(job_args(sandbox, ROOT / "inputs" / "sample.csv", tmp_path), key=None)
    assert proc.returncode == 2 and "HARNESS_API_KEY" in proc.stderr
    assert sandbox.requests == []


def test_refused_key_exits_3_quickly(sandbox, tmp_path):
    proc = run_cli(job_args(sandbox, ROOT / "inputs" / "sample.csv", tmp_path), key="pat.not.the.key")
    assert proc.returncode == 3
    assert "API key refused" in proc.stderr
    assert len(sandbox.requests) <= 9  # concurrency 8 + 1 at most, not 67
    s = summary(proc)
    assert s["run"] == "aborted" and s["ok"] == "0"
    # Rows the run never sent are counted apart from rows the server failed.
    assert int(s["unsent"]) == int(s["failed"]) > 0


def test_header_only_file_gives_an_empty_report_with_the_full_schema(sandbox, tmp_path):
    csv_path = tmp_path / "empty.csv"
    csv_path.write_text("registry_ref,artifact,version,digest\n", encoding="utf-8")
    proc = run_cli(job_args(sandbox, csv_path, tmp_path / "out"), key=sandbox.api_key)
    assert proc.returncode == 0, proc.stderr
    schema = pq.read_schema(reports(proc)["parquet"])
    assert schema.names[:6] == ["line", "registry_ref", "artifact", "version", "version_type", "digest"]
    assert str(schema.field("created_at").type) == "timestamp[ms, tz=UTC]"
    assert str(schema.field("tags").type) == "list<element: string>"


def test_all_failed_run_keeps_the_schema_types(sandbox, tmp_path):
    csv_path = tmp_path / "unknown.csv"
    with open(csv_path, "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["registry_ref", "artifact", "version", "digest"])
        for i in range(5):
            w.writerow(["acme/docker-hub", "nginx", f"v{i}", "sha256:" + f"{i:064x}"])
    proc = run_cli(job_args(sandbox, csv_path, tmp_path / "out"), key=sandbox.api_key)
    assert proc.returncode == 1
    t = pq.read_table(reports(proc)["parquet"])
    assert set(t.column("status").to_pylist()) == {"not_found"}
    assert str(t.schema.field("size_bytes").type) == "int64"
    assert str(t.schema.field("downloads_count").type) == "int64"
    assert t.column("http_status").to_pylist() == [500] * 5


def test_dry_run_sends_nothing_and_counts(sandbox, tmp_path):
    proc = run_cli(["run", ROOT / "inputs" / "sample.csv", "--dry-run", "--base-url", sandbox.base_url],
                   key=sandbox.api_key)
    assert proc.returncode == 1  # the sample has invalid rows on purpose
    assert "invalid" in proc.stdout
    assert sandbox.requests == []


def test_discover_then_run_equals_run_discover(sandbox, tmp_path):
    common = ["--base-url", sandbox.base_url, "--rate", "1000"]
    d = run_cli(["discover", "--registry-ref", "acme/platform/base-images/+", "-o", tmp_path / "d.csv", *common],
                key=sandbox.api_key)
    assert d.returncode == 0, d.stderr
    a = run_cli(["run", tmp_path / "d.csv", "--output-dir", tmp_path / "a", "--format", "parquet",
                 "--no-progress", *common], key=sandbox.api_key)
    b = run_cli(["run", "--discover", "--registry-ref", "acme/platform/base-images", "--output-dir",
                 tmp_path / "b", "--format", "parquet", "--no-progress", *common], key=sandbox.api_key)
    assert a.returncode == b.returncode == 0, b.stderr
    drop = ["fetched_at"]
    ta = pq.read_table(reports(a)["parquet"]).to_pandas().drop(columns=drop)
    tb = pq.read_table(reports(b)["parquet"]).to_pandas().drop(columns=drop)
    assert len(ta) > 0
    assert ta.equals(tb)
    saved = [Path(p) for p in b.stdout.split() if Path(p).name.startswith("discovered-")]
    assert saved and saved[0].read_text() == (tmp_path / "d.csv").read_text()
    assert int(summary(b)["requests"]) > int(summary(a)["requests"])  # discovery requests count too
