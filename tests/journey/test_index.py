"""The journey index: same results as computing the journeys, kept fresh by loads, never stale."""

from __future__ import annotations

import shutil
import warnings
from datetime import timedelta

import pandas as pd
import pytest

import rox
from rox.errors import WorkspaceError
from rox.journey import (
    JourneyIndexWarning,
    JourneyQuery,
    audit,
    build_index,
    channel_switching,
    drop_index,
    friction,
    funnel,
    index_info,
    journey_map,
    paths,
    prepare,
    variants,
)
from rox.journey.maps import variant_table
from rox.testing import insert_rows

STEPS = ["configurator", "test_drive_booking", "quote", "financing", "purchase"]

ANALYSES = {
    "map": journey_map,
    "map top 10": lambda ws: journey_map(ws, top=10),
    "variants": lambda ws: variants(ws, top=None),
    "variants top 7": lambda ws: variants(ws, top=7),
    "paths": lambda ws: paths(ws, "quote", direction="before"),
    "funnel": lambda ws: funnel(ws, STEPS, window="180D", by="channel"),
    "funnel strict": lambda ws: funnel(ws, STEPS[:2], mode="strict", window="7D"),
    "friction": lambda ws: friction(ws, goal="purchase"),
    "channels": channel_switching,
    "audit": lambda ws: audit(ws, "purchase", goal="purchase"),
}


def _frames(result) -> list[pd.DataFrame]:
    return [v for v in vars(result).values() if isinstance(v, pd.DataFrame)]


def _assert_same(a, b, name: str) -> None:
    fa, fb = _frames(a), _frames(b)
    assert len(fa) == len(fb) and fa, name
    for x, y in zip(fa, fb, strict=True):
        pd.testing.assert_frame_equal(x, y, obj=name)
    if hasattr(a, "findings"):
        assert a.findings == b.findings


@pytest.fixture
def demo_copy(demo_path, tmp_path):
    """A writable copy of the session's demo workspace (built with its journey index)."""
    path = tmp_path / "demo.duckdb"
    shutil.copy(demo_path, path)
    with rox.open(path) as ws:
        yield ws


def test_the_demo_is_indexed_and_analyses_use_it(demo):
    info = index_info(demo)
    assert info is not None and info.fresh and info.query == JourneyQuery()
    assert info.events == demo.count("events")
    journeys = prepare(demo)
    assert journeys.indexed
    assert set(journeys.stored) == {"summary", "edges", "steps", "variants"}
    journeys.release()  # a no-op for the index
    assert prepare(demo).events.count().execute() == info.events
    # another query is computed, not read from the index
    assert not prepare(demo, journey="purchase").indexed
    assert index_info(demo, JourneyQuery(journey="purchase")) is None
    assert index_info(demo, JourneyQuery()).fresh


@pytest.mark.slow  # 26 s: every journey analysis twice on the demo (CI runs it)
def test_index_gives_the_same_results_as_computing(demo_copy):
    indexed = {name: run(demo_copy) for name, run in ANALYSES.items()}
    assert drop_index(demo_copy) is True
    assert index_info(demo_copy) is None and not prepare(demo_copy).indexed
    assert drop_index(demo_copy) is False
    for name, run in ANALYSES.items():
        _assert_same(indexed[name], run(demo_copy), name)


def test_an_index_without_spelled_variants_still_serves_them(demo_copy):
    """Indexes built before the variants were kept spelled out (with their examples only)."""
    spelled = variants(demo_copy, top=None)
    assert {"path", "rank", "total"} <= set(prepare(demo_copy).stored["variants"].columns)
    demo_copy.engine.replace_table("rox_journey_variants", variant_table(prepare(demo_copy)))
    journeys = prepare(demo_copy)
    assert journeys.indexed and "path" not in journeys.stored["variants"].columns
    _assert_same(variants(demo_copy, top=None), spelled, "variants from examples")
    computed = variants(demo_copy, JourneyQuery(since="1900-01-01"), top=7)  # not the index's
    _assert_same(variants(demo_copy, top=7), computed, "top 7")


def test_index_of_another_query(demo_copy):
    query = JourneyQuery(gap="14D", exclude=["survey"], merge={"^service": "service"})
    computed = journey_map(demo_copy, query)
    build_index(
        demo_copy, gap=timedelta(days=14), merge={"^service": "service"}, exclude=("survey",)
    )
    assert index_info(demo_copy).query.key() == query.key()
    assert prepare(demo_copy, query).indexed and not prepare(demo_copy).indexed
    _assert_same(journey_map(demo_copy, query), computed, "gap map")


def _events(rows: list[tuple[str, str, str, str]]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=["customer_id", "ts", "step", "journey"])


def test_loads_refresh_the_index(ws_file):
    ws_file.ingest(
        "events",
        _events([("a", "2024-01-01 10:00", "visit", "a-1"), ("a", "2024-01-01 12:00", "buy", "a-1"),
                 ("b", "2024-01-02 09:00", "visit", "b-1")]),
    )  # fmt: skip
    build_index(ws_file)
    first = index_info(ws_file)
    assert first.fresh and first.through_load == 1 and first.events == 3
    # a late event that goes between two of a's, and a new journey
    report = ws_file.ingest(
        "events",
        _events([("a", "2024-01-01 11:00", "quote", "a-1"),
                 ("c", "2024-01-03 08:00", "visit", "c-1")]),
    )  # fmt: skip
    info = index_info(ws_file)
    assert info.fresh and info.through_load == report.load_id == 2 and info.events == 5
    assert info.built_at >= first.built_at
    assert prepare(ws_file).indexed
    m = journey_map(ws_file).frame
    assert set(zip(m.source, m.target, m.transitions, strict=True)) == {
        ("visit", "quote", 1),
        ("quote", "buy", 1),
    }
    assert variants(ws_file, top=None).frame.set_index("path")["journeys"].to_dict() == {
        "visit": 2,
        "visit > quote > buy": 1,
    }
    # a load that adds nothing (the same rows again) leaves the journeys as they were, and the
    # index fresh: it includes that load (it was stale after it before #19)
    again = ws_file.ingest("events", _events([("c", "2024-01-03 08:00", "visit", "c-1")]))
    after = index_info(ws_file)
    assert after.fresh and after.through_load == again.load_id == 3 and after.events == 5
    assert prepare(ws_file).indexed


def test_a_stale_index_is_not_used(ws_file):
    ws_file.ingest("events", _events([("a", "2024-01-01 10:00", "visit", "a-1")]))
    build_index(ws_file)
    # rows appended without a load: the index no longer matches the events
    insert_rows(ws_file, "events", _events([("a", "2024-01-01 11:00", "buy", "a-1")]))
    assert not index_info(ws_file).fresh
    with pytest.warns(JourneyIndexWarning, match="no longer matches the events"):
        journeys = prepare(ws_file)
    assert not journeys.indexed
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", JourneyIndexWarning)
        assert journey_map(ws_file).frame["transitions"].tolist() == [1]
    build_index(ws_file)
    assert index_info(ws_file).fresh and prepare(ws_file).indexed


def test_a_failed_refresh_keeps_the_load_and_drops_the_index(ws_file, monkeypatch):
    ws_file.ingest("events", _events([("a", "2024-01-01 10:00", "visit", "a-1")]))
    build_index(ws_file)

    def broken(ws, query=None, **options):
        raise RuntimeError("disk full")

    monkeypatch.setattr(rox.journey.index, "build_index", broken)
    with pytest.warns(JourneyIndexWarning, match="disk full"):
        ws_file.ingest("events", _events([("a", "2024-01-01 11:00", "buy", "a-1")]))
    assert ws_file.count("events") == 2
    assert index_info(ws_file) is None
    assert journey_map(ws_file).frame["transitions"].tolist() == [1]


def test_building_needs_a_writable_workspace(demo):
    with pytest.raises(WorkspaceError, match="read-only"):
        build_index(demo)


@pytest.mark.parametrize(
    "query",
    [
        JourneyQuery(),
        JourneyQuery(journey="purchase", collapse=True),
        JourneyQuery(gap="30min", start="visit", end="buy"),
        JourneyQuery(merge={"^a": "x", "^b": "y"}, exclude=["c", "b"]),
        JourneyQuery(since="2024-01-01", until=pd.Timestamp("2024-06-01", tz="Europe/Paris")),
    ],
)
def test_query_keys_round_trip(query):
    again = JourneyQuery.from_key(query.key())
    assert again.key() == query.key()


def test_query_keys_name_the_same_journeys_alike():
    assert JourneyQuery(gap="1h").key() == JourneyQuery(gap=timedelta(minutes=60)).key()
    assert JourneyQuery(exclude=["b", "a"]).key() == JourneyQuery(exclude=("a", "b")).key()
    assert JourneyQuery(since="2024-01-01").key() == JourneyQuery(since="2024-01-01T00:00Z").key()
    # merge rules apply in order: the first that matches wins
    assert (
        JourneyQuery(merge={"^a": "x", "^ab": "y"}).key()
        != JourneyQuery(merge={"^ab": "y", "^a": "x"}).key()
    )
    assert JourneyQuery(collapse=True).key() != JourneyQuery().key()


def test_the_workspace_knows_every_table_of_the_index():
    from rox.journey.index import EVENTS, REGISTRY, TABLES
    from rox.schema import DERIVED_TABLES

    assert set(DERIVED_TABLES) == {REGISTRY, EVENTS, *TABLES.values()}
