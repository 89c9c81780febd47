"""The journey index refreshed one load at a time equals the index built in full (#19)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pandas as pd
import pyarrow as pa
import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

import rox
import rox.journey.index as journey_index
from rox.ingest.batch import BatchWriter
from rox.journey import JourneyQuery, build_index, index_info, journey_map, variants
from rox.journey.index import refresh_index
from rox.testing import insert_rows, journey_index_tables

T0 = datetime(2024, 1, 1, tzinfo=UTC)

#: Journey definitions whose refresh differs: by name (some names shared by two customers), by
#: an inactivity gap (a late event joins or splits a customer's journeys), cleaned and cut.
QUERIES = {
    "names": JourneyQuery(),
    "gap": JourneyQuery(gap="2h"),
    "gap cut": JourneyQuery(gap="3h", start="visit", end="buy", collapse=True),
    "cleaned": JourneyQuery(merge={"^q": "quote"}, exclude=["survey"], journey="j"),
}

# few customers, names, steps and hours: journeys meet, events tie, batches come late
EVENT = st.tuples(
    st.sampled_from(["a", "b", "c"]),
    st.integers(0, 12),  # hours after T0
    st.sampled_from(["visit", "quote", "qualify", "buy", "survey"]),
    st.sampled_from([None, "j1", "j2"]),
)
LOG = st.lists(EVENT, min_size=1, max_size=8)
BATCHES = st.lists(st.lists(EVENT, min_size=1, max_size=5), min_size=1, max_size=3)


def _frame(rows: list[tuple[str, int, str, str | None]]) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": [r[0] for r in rows],
            "ts": [T0 + timedelta(hours=r[1]) for r in rows],
            "step": [r[2] for r in rows],
            "journey": [r[3] for r in rows],
            "channel": ["web" if r[1] % 2 else "store" for r in rows],
        }
    )


def _arrow(rows: list[tuple[str, int, str, str | None]]) -> pa.Table:
    frame = _frame(rows).assign(ts=lambda f: f["ts"].map(datetime.isoformat))
    return pa.Table.from_pandas(frame, preserve_index=False).cast(
        pa.schema([(c, pa.string()) for c in frame.columns])
    )


@pytest.fixture
def incremental(monkeypatch):
    """Every load refreshes the touched journeys (however many); full builds are counted."""
    monkeypatch.setattr(journey_index, "FULL_SHARE", 1.0)
    builds = []
    real = journey_index.build_index

    def counted(*args, **kwargs):
        builds.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(journey_index, "build_index", counted)
    return builds


def _assert_same_tables(ws: rox.Workspace) -> None:
    refreshed = journey_index_tables(ws)
    build_index(ws, index_info(ws).query)
    built = journey_index_tables(ws)
    for role, frame in built.items():
        pd.testing.assert_frame_equal(refreshed[role], frame, obj=role)


@pytest.mark.slow  # 25-35 s per definition on the shared machine (CI runs it)
@pytest.mark.parametrize("name", list(QUERIES))
@settings(
    max_examples=10,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # shrinking a failure takes minutes
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(log=LOG, batches=BATCHES)
def test_refreshes_equal_a_full_build(incremental, name, log, batches):
    """Batches posted as the service does (BatchWriter), each refreshing the index."""
    query = QUERIES[name]
    with rox.open("duckdb://:memory:") as ws:
        writer = BatchWriter(ws)
        writer.append("events", _arrow(log))
        build_index(ws, query)
        incremental.clear()
        for batch in batches:
            writer.append("events", _arrow(batch))
            info = index_info(ws)
            assert info is not None and info.fresh
        assert incremental == []  # every batch was refreshed, none rebuilt
        _assert_same_tables(ws)


def test_a_late_event_reorders_its_journey_and_leaves_the_others(incremental):
    with rox.open("duckdb://:memory:") as ws:
        ws.ingest("events", _frame([("a", 0, "visit", None), ("a", 2, "buy", None),
                                    ("b", 1, "visit", None)]))  # fmt: skip
        build_index(ws)
        numbers = journey_index_tables(ws)["summary"].set_index("journey")["journey_id"]
        before = ws.table("rox_journey_summary").execute().set_index("journey")["journey_id"]
        ws.ingest("events", _frame([("a", 1, "quote", None), ("c", 0, "visit", None)]))
        assert incremental == []
        after = ws.table("rox_journey_summary").execute().set_index("journey")["journey_id"]
        # a and b keep their numbers; the new journey c is numbered after the last
        assert after["a"] == before["a"] and after["b"] == before["b"]
        assert after["c"] == before.max() + 1 and len(numbers) == 2
        edges = journey_map(ws).frame
        assert set(zip(edges.source, edges.target, edges.transitions, strict=True)) == {
            ("visit", "quote", 1),
            ("quote", "buy", 1),
        }
        assert variants(ws, top=None).frame.set_index("path")["journeys"].to_dict() == {
            "visit": 2,
            "visit > quote > buy": 1,
        }
        _assert_same_tables(ws)


def test_a_late_event_joins_two_journeys_split_by_a_gap(incremental):
    with rox.open("duckdb://:memory:") as ws:
        ws.ingest("events", _frame([("a", 0, "visit", None), ("a", 4, "buy", None)]))
        build_index(ws, gap="3h")
        assert journey_map(ws, gap="3h").journeys == 2
        ws.ingest("events", _frame([("a", 2, "quote", None)]))  # 2 h from each: one journey
        assert incremental == [] and journey_map(ws, gap="3h").journeys == 1
        assert variants(ws, gap="3h", top=None).frame["path"].tolist() == ["visit > quote > buy"]
        _assert_same_tables(ws)


def test_a_refresh_that_cannot_be_exact_builds_in_full(incremental):
    with rox.open("duckdb://:memory:") as ws:
        ws.ingest("events", _frame([("a", 0, "visit", None)]))
        build_index(ws)
        incremental.clear()
        # rows written other than by a load: the new events are not those of the new loads
        insert_rows(ws, "events", _frame([("a", 1, "buy", None)]))
        ws.ingest("events", _frame([("b", 0, "visit", None)]))
        assert len(incremental) == 1 and index_info(ws).fresh
        assert journey_map(ws).frame["transitions"].tolist() == [1]


def test_a_large_load_builds_in_full(monkeypatch):
    """Above FULL_SHARE of the events, a full build; at it, a refresh (both sides)."""
    with rox.open("duckdb://:memory:") as ws:
        ws.ingest("events", _frame([("a", h, "visit", None) for h in range(8)]))
        build_index(ws)
        calls = []
        real = journey_index.refresh_journeys
        monkeypatch.setattr(
            journey_index,
            "refresh_journeys",
            lambda *a, **k: calls.append(real(*a, **k)) or calls[-1],
        )
        ws.ingest("events", _frame([("b", 0, "visit", None), ("b", 1, "buy", None)]))
        assert calls[-1] is not None  # 2 of 10 events: exactly FULL_SHARE, refreshed
        ws.ingest("events", _frame([("c", h, "visit", None) for h in range(3)]))
        assert calls[-1] is None  # 3 of 13 events: above, built in full
        assert index_info(ws).fresh
        assert refresh_index(ws, full=True).fresh


def test_an_index_of_an_earlier_rox_is_built_in_full(incremental):
    """An index whose summary names no journey (before #19) cannot be refreshed: built anew."""
    with rox.open("duckdb://:memory:") as ws:
        ws.ingest("events", _frame([("a", 0, "visit", None)]))
        build_index(ws)
        summary = ws.table("rox_journey_summary")
        ws.engine.replace_table("rox_journey_summary", summary.drop("journey"))
        incremental.clear()
        ws.ingest("events", _frame([("a", 1, "buy", None)]))
        assert len(incremental) == 1 and index_info(ws).fresh
        assert "journey" in ws.table("rox_journey_summary").columns
        assert journey_map(ws).frame["transitions"].tolist() == [1]


def test_an_index_keyed_by_an_earlier_rox_is_built_in_full(incremental):
    """Variant keys hashed otherwise (before #21 §2: the text ``step@seq``) are not mixed.

    The index's record names the query with this rox's key; an index whose key is not (its
    variants keyed by the earlier hash) is rebuilt after a load: refreshed, the new journey's
    variant would get a key of its own, beside the old journeys' of the same path.
    """
    with rox.open("duckdb://:memory:") as ws:
        ws.ingest("events", _frame([("a", 0, "visit", None), ("a", 1, "buy", None),
                                    ("b", 0, "visit", None), ("b", 1, "buy", None)]))  # fmt: skip
        build_index(ws)
        con = ws.backend.con
        earlier = json.loads(con.execute("SELECT query FROM rox_journey_index").fetchone()[0])
        del earlier["variant_key"]
        con.execute("UPDATE rox_journey_index SET query = ?", [json.dumps(earlier)])
        con.execute("UPDATE rox_journey_summary SET k1 = k1 + 1")  # the earlier keys differ
        con.execute("UPDATE rox_journey_variants SET k1 = k1 + 1")
        ws.forget()
        incremental.clear()
        ws.ingest("events", _frame([("c", 0, "visit", None), ("c", 1, "buy", None)]))
        assert len(incremental) == 1 and index_info(ws).fresh
        assert variants(ws, top=None).frame.set_index("path")["journeys"].to_dict() == {
            "visit > buy": 3
        }
        _assert_same_tables(ws)


def test_variant_keys_do_not_depend_on_the_codes_of_the_steps(incremental):
    """A step new to the index renumbers DuckDB's codes (ENUM) of the others: keys stay (#21)."""
    with rox.open("duckdb://:memory:") as ws:
        ws.ingest("events", _frame([("a", 0, "visit", None), ("a", 1, "quote", None),
                                    ("b", 0, "visit", None), ("b", 1, "quote", None)]))  # fmt: skip
        build_index(ws)
        before = ws.table("rox_journey_summary").execute().set_index("journey")[["k1", "k2"]]
        # "buy" sorts before both: every code moves; a (untouched) keeps its stored keys
        ws.ingest("events", _frame([("b", 2, "buy", None), ("c", 0, "visit", None),
                                    ("c", 1, "quote", None)]))  # fmt: skip
        assert incremental == []
        after = ws.table("rox_journey_summary").execute().set_index("journey")[["k1", "k2"]]
        expected = tuple(before.loc["a"])  # c's steps are a's: the same variant, the same keys
        assert [tuple(after.loc[j]) for j in ("a", "c")] == [expected, expected]
        assert variants(ws, top=None).frame.set_index("path")["journeys"].to_dict() == {
            "visit > quote": 2,
            "visit > quote > buy": 1,
        }
        _assert_same_tables(ws)
