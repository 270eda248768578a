"""Parquet report read back with pyarrow and DuckDB."""

from __future__ import annotations

import json
from datetime import datetime, timezone

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from har_inventory import schema
from har_inventory.normalize import normalize
from har_inventory.records import ArtifactRef, FetchResult, Status
from har_inventory.reports import SummaryAccumulator, open_writer
from har_inventory.reports.parquet import RUN_METADATA_KEY


@pytest.fixture
def parquet(tmp_path, sample, columns, run):
    w = open_writer("parquet", tmp_path / "r.parquet", columns)
    frame = sample[2]
    w.write(frame.iloc[:3])
    w.write(frame.iloc[3:])
    return w.close(run), frame


def test_types_values_and_run_metadata(parquet):
    path, frame = parquet
    f = pq.ParquetFile(path)
    assert f.metadata.num_row_groups == 2 and f.metadata.num_rows == 8
    assert f.metadata.row_group(0).column(0).compression == "ZSTD"
    s = f.schema_arrow
    for c in schema.BASE_COLUMNS:
        assert s.field(c.name).type == c.arrow_type, c.name
    assert s.field("created_at").type == pa.timestamp("ms", tz="UTC")
    assert str(s.field("tags").type) == "list<element: string>" == str(schema.base_column("tags").arrow_type)
    run = json.loads(f.metadata.metadata[RUN_METADATA_KEY.encode()])
    assert run["input_sha256"] == "ab" * 32 and run["counts"]["ok"] == 4 and run["complete"] is True
    t = pq.read_table(path)
    assert t.column("line").to_pylist() == [2, 3, 4, 5, 6, 7, 8, 9]
    assert t.column("tags").to_pylist()[2] == [] and t.column("tags").to_pylist()[0] is None
    assert t.column("created_at").to_pylist()[0] == datetime(2024, 6, 10, 6, 33, 54, 567000, tzinfo=timezone.utc)
    assert t.column("is_quarantined").to_pylist()[:3] == [False, True, False]
    long = t.column("metadata_org_opencontainers_image_source").to_pylist()[1]
    assert len(long) == 40_000  # nothing cut outside Excel
    assert t.column("pushed_by_display_name").to_pylist()[1].startswith("=HYPERLINK")
    back = t.to_pandas()
    assert back["size_bytes"].tolist()[0] == frame["size_bytes"].tolist()[0] == 1048576


def test_duckdb_sees_statuses_lists_and_timestamptz(parquet, sample):
    duckdb = pytest.importorskip("duckdb")
    path, frame = parquet
    acc = SummaryAccumulator()
    acc.add(frame)
    con = duckdb.connect()
    got = dict(con.execute(f"SELECT status, count(*) FROM '{path}' GROUP BY status").fetchall())
    assert got == acc.status_counts()
    types = dict(con.execute(f"SELECT column_name, column_type FROM (DESCRIBE SELECT * FROM '{path}')").fetchall())
    assert types["tags"] == "VARCHAR[]" and types["created_at"] == "TIMESTAMP WITH TIME ZONE"
    assert types["downloads_count"] == "BIGINT" and types["is_quarantined"] == "BOOLEAN"
    tags = con.execute(f"SELECT tags FROM '{path}' WHERE line = 4").fetchone()[0]
    assert tags == []


def test_metadata_column_type_conflict_across_chunks_never_fails(tmp_path, run):
    """Chunks normalized without run-wide kinds: int in one, text in the next."""
    when = datetime(2026, 1, 1, tzinfo=timezone.utc)
    a = ArtifactRef(2, "acc/reg", "img", "1", "TAG", "sha256:" + "1" * 64)
    b = ArtifactRef(3, "acc/reg", "img", "2", "TAG", "sha256:" + "2" * 64)
    data = {"imageName": "img", "version": "1", "packageType": "DOCKER", "registryPath": "p", "url": "u"}
    ra = {a.key: FetchResult(a.key, Status.OK, 200, None, 1, when, dict(data, metadata={"n": 1}))}
    rb = {b.key: FetchResult(b.key, Status.OK, 200, None, 1, when, dict(data, metadata={"n": "x", "m": {}}))}
    cols = schema.column_names(["m", "n"])
    w = open_writer("parquet", tmp_path / "r.parquet", cols)
    w.write(normalize([a], ra, metadata_keys=["m", "n"]))
    w.write(normalize([b], rb, metadata_keys=["m", "n"]))
    t = pq.read_table(w.close(run))
    assert t.column("metadata_n").to_pylist() == [1, None]
    assert json.loads(t.column("metadata_json").to_pylist()[1]) == {"n": "x", "m": {}}
    assert run.notes["parquet_values_dropped"] == 1


def test_pinned_metadata_types_and_empty_file(tmp_path, run):
    cols = schema.columns(["n"], {"n": schema.TEXT})
    w = open_writer("parquet", tmp_path / "r.parquet", cols)
    t = pq.read_table(w.close(run))
    assert t.num_rows == 0 and t.schema.field("metadata_n").type == pa.string()
    assert pd.api.types.is_string_dtype(t.to_pandas()["status"])
