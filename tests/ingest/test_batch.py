"""``rox.ingest.batch``: the service's small batches obey the same rules as ``ingest``."""

from __future__ import annotations

import pyarrow as pa
import pytest

import rox
from rox.errors import ValidationError, WorkspaceError
from rox.ingest.batch import BatchWriter, Looked
from rox.schema import TABLES

ROWS = {
    "ts": ["2026-05-01T10:00:00Z", "yesterday", "2026-05-01", "1850-01-01", "2026-05-02"],
    "metric": ["nps", "nps", "CSAT", "ces", "nope"],
    "score": [9.0, 5.0, 6.0, 3.0, 1.0],
    "response_id": ["a", "b", "c", "d", "e"],
}


def test_the_problems_are_those_ingest_finds(tmp_path):
    table = pa.table(ROWS)
    with rox.open(str(tmp_path / "a.duckdb")) as ws:
        with pytest.raises(ValidationError) as raised:
            ws.ingest("responses", table)
        expected = {(p.row, p.column, p.value, p.rule) for p in raised.value.problems}
    with rox.open(str(tmp_path / "b.duckdb")) as ws:
        result = BatchWriter(ws).append("responses", table)
        got = {(p.row, p.column, p.value, p.rule) for p in result.problems}
        assert ws.count("responses") == 0  # nothing written
        assert ws.count("rox_loads") == 0
    assert got == expected
    assert {(r, c) for r, c, _, _ in got} == {(2, "ts"), (3, "score"), (4, "ts"), (5, "metric")}


def test_a_valid_batch_is_one_load_and_repeats_are_skipped(tmp_path):
    good = pa.table({k: v[:1] for k, v in ROWS.items()})
    with rox.open(str(tmp_path / "c.duckdb")) as ws:
        writer = BatchWriter(ws)
        seen = []
        first = writer.append("responses", good, also=lambda con, i, s: seen.append((i, s)))
        assert (first.load_id, first.skipped, seen) == (1, frozenset(), [(1, frozenset())])
        twice = pa.concat_tables([good, good])
        again = writer.append("responses", twice)
        assert again.skipped == frozenset({1, 2})
        assert ws.count("responses") == 1
        loads = ws.table("rox_loads").order_by("load_id").execute()
        assert loads["rows_loaded"].tolist() == [1, 0]
        assert loads["rows_skipped"].tolist() == [0, 2]
        assert loads["source"].tolist() == ["service", "service"]
        other = good.set_column(2, "score", pa.array([1.0]))
        refused = writer.append("responses", other)
        assert [(p.column, p.rule.split(";")[0]) for p in refused.problems] == [
            ("response_id", "response_id already loaded with different values")
        ]


def test_what_also_writes_fails_with_the_batch(tmp_path):
    good = pa.table({k: v[:1] for k, v in ROWS.items()})
    with rox.open(str(tmp_path / "d.duckdb")) as ws:
        writer = BatchWriter(ws)

        def broken(con, load_id, skipped):
            raise RuntimeError("disk on fire")

        with pytest.raises(RuntimeError, match="disk on fire"):
            writer.append("responses", good, also=broken)
        assert ws.count("responses") == 0
        assert ws.count("rox_loads") == 0
        assert writer.append("responses", good).load_id == 1  # the number was not used


def test_only_a_writable_duckdb_workspace(tmp_path):
    path = tmp_path / "e.duckdb"
    rox.open(str(path)).close()
    with rox.open(str(path), read_only=True) as ws, pytest.raises(WorkspaceError):
        BatchWriter(ws)


def test_batches_continue_the_recorded_order(tmp_path):
    """Events posted in batches keep their order (#21): each batch's rows after every row already
    stored, in their order in the batch, after a file load too; a batch that fails numbers
    nothing."""
    events = {"customer_id": ["c1", "c1"], "ts": ["2026-05-01T10:00:00Z"] * 2}
    with rox.open(str(tmp_path / "e.duckdb")) as ws:
        ws.ingest("events", pa.table({**events, "step": ["a", "b"]}))  # _seq 1, 2
        writer = BatchWriter(ws)
        writer.append("events", pa.table({**events, "step": ["c", "d"]}))  # 3, 4
        bad = writer.append("events", pa.table({**events, "step": ["x", None]}))
        assert bad.problems  # refused: no numbers used
        writer.append("events", pa.table({**events, "step": ["e", "f"]}))  # 5, 6
        got = ws.table("events").order_by("_seq").execute()
        assert got["step"].tolist() == ["a", "b", "c", "d", "e", "f"]
        assert got["_seq"].tolist() == [1, 2, 3, 4, 5, 6]
        pairs = rox.journey.journey_map(ws).frame[["source", "target"]].values.tolist()
        assert sorted(pairs) == [["a", "b"], ["b", "c"], ["c", "d"], ["d", "e"], ["e", "f"]]


def test_a_batch_has_personal_data_redacted_before_it_is_stored(tmp_path):
    """The service's rows are redacted as a file's are (#18): no original is kept."""
    row = {k: v[:1] for k, v in ROWS.items()}
    row["comment"] = ["write to mario.rossi@example.com, thanks Mario"]
    with rox.open(str(tmp_path / "r.duckdb")) as ws:
        BatchWriter(ws).append("responses", pa.table(row))
        (stored,) = ws.table("responses").execute()["comment"].tolist()
        assert "@" not in stored and "[EMAIL]" in stored
        assert "comment_original" not in ws.table("responses").columns


def _good(ids: list[str]) -> pa.Table:
    """Responses as the service sends them: every canonical column (plain: rox.ingest.plain)."""
    given = {"ts": "2026-05-01T10:00:00Z", "metric": "nps", "score": 9.0}
    return pa.table({
        c.name: pa.array(ids if c.name == "response_id" else [given.get(c.name)] * len(ids),
                         pa.float64() if c.dtype == "float64" else pa.string())
        for c in TABLES["responses"].columns
    })  # fmt: skip


def _replacements(ws) -> bool:
    (on,) = ws.backend.con.execute(
        "SELECT current_setting('python_enable_replacements')"
    ).fetchone()
    return bool(on)


def test_look_runs_with_a_batch_of_new_keys_and_its_row_reaches_also(tmp_path):
    # (#19) a batch none of whose keys is stored is written, and look's query run, in one call
    with rox.open(str(tmp_path / "look.duckdb")) as ws:
        writer = BatchWriter(ws)
        asked, seen = [], []

        def look(table, load_id):
            asked.append((table, load_id))
            return f"SELECT count(*), min(response_id) FROM responses WHERE _load_id = {load_id}"

        def also(con, load_id, skipped, **kw):
            seen.append((load_id, kw))

        writer.append("responses", _good(["a"]), also=also, look=look)  # order not known yet
        writer.append("responses", _good(["b", "c", "d"]), also=also, look=look)
        writer.append("responses", _good(["d", "e"]), also=also, look=look)  # d is stored
        assert asked == [("responses", 2)]
        assert seen == [(1, {}), (2, {"looked": Looked((3, "b"))}), (3, {})]
        assert sorted(ws.table("responses").execute()["response_id"]) == ["a", "b", "c", "d", "e"]
        assert not _replacements(ws)  # as Ibis keeps its connection


def test_a_failed_batch_of_new_keys_leaves_replacement_scans_off(tmp_path):
    with rox.open(str(tmp_path / "off.duckdb")) as ws:
        writer = BatchWriter(ws)
        writer.append("responses", _good(["a"]))
        ws.backend.con.execute("ALTER TABLE responses DROP COLUMN channel")  # the insert fails
        with pytest.raises(Exception, match="channel"):
            writer.append("responses", _good(["b"]))
        assert not _replacements(ws)
        assert ws.count("responses") == 1
        assert ws.count("rox_loads") == 1


def test_a_view_left_registered_never_stands_in_for_a_batch_read_in_place(tmp_path):
    with rox.open(str(tmp_path / "stale.duckdb")) as ws:
        writer = BatchWriter(ws)
        writer.append("responses", _good(["a"]))
        ws.backend.con.register("_rox_plain", _good(["stale"]))  # as if never unregistered
        writer.append("responses", _good(["b"]))  # all new: read in place
        assert sorted(ws.table("responses").execute()["response_id"]) == ["a", "b"]
