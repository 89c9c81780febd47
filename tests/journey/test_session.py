"""The journeys a workspace's session keeps: ordered once for several analyses, never stale (#21).

Expected values are counted by hand from the few events of each test.
"""

from __future__ import annotations

import duckdb
import pandas as pd
import pytest

import rox
from rox.engines.duckdb import DuckDBEngine
from rox.journey import JourneyQuery, funnel, journey_map, paths, prepare, variants
from rox.journey.events import SESSION_KEY, session_journeys
from rox.testing import insert_rows

FIRST = [
    ("a", "2024-01-01 10:00", "visit", "a-1"),
    ("a", "2024-01-01 12:00", "buy", "a-1"),
    ("b", "2024-01-02 09:00", "visit", "b-1"),
    ("b", "2024-01-02 09:30", "quote", "b-1"),
]
#: a late event of a-1 between its two, and a new journey
LATE = [("a", "2024-01-01 11:00", "quote", "a-1"), ("c", "2024-01-03 08:00", "visit", "c-1")]


def _events(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["customer_id", "ts", "step", "journey"])


def _edges(ws) -> dict[tuple[str, str], int]:
    m = journey_map(ws).frame
    return {(s, t): int(n) for s, t, n in zip(m.source, m.target, m.transitions, strict=True)}


def _variants(ws) -> dict[str, int]:
    return variants(ws, top=None).frame.set_index("path")["journeys"].to_dict()


def _exists(journeys) -> bool:
    try:
        journeys.events.count().execute()
    except duckdb.CatalogException:
        return False
    return True


@pytest.fixture(autouse=True)
def ordered_by_the_engine(monkeypatch):
    # the map and the variants order the events in the engine here, as on every engine not in
    # this process: on DuckDB they take arrays (#21 §2; their session: tests/journey/test_arrays)
    monkeypatch.setattr(DuckDBEngine, "in_process", False)


BEFORE = {("visit", "buy"): 1, ("visit", "quote"): 1}
AFTER = {("visit", "quote"): 2, ("quote", "buy"): 1}


def test_analyses_of_the_same_journeys_order_the_events_once(ws_file, monkeypatch):
    ws_file.ingest("events", _events(FIRST))
    orderings = []
    events = JourneyQuery.events

    def counted(self, ws):
        orderings.append(self)
        return events(self, ws)

    monkeypatch.setattr(JourneyQuery, "events", counted)
    assert _edges(ws_file) == BEFORE
    assert _variants(ws_file) == {"visit > buy": 1, "visit > quote": 1}
    f = funnel(ws_file, ["visit", "quote"], window="1D").frame
    assert f["journeys"].tolist() == [2, 1]
    assert paths(ws_file, "visit").frame.set_index("path")["journeys"].to_dict() == {
        "visit > buy": 1,
        "visit > quote": 1,
    }
    assert orderings == [JourneyQuery()]  # once for the four analyses
    kept = ws_file.session[SESSION_KEY].journeys
    assert session_journeys(ws_file, JourneyQuery()) is kept
    # the same query spelled by options is the same journeys
    assert session_journeys(ws_file, JourneyQuery.resolve(None, {"collapse": False})) is kept


def test_a_load_after_the_ordering_is_seen(ws_file):
    ws_file.ingest("events", _events(FIRST))
    assert _edges(ws_file) == BEFORE
    kept = ws_file.session[SESSION_KEY].journeys
    ws_file.ingest("events", _events(LATE))
    assert SESSION_KEY not in ws_file.session and not _exists(kept)  # dropped by the write
    assert _edges(ws_file) == AFTER
    assert _variants(ws_file) == {"visit > quote > buy": 1, "visit > quote": 1, "visit": 1}


def test_rows_written_by_another_connection_are_seen(tmp_path):
    path = tmp_path / "ws.duckdb"
    with rox.open(path) as ws:
        ws.ingest("events", _events(FIRST))
        assert _edges(ws) == BEFORE
        # another workspace on the same database loads, and only it knows
        with rox.open(path) as other:
            other.ingest("events", _events(LATE))
        assert SESSION_KEY in ws.session
        assert _edges(ws) == AFTER
        # rows appended without a load change the number of events
        with rox.open(path) as other:
            insert_rows(other, "events", _events([("d", "2024-01-04 08:00", "visit", "d-1")]))
        assert _variants(ws) == {
            "visit": 2,
            "visit > quote": 1,
            "visit > quote > buy": 1,
        }


def test_a_held_preparation_keeps_its_events_and_a_new_one_sees_the_load(ws_file):
    ws_file.ingest("events", _events(FIRST))
    before = prepare(ws_file)
    ws_file.ingest("events", _events(LATE))
    after = prepare(ws_file)
    assert _edges(after) == AFTER  # not the copy of the same query still held
    assert _edges(before) == BEFORE  # prepared journeys hold the events as they were
    before.release()
    assert _exists(after) and not _exists(before)
    after.release()
    after.release()  # a second release does nothing


def test_one_query_is_kept_at_a_time(ws_file):
    ws_file.ingest("events", _events(FIRST + LATE))
    assert _edges(ws_file) == AFTER
    first = ws_file.session[SESSION_KEY].journeys
    m = journey_map(ws_file, journey="a-").frame
    assert m["transitions"].tolist() == [1, 1]  # a-1 only: visit > quote > buy
    assert not _exists(first)  # replaced, and released
    second = ws_file.session[SESSION_KEY].journeys
    assert second.query == JourneyQuery(journey="a-") and _exists(second)


def test_forget_and_close_release_what_the_session_keeps(ws_file, tmp_path):
    ws_file.ingest("events", _events(FIRST))
    journey_map(ws_file)
    kept = ws_file.session[SESSION_KEY].journeys
    ws_file.forget()
    assert ws_file.session == {} and not _exists(kept)
    assert _edges(ws_file) == BEFORE  # ordered again
    ws = rox.open(tmp_path / "other.duckdb")
    ws.ingest("events", _events(FIRST))
    journey_map(ws)
    kept = ws.session[SESSION_KEY].journeys
    ws.close()
    assert ws.session == {} and kept.released


def test_the_index_is_preferred_to_the_session(ws_file):
    ws_file.ingest("events", _events(FIRST))
    assert not session_journeys(ws_file, JourneyQuery()).indexed
    rox.journey.build_index(ws_file)
    assert session_journeys(ws_file, JourneyQuery()).indexed
    assert _edges(ws_file) == BEFORE
