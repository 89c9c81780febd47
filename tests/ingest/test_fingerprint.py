"""#15 §3: a file loaded already is recognised by its fingerprint, while its load's rows are intact.

Each case has both sides: the fingerprint path (the note "already loaded as load L", the file's
rows not compared) and the row-by-row path that anything else takes, with the outcome that path
has always given (tests/ingest/test_ingest.py).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import duckdb
import pandas as pd
import pytest

import rox
from rox.errors import ValidationError
from rox.ingest.fingerprint import file_fingerprint
from rox.ingest.mapping import ColumnMapping

_ALREADY = "already loaded as load"


def _csv(path: Path, n: int = 3, extra: str = "", prefix: str = "r") -> Path:
    lines = ["response_id,ts,metric,score"]
    lines += [f"{prefix}{i},2024-01-{i:02d} 10:00:00,nps,{i % 11}" for i in range(1, n + 1)]
    path.write_text("\n".join(lines) + "\n" + extra)
    return path


def _fast(report: rox.ingest.LoadReport) -> bool:
    return any(_ALREADY in note for note in report.notes)


def _loads(ws: rox.Workspace) -> pd.DataFrame:
    return ws.table("rox_loads").order_by("load_id").execute()


def test_the_same_file_again_is_skipped_whole_and_says_so(ws, tmp_path):
    source = _csv(tmp_path / "r.csv")
    first = ws.ingest("responses", source)
    again = ws.ingest("responses", source)
    assert (again.rows_read, again.rows_loaded, again.rows_skipped, again.rows_rejected) == (
        3,
        0,
        3,
        0,
    )
    assert str(again).splitlines() == [
        "Loaded 0 of 3 rows into responses (3 skipped as already loaded or repeated) [load 2]",
        f"note: {source}: already loaded as load 1 (the same bytes, with the same mapping, and "
        "its 3 rows are unchanged): none of its rows is new",
    ]
    assert ws.count("responses") == 3
    loads = _loads(ws)
    # the fingerprint is the SHA-256 of the version, table, format, mapping and bytes (hashlib here)
    mapping = repr(ColumnMapping(origin=""))
    expected = hashlib.sha256(
        b"rox-fingerprint-1\0responses\0\0" + mapping.encode() + b"\0" + source.read_bytes()
    ).hexdigest()
    assert loads["fingerprint"].tolist() == [expected, expected]
    # the first load's rows are vouched for by a checksum; the second loaded none
    assert loads["checksum"].notna().tolist() == [True, False]
    # and a third time: still the first load that vouches (the second loaded no row)
    assert _ALREADY + " 1 " in str(ws.ingest("responses", source))
    assert first.rows_loaded == 3


def test_a_row_of_the_load_deleted_takes_the_row_by_row_path(ws_file, tmp_path):
    ws = ws_file
    source = _csv(tmp_path / "r.csv")
    ws.ingest("responses", source)
    # (a later load: a row missing from the last load is an interrupted load, see reconcile)
    ws.ingest("responses", _csv(tmp_path / "other.csv", n=4, prefix="x"))
    ws.backend.con.execute("DELETE FROM responses WHERE response_id = 'r2'")
    again = ws.ingest("responses", source)
    assert not _fast(again)
    assert (again.rows_loaded, again.rows_skipped) == (1, 2)  # the deleted row is loaded again
    assert ws.count("responses") == 7
    # the load that brought r2 back loaded only one of its three rows: it vouches for nothing
    assert not _fast(ws.ingest("responses", source))


def test_a_value_of_the_load_changed_takes_the_row_by_row_path(ws, tmp_path):
    source = _csv(tmp_path / "r.csv")
    ws.ingest("responses", source)
    ws.backend.con.execute("UPDATE responses SET score = 0 WHERE response_id = 'r3'")
    with pytest.raises(ValidationError, match="response_id already loaded with different values"):
        ws.ingest("responses", source)
    # changed back, the rows are as loaded: the fingerprint is trusted again
    ws.backend.con.execute("UPDATE responses SET score = 3 WHERE response_id = 'r3'")
    assert _fast(ws.ingest("responses", source))


def test_values_swapped_between_rows_take_the_row_by_row_path(ws, tmp_path):
    source = _csv(tmp_path / "r.csv")
    ws.ingest("responses", source)
    con = ws.backend.con
    # the same values, in other rows: the checksum binds each value to its row
    con.execute(
        "UPDATE responses SET score = CASE response_id WHEN 'r1' THEN 2 ELSE 1 END "
        "WHERE response_id IN ('r1', 'r2')"
    )
    with pytest.raises(ValidationError, match="already loaded with different values"):
        ws.ingest("responses", source)


def test_another_mapping_takes_the_row_by_row_path(ws, tmp_path):
    source = _csv(tmp_path / "r.csv")
    ws.ingest("responses", source, mapping={"timestamps": {"timezone": "UTC"}})
    # an equal mapping (written out the same) is the same mapping
    assert _fast(ws.ingest("responses", source, mapping=ColumnMapping(origin="other.toml")))
    # another time zone makes other rows of the same file: compared row by row, refused
    with pytest.raises(ValidationError, match="already loaded with different values"):
        ws.ingest("responses", source, mapping={"timestamps": {"timezone": "Europe/Paris"}})
    # another mapping that makes the same rows: row by row, every row skipped, no note
    other = ws.ingest("responses", source, mapping={"timestamps": {"earliest": "1950-01-01"}})
    assert (other.rows_skipped, _fast(other)) == (3, False)


def test_other_bytes_with_the_same_rows_take_the_row_by_row_path(ws, tmp_path):
    ws.ingest("responses", _csv(tmp_path / "r.csv"))
    # one blank line more: not the same file, the same rows
    report = ws.ingest("responses", _csv(tmp_path / "r2.csv", extra="\n"))
    assert (report.rows_skipped, _fast(report)) == (3, False)


def test_a_load_that_skipped_rows_vouches_for_nothing(ws, tmp_path):
    ws.ingest("responses", _csv(tmp_path / "a.csv", n=2))
    bigger = _csv(tmp_path / "b.csv", n=3)
    report = ws.ingest("responses", bigger)
    assert (report.rows_loaded, report.rows_skipped) == (1, 2)
    # its two skipped rows belong to another load, which its checksum does not cover
    again = ws.ingest("responses", bigger)
    assert (again.rows_skipped, _fast(again)) == (3, False)


def test_a_column_added_later_keeps_the_trust_until_the_load_gets_a_value(ws, tmp_path):
    source = _csv(tmp_path / "r.csv")
    ws.ingest("responses", source)
    other = pd.DataFrame(
        {
            "response_id": ["x1"],
            "ts": ["2024-02-01"],
            "metric": ["nps"],
            "score": [5],
            "store": ["Lyon"],
        }
    )
    ws.ingest("responses", other)  # the table gains a column, null in the file's rows
    assert _fast(ws.ingest("responses", source))
    ws.backend.con.execute("UPDATE responses SET store = 'Nice' WHERE response_id = 'r1'")
    assert not _fast(ws.ingest("responses", source))


def test_a_quarantined_load_with_rejects_vouches_for_nothing(ws, tmp_path):
    source = _csv(tmp_path / "r.csv", extra="r9,2024-01-09 10:00:00,nps,12\n")
    first = ws.ingest("responses", source, on_error="quarantine")
    assert (first.rows_loaded, first.rows_rejected) == (3, 1)
    # the same file again: row by row, so that on_error="raise" still refuses the bad row
    with pytest.raises(ValidationError, match="12"):
        ws.ingest("responses", source)


def test_a_frame_has_no_fingerprint_and_is_compared_row_by_row(ws, tmp_path):
    frame = pd.DataFrame(
        {"response_id": ["r1"], "ts": ["2024-01-01"], "metric": ["nps"], "score": [9]}
    )
    ws.ingest("responses", frame)
    again = ws.ingest("responses", frame)
    assert (again.rows_skipped, _fast(again)) == (1, False)
    assert _loads(ws)["fingerprint"].isna().all()
    assert file_fingerprint(frame, "responses", ColumnMapping(), None) is None
    assert file_fingerprint(tmp_path, "responses", ColumnMapping(), None) is None  # a folder


def test_the_fingerprint_path_keeps_the_header_notes(ws, tmp_path):
    source = tmp_path / "r.csv"
    source.write_text("response_id,ts,metric,score,note,note\nr1,2024-01-01,nps,9,a,b\n")
    first = ws.ingest("responses", source)
    again = ws.ingest("responses", source)
    assert _fast(again)
    repeated = [n for n in first.notes if "repeats" in n]
    assert repeated and [n for n in again.notes if "repeats" in n] == repeated


def test_a_workspace_made_before_the_fingerprint_opens_and_loads(tmp_path):
    path = tmp_path / "old.duckdb"
    source = _csv(tmp_path / "r.csv")
    with rox.open(path) as ws:
        ws.ingest("responses", source)
    con = duckdb.connect(str(path))  # as rox wrote rox_loads before #15 §3
    con.execute("ALTER TABLE rox_loads DROP COLUMN checksum")
    con.execute("ALTER TABLE rox_loads DROP COLUMN fingerprint")
    con.close()
    with rox.open(path) as ws:
        assert {"fingerprint", "checksum"} <= set(ws.table("rox_loads").columns)
        # the old load recorded no fingerprint: its file is compared row by row
        again = ws.ingest("responses", source)
        assert (again.rows_skipped, _fast(again)) == (3, False)
        loads = _loads(ws)
        assert loads["fingerprint"].isna().tolist() == [True, False]
    with rox.open(path, read_only=True) as ws:
        assert ws.count("rox_loads") == 2
