"""``rox.ingest.stored_keys``: a batch of new keys is told apart without reading the table.

A hash held can only send a batch through the SQL key check; a stored key must never be missing
from the hashes, whichever path wrote it, or it would be stored twice.
"""

from __future__ import annotations

import duckdb
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

import rox
from rox.ingest import stored_keys
from rox.ingest.batch import BatchWriter
from rox.ingest.stored_keys import StoredKeys, key_hashes
from rox.schema import table_spec

#: Any text DuckDB can hold (no lone surrogates)
TEXT = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)


def _row(key: str, ts: str = "2026-05-01T10:00:00Z", score: float = 9.0) -> pa.Table:
    """One response with every canonical column, as the service sends a batch."""
    names = table_spec("responses").names
    given_ = {"ts": ts, "metric": "nps", "score": score, "response_id": key}
    return pa.table({n: pa.array([given_.get(n)], _TYPES.get(n, pa.string())) for n in names})


_TYPES = {"score": pa.float64(), "weight": pa.float64()}


@settings(max_examples=200, deadline=None)
@given(st.lists(TEXT, min_size=1, max_size=5))
def test_the_hashes_are_duckdbs_md5_number_lower(keys):
    con = duckdb.connect()
    expected = [con.execute("SELECT md5_number_lower(?)", [k]).fetchone()[0] for k in keys]
    assert key_hashes(keys) == expected


def test_a_text_duckdb_cannot_hold_is_not_hashed():
    assert key_hashes(["a", "\ud800"]) is None


def test_held_hashes_from_the_table_the_recent_set_and_the_merge(monkeypatch):
    con = duckdb.connect()
    con.execute("CREATE TABLE t (_key VARCHAR)")
    con.execute("INSERT INTO t VALUES ('a'), ('b'), (NULL)")
    keys = StoredKeys(con, "t")
    (a, b, c, d, e) = key_hashes(["a", "b", "c", "d", "e"])
    assert len(keys) == 2  # (NULL holds nothing)
    assert keys.any_held([a]) and keys.any_held([c, b])
    assert not keys.any_held([c, d]) and not keys.any_held([])
    monkeypatch.setattr(stored_keys, "_MERGE_AT", 2)
    keys.add([c])  # in the recent set
    assert keys.any_held([c]) and not keys.any_held([d])
    keys.add([d])  # two recent: merged into the sorted array
    assert len(keys) == 4 and keys.any_held([d]) and keys.any_held([c])
    assert not keys.any_held([e])
    # a hash above every held one, and below every held one
    assert not keys.any_held([max(a, b, c, d) + 1]) and not keys.any_held([min(a, b, c, d) - 1])


def test_an_empty_table_holds_nothing():
    con = duckdb.connect()
    con.execute("CREATE TABLE t (_key VARCHAR)")
    keys = StoredKeys(con, "t")
    assert len(keys) == 0 and not keys.any_held(key_hashes(["a"]))


def test_a_key_stored_before_the_writer_started_is_skipped(tmp_path):
    with rox.open(str(tmp_path / "w.duckdb")) as ws:
        ws.ingest("responses", _row("old"))
        writer = BatchWriter(ws)
        result = writer.append("responses", pa.concat_tables([_row("new"), _row("old")]))
        assert result.skipped == frozenset({2})
        assert sorted(ws.table("responses").execute()["response_id"]) == ["new", "old"]


def test_a_key_written_by_the_rules_is_held_for_the_next_plain_batch(tmp_path):
    with rox.open(str(tmp_path / "w.duckdb")) as ws:
        writer = BatchWriter(ws)
        writer.append("responses", _row("first"))  # plain: the hashes are read
        assert "responses" in writer._stored
        # a date without a time is not plain: the rules type it (midnight, UTC)
        ruled = writer.append("responses", _row("x", ts="2026-05-01"))
        assert ruled.load_id == 2 and not ruled.skipped
        again = writer.append("responses", _row("x", ts="2026-05-01T00:00:00Z"))  # plain
        assert again.skipped == frozenset({1})
        assert ws.count("responses") == 2
        other = writer.append("responses", _row("x", ts="2026-05-01T00:00:00Z", score=3.0))
        assert [p.column for p in other.problems] == ["response_id"]
        assert ws.count("responses") == 2


def test_a_plain_batch_held_after_its_commit(tmp_path):
    with rox.open(str(tmp_path / "w.duckdb")) as ws:
        writer = BatchWriter(ws)
        writer.append("responses", _row("a"))
        writer.append("responses", _row("b"))
        assert writer._stored["responses"].any_held(key_hashes(["b"]))
        assert writer.append("responses", _row("b")).skipped == frozenset({1})
        assert ws.count("responses") == 2


def test_an_erased_key_is_written_again_through_the_check(tmp_path):
    """A hash left by a deleted row only sends its key through the SQL check."""
    with rox.open(str(tmp_path / "w.duckdb")) as ws:
        writer = BatchWriter(ws)
        writer.append("responses", _row("gone"))
        writer.con.execute("DELETE FROM responses WHERE response_id = 'gone'")
        assert writer._stored["responses"].any_held(key_hashes(["gone"]))
        result = writer.append("responses", _row("gone", score=2.0))
        assert not result.problems and not result.skipped
        assert ws.table("responses").execute()["score"].tolist() == [2.0]
