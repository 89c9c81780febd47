from __future__ import annotations

import subprocess
import sys
import textwrap

import pandas as pd
import pytest

import rox
from rox.errors import EngineNotSupportedError, TableNotFoundError, WorkspaceError
from rox.schema import TABLES
from rox.testing import insert_rows
from rox.workspace import canonical_schema


def test_new_workspace_has_every_canonical_table_with_declared_types(ws):
    for name, spec in TABLES.items():
        schema = ws.table(name).schema()
        assert list(schema)[: len(spec.columns)] == list(spec.names)
        expected = canonical_schema(name)
        assert schema.names == expected.names
        for col, dtype in expected.items():
            assert schema[col].is_timestamp() if dtype.is_timestamp() else schema[col] == dtype
    assert ws.table("responses").schema()["ts"].timezone == "UTC"


def test_describe_counts_rows_and_time_span(ws):
    insert_rows(
        ws,
        "responses",
        pd.DataFrame(
            {
                "ts": ["2024-01-05T10:00:00Z", "2024-03-01T00:00:00Z"],
                "metric": ["nps", "csat"],
                "score": [9, 4],
            }
        ),
    )
    result = ws.describe().to_frame().set_index("table")
    assert result.loc["responses", "rows"] == 2
    assert result.loc["responses", "first"] == pd.Timestamp("2024-01-05T10:00:00Z")
    assert result.loc["responses", "last"] == pd.Timestamp("2024-03-01T00:00:00Z")
    assert result.loc["events", "rows"] == 0
    assert "Workspace duckdb://:memory:" in repr(ws.describe())


def test_file_workspace_persists(tmp_path):
    path = tmp_path / "w.duckdb"
    with rox.open(f"duckdb:///{path}") as ws:
        insert_rows(ws, "customers", pd.DataFrame({"customer_id": ["a", "b"]}))
        assert ws.url == f"duckdb://{path}"
    with rox.open(path, read_only=True) as ws:
        assert ws.count("customers") == 2


def test_default_workspace_comes_from_environment(tmp_path, monkeypatch):
    monkeypatch.setenv("ROX_WORKSPACE", str(tmp_path / "env.duckdb"))
    with rox.open() as ws:
        assert ws.url == f"duckdb://{tmp_path / 'env.duckdb'}"


def test_default_workspace_is_rox_duckdb_in_current_folder(tmp_path, monkeypatch):
    monkeypatch.delenv("ROX_WORKSPACE", raising=False)
    monkeypatch.chdir(tmp_path)
    with rox.open():
        pass
    assert (tmp_path / "rox.duckdb").exists()


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("spark://local[2]", r"'spark://local\[2\]' names no lake"),
        ("spark://local[2]?lake=/x&warehouse=y", "unknown option 'warehouse'"),
        ("mysql://x", "unknown workspace URL scheme 'mysql'"),
    ],
)
def test_bad_workspace_url_is_a_clear_error(url, expected):
    with pytest.raises(EngineNotSupportedError, match=expected) as info:
        rox.open(url)
    assert isinstance(info.value, ValueError)


def test_missing_folder_is_named(tmp_path):
    with pytest.raises(WorkspaceError, match=r"folder .*nope does not exist"):
        rox.open(tmp_path / "nope" / "w.duckdb")


def test_read_only_workspace_must_exist(tmp_path):
    with pytest.raises(WorkspaceError, match="does not exist; create it with `rox demo`"):
        rox.open(tmp_path / "absent.duckdb", read_only=True)


def test_unknown_table_lists_the_canonical_ones(ws):
    expected = "unknown table 'orders'; the canonical tables are"
    with pytest.raises(TableNotFoundError, match=expected):
        ws.table("orders")


def test_empty_table_error_says_how_to_load(ws):
    with pytest.raises(TableNotFoundError, match="rox ingest responses FILE"):
        ws.require_rows("responses")


def test_a_second_process_cannot_open_a_held_file(tmp_path):
    path = tmp_path / "held.duckdb"
    with rox.open(path):
        code = textwrap.dedent(
            f"""
            import rox, sys
            try:
                rox.open({str(path)!r})
            except rox.RoxError as exc:
                print(type(exc).__name__)
            """
        )
        result = subprocess.run(
            [sys.executable, "-c", code], capture_output=True, text=True, check=True
        )
    assert result.stdout.strip() == "WorkspaceError"


def test_timestamps_truncate_in_utc_whatever_the_machine_zone(monkeypatch):
    monkeypatch.setenv("TZ", "America/New_York")
    with rox.open("duckdb://:memory:") as ws:
        insert_rows(
            ws,
            "responses",
            pd.DataFrame({"ts": ["2024-01-31T23:30:00Z"], "metric": ["nps"], "score": [9]}),
        )
        t = ws.table("responses")
        result = t.select(m=t.ts.truncate("M")).execute()["m"].iloc[0]
    assert result == pd.Timestamp("2024-01-01")


def test_memory_limit_of_file_workspaces(tmp_path, monkeypatch):
    with rox.open(tmp_path / "a.duckdb") as ws:
        limit = ws.backend.con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        assert limit == "1.8 GiB"  # 2 GB
    monkeypatch.setenv("ROX_MEMORY_LIMIT", "500MB")
    with rox.open(tmp_path / "b.duckdb") as ws:
        limit = ws.backend.con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        assert limit.startswith("476")  # 500 MB in MiB
    monkeypatch.setenv("ROX_MEMORY_LIMIT", "lots")
    with pytest.raises(rox.errors.WorkspaceError, match="ROX_MEMORY_LIMIT='lots' is not a memory"):
        rox.open(tmp_path / "c.duckdb")


def test_duckdb_epoch_seconds_and_utc_day_equal_the_portable_forms():
    # DuckDB's own epoch() replaces Ibis's TIMESTAMPTZ->TIMESTAMP cast (cheaper); same values
    import ibis

    ws = rox.open("duckdb://:memory:")
    ts = pd.to_datetime(
        [
            "1969-12-31 23:59:59.5",
            "1970-01-01 00:00:00",
            "2024-02-29 23:59:59.999",
            "2024-03-01 00:00:00.001",
            "2038-01-19 03:14:08",
        ],
        utc=True,
        format="ISO8601",
    )
    t = ibis.memtable({"ts": ts})
    out = ws.backend.execute(
        t.select(
            epoch=ws.engine.epoch_seconds(t.ts), day=ws.engine.utc_date(t.ts), date=t.ts.date()
        )
    )
    assert out["epoch"].tolist() == (ts.as_unit("us").asi8 / 1e6).tolist()
    days = ts.tz_localize(None).normalize().tolist()
    assert pd.to_datetime(out["day"]).tolist() == pd.to_datetime(out["date"]).tolist() == days
