"""#15 §3: a valid CSV's rows are numbered (``_seq``) after the load commits, in a transaction of
their own; what a crash between the two commits leaves is numbered as that transaction would have.

The state a crash leaves is made here without killing anything: the rows of the last load with
no ``_seq`` (tests/ingest/test_faults.py kills real loads). The expected numbers are the rows'
places in the files, written out by hand.
"""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

import rox
from rox.ingest import reconcile, transaction
from rox.ingest.order import number_rows


def _csv(path: Path, ids: list[str]) -> Path:
    lines = ["response_id,ts,metric,score", *(f"{r},2024-01-01,nps,7" for r in ids)]
    path.write_text("\n".join(lines) + "\n")
    return path


def _order(ws: rox.Workspace) -> list[tuple[str, int | None]]:
    """(response_id, _seq) of every row, in the table's own (insertion) order."""
    return ws.backend.con.execute(
        "SELECT response_id, _seq FROM responses ORDER BY rowid"
    ).fetchall()


def _two_loads(tmp_path: Path) -> tuple[Path, Path]:
    """A workspace file with load 1 (2 rows) and load 2 (4 rows, in the file's order)."""
    path = tmp_path / "ws.duckdb"
    second = _csv(tmp_path / "b.csv", ["b4", "b1", "b3", "b2"])
    with rox.open(path) as ws:
        ws.ingest("responses", _csv(tmp_path / "a.csv", ["a2", "a1"]))
        ws.ingest("responses", second)
    return path, second


EXPECTED = [("a2", 1), ("a1", 2), ("b4", 3), ("b1", 4), ("b3", 5), ("b2", 6)]


def _forget_order(path: Path, where: str = "_load_id = 2") -> None:
    """Leave the rows ``where`` holds without ``_seq``, as a crash between the commits does."""
    con = duckdb.connect(str(path))
    con.execute(f"UPDATE responses SET _seq = NULL WHERE {where}")
    con.close()


def test_a_valid_csv_is_numbered_in_the_files_order_after_the_tables_last(tmp_path):
    path, _ = _two_loads(tmp_path)
    with rox.open(path, read_only=True) as ws:
        assert _order(ws) == EXPECTED


def test_rows_left_unnumbered_by_a_crash_are_numbered_on_the_next_open_for_writing(tmp_path):
    path, second = _two_loads(tmp_path)
    _forget_order(path)
    with rox.open(path, read_only=True) as ws:  # a read-only open changes nothing
        assert [s for _, s in _order(ws)] == [1, 2, None, None, None, None]
    with rox.open(path) as ws:
        assert _order(ws) == EXPECTED
        # the checksum recorded by the load's first commit vouches for the rows numbered now
        again = ws.ingest("responses", second)
        assert "already loaded as load 2" in " ".join(again.notes)
        assert (again.rows_loaded, again.rows_skipped) == (0, 4)


def test_reconcile_numbers_them_too_and_says_so(tmp_path):
    path, _ = _two_loads(tmp_path)
    with rox.open(path) as ws:
        ws.backend.con.execute("UPDATE responses SET _seq = NULL WHERE _load_id = 2")
        assert reconcile(ws) == [
            "numbered 4 rows of responses that a load had written without their recorded order "
            "(the process was stopped after the load committed)"
        ]
        assert _order(ws) == EXPECTED
        assert reconcile(ws) == []  # nothing left to number


@pytest.mark.parametrize(
    "where",
    [
        "_load_id >= 1",  # two loads: numbered by load, then place
        "_load_id = 2 AND response_id <> 'b1'",  # one load, a gap in its rows
    ],
)
def test_rows_of_several_loads_or_with_gaps_are_numbered_by_load_then_place(tmp_path, where):
    path, _ = _two_loads(tmp_path)
    _forget_order(path, where)
    con = duckdb.connect(str(path))
    con.execute("BEGIN")
    numbered = number_rows(con, "responses")
    con.execute("COMMIT")
    got = con.execute("SELECT response_id, _seq FROM responses ORDER BY rowid").fetchall()
    con.close()
    if where.startswith("_load_id >="):
        assert numbered == 6
        assert got == EXPECTED
    else:  # b1 kept its 4; the others come after the table's highest (4), in their order
        assert numbered == 3
        assert got == [("a2", 1), ("a1", 2), ("b4", 5), ("b1", 4), ("b3", 6), ("b2", 7)]


def test_a_failed_numbering_leaves_the_load_whole_and_says_so(tmp_path, monkeypatch):
    path = tmp_path / "ws.duckdb"

    def fail(con, table):  # fails where there is something to number: after the commit
        (unnumbered,) = con.execute(f"SELECT count(*) FROM {table} WHERE _seq IS NULL").fetchone()
        if unnumbered:
            raise duckdb.IOException("IO Error: could not write the block")
        return number_rows(con, table)

    monkeypatch.setattr(transaction, "number_rows", fail)
    with rox.open(path) as ws:
        report = ws.ingest("responses", _csv(tmp_path / "a.csv", ["a2", "a1"]))
        assert report.rows_loaded == 2
        assert report.notes == [
            "load 1 is complete, but the recorded order of its rows was not written (IO Error: "
            "could not write the block); it is written when the workspace is next opened for "
            "writing"
        ]
        assert _order(ws) == [("a2", None), ("a1", None)]
        assert ws.table("rox_loads").execute()["rows_loaded"].tolist() == [2]
    monkeypatch.undo()
    with rox.open(path) as ws:
        assert _order(ws) == [("a2", 1), ("a1", 2)]
