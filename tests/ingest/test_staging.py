"""#15 §3: a large file is staged in a table of the workspace file, not in memory.

The choice is by size (:func:`rox.ingest.staged._stage_on_disk`); here any file is made large by
pretending each byte stages into a megabyte, and the loads must come out exactly as when staged in
memory, leaving no staging table behind, whether they commit or fail.
"""

from __future__ import annotations

import duckdb
import pytest

import rox
from rox.errors import ValidationError
from rox.ingest import staged
from rox.ingest.sources import open_source


def _csv(path, rows):
    path.write_text("response_id,ts,metric,score,comment\n" + "".join(rows))
    return path


ROWS = [
    "r1,2024-01-01 10:00:00,nps,9,call me on 06 12 34 56 78\n",
    "r2,2024-01-02 10:00:00,nps,12,\n",  # out of the scale
    "r3,2024-01-03 10:00:00,nps,7,fine\n",
    "r3,2024-01-03 10:00:00,nps,7,fine\n",  # repeated
]


def _tables(path):
    con = duckdb.connect(str(path), read_only=True)
    try:
        return sorted(
            n for (n,) in con.execute("SELECT table_name FROM duckdb_tables()").fetchall()
        )
    finally:
        con.close()


@pytest.mark.parametrize("on_disk", [False, True])
def test_a_load_staged_on_disk_gives_the_same_rows(tmp_path, monkeypatch, on_disk):
    if on_disk:
        monkeypatch.setattr(staged, "_STAGED_PER_BYTE", 2.0**40)
    source = _csv(tmp_path / "r.csv", ROWS)
    path = tmp_path / "ws.duckdb"
    with rox.open(path) as ws:
        con = ws.backend.con
        assert staged._stage_on_disk(con, open_source(con, source)) is on_disk
        report = ws.ingest("responses", source, on_error="quarantine")
        assert (report.rows_loaded, report.rows_rejected, report.rows_skipped) == (2, 1, 1)
        got = ws.table("responses").order_by("response_id").execute()
        assert got["response_id"].tolist() == ["r1", "r3"]
        assert "06 12 34 56 78" not in got["comment"].iloc[0]  # redacted before it was kept
        assert got["_seq"].tolist() == [1, 3]  # numbered by their rows in the file
        assert ws.table("rejects").execute()["row"].tolist() == [2]
        with pytest.raises(ValidationError, match="score"):
            ws.ingest("responses", _csv(tmp_path / "bad.csv", ["r9,2024-01-09,nps,11,\n"]))
    assert "_rox_source" not in _tables(path)
    assert "responses" in _tables(path)


def test_an_in_memory_workspace_stages_in_memory(tmp_path, monkeypatch):
    monkeypatch.setattr(staged, "_STAGED_PER_BYTE", 2.0**40)
    with rox.open("duckdb://:memory:") as ws:
        con = ws.backend.con
        assert not staged._stage_on_disk(con, open_source(con, _csv(tmp_path / "r.csv", ROWS)))
