"""#15 §3 on every engine: ``rox_loads`` records each file's fingerprint, and a workspace made
before it had those columns opens, gains them, and loads (DuckDB, PostgreSQL, Spark)."""

from __future__ import annotations

import shutil

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

import rox
from rox.testing import responses_frame

_ALREADY = "already loaded as load"


def _csv(path):
    frame = responses_frame("nps", [10, 7, 3], start="2024-01-01 10:00", freq="D",
                            response_id=["r1", "r2", "r3"])  # fmt: skip
    frame.to_csv(path, index=False)
    return path


def _loads(ws: rox.Workspace) -> pd.DataFrame:
    return ws.table("rox_loads").order_by("load_id").execute()


def test_each_load_of_a_file_records_its_fingerprint(any_ws, backend, tmp_path):
    source = _csv(tmp_path / "r.csv")
    any_ws.ingest("responses", source)
    again = any_ws.ingest("responses", source)
    assert (again.rows_loaded, again.rows_skipped) == (0, 3)
    loads = _loads(any_ws)
    assert loads["fingerprint"].notna().all() and loads["fingerprint"].nunique() == 1
    # the checksum of the rows is DuckDB's, where the load writes them: elsewhere the same file
    # is compared row by row
    fast = backend == "duckdb"
    assert loads["checksum"].notna().tolist() == [fast, False]
    assert any(_ALREADY in note for note in again.notes) is fast


def _drop_fingerprint_columns(url: str, backend: str, tmp_path) -> None:
    """Make the workspace's ``rox_loads`` as rox wrote it before #15 §3 (no new columns)."""
    columns = ("fingerprint", "checksum")
    if backend == "spark":
        folder = tmp_path / "lake" / "rox_loads"
        # (without Spark's own record of the schema, which still names the columns)
        old = pq.read_table(folder).drop_columns(list(columns)).replace_schema_metadata(None)
        at = old.schema.get_field_index("loaded_at")  # (an instant, as Spark wrote it)
        old = old.set_column(at, "loaded_at", old["loaded_at"].cast(pa.timestamp("us", "UTC")))
        shutil.rmtree(folder)
        folder.mkdir()
        pq.write_table(old, folder / "part-0.parquet", coerce_timestamps="us")
        return
    with rox.open(url) as ws:
        sql = [f"ALTER TABLE rox_loads DROP COLUMN {c}" for c in columns]
        if backend == "duckdb":
            for statement in sql:
                ws.backend.con.execute(statement)
        else:
            with ws.backend.con.transaction(), ws.backend.con.cursor() as cur:
                for statement in sql:
                    cur.execute(statement)


def test_a_workspace_made_before_the_fingerprint_gains_it_and_loads(
    backend, request, tmp_path, workspace_url
):
    url = workspace_url(backend, request, tmp_path)
    source = _csv(tmp_path / "r.csv")
    with rox.open(url) as ws:
        ws.ingest("responses", source)
    _drop_fingerprint_columns(url, backend, tmp_path)
    with rox.open(url, read_only=True) as ws:  # read-only: opened as it is, nothing added
        assert "fingerprint" not in ws.table("rox_loads").columns
        assert ws.count("rox_loads") == 1
    with rox.open(url) as ws:
        assert {"fingerprint", "checksum"} <= set(ws.table("rox_loads").columns)
        again = ws.ingest("responses", source)  # the old load has no fingerprint: row by row
        assert (again.rows_loaded, again.rows_skipped) == (0, 3)
        assert not any(_ALREADY in note for note in again.notes)
        assert _loads(ws)["fingerprint"].isna().tolist() == [True, False]
    with rox.open(url) as ws:  # opened again: nothing more to add
        assert ws.count("rox_loads") == 2 and ws.count("responses") == 3
