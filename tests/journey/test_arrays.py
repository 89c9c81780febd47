"""The map and the variants on arrays (DuckDB) equal the engine's plan, ties and all (#21 §2).

The engine's plan is what prepared journeys run on (:func:`rox.journey.prepare`): the events
ordered by a window in the engine. Every comparison below is exact, floats to the bit.
"""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rox
from rox.journey import JourneyQuery, arrays, journey_map, prepare, variants
from rox.journey.arrays import SESSION_KEY, EventArrays, journeys_or_arrays, quantile_cont
from rox.testing import insert_rows

T0 = pd.Timestamp("2024-03-01 09:00", tz="UTC")


def _at(hours: float, us: int = 0) -> pd.Timestamp:
    return T0 + pd.Timedelta(hours, "h") + pd.Timedelta(us, "us")


#: Ties first (a: visit, login), in the middle (b: zoom, browse), last and three-way (a: cart,
#: pay, confirm), and across the two loads (b: pay, then exit; a: browse, then apply). Recorded in
#: an order the steps' names reverse; times with microseconds, durations of fractional seconds.
FIRST = pd.DataFrame(
    [
        ("a", _at(0), "visit"),
        ("a", _at(0), "login"),
        ("b", _at(0, 7), "land"),
        ("a", _at(1, 3), "browse"),
        ("b", _at(1.5), "zoom"),
        ("b", _at(1.5), "browse"),
        ("a", _at(2, 999_999), "cart"),
        ("a", _at(2, 999_999), "pay"),
        ("a", _at(2, 999_999), "confirm"),
        ("b", _at(3, 1), "pay"),
        ("c", _at(0), "visit"),
        ("c", _at(0.25, 5), "login"),
    ],
    columns=["customer_id", "ts", "step"],
)
SECOND = pd.DataFrame(
    [("b", _at(3, 1), "exit"), ("a", _at(1, 3), "apply"), ("c", _at(0.5), "visit")],
    columns=["customer_id", "ts", "step"],
)


@pytest.fixture(scope="module")
def tied() -> rox.Workspace:
    ws = rox.open("duckdb://:memory:")
    ws.ingest("events", FIRST)
    ws.ingest("events", SECOND)
    return ws


def _assert_same(ws: rox.Workspace, tops: tuple[int | None, ...] = (None,)) -> None:
    """The map and the variants from arrays equal those of the engine's ordering, exactly."""
    ws.forget()
    assert isinstance(journeys_or_arrays(ws, None, {}), EventArrays)
    result = journey_map(ws)
    with prepare(ws) as engine:
        expected = journey_map(engine)
        for name in ("frame", "starts", "ends"):
            pd.testing.assert_frame_equal(
                getattr(result, name), getattr(expected, name), check_exact=True
            )
        assert (result.journeys, result.events) == (expected.journeys, expected.events)
        assert result.ties == expected.ties
        for top in tops:
            pd.testing.assert_frame_equal(
                variants(ws, top=top).frame, variants(engine, top=top).frame, check_exact=True
            )


def test_a_tied_log_maps_as_the_engine_orders_it(tied):
    m = journey_map(tied)
    f = m.frame
    got = {(s, t): int(n) for s, t, n in zip(f.source, f.target, f.transitions, strict=True)}
    assert got == {
        ("visit", "login"): 2,  # a (tied, in the recorded order) and c
        ("login", "browse"): 1,
        ("browse", "apply"): 1,  # a tie across loads
        ("apply", "cart"): 1,
        ("cart", "pay"): 1,  # the three-way tie
        ("pay", "confirm"): 1,
        ("land", "zoom"): 1,
        ("zoom", "browse"): 1,
        ("browse", "pay"): 1,
        ("pay", "exit"): 1,  # a tie across loads
        ("login", "visit"): 1,  # c: its second visit came later
    }
    assert (m.ties.tied, m.ties.total) == (6, 12)
    _assert_same(tied, tops=(None, 1, 2, 3))


def test_the_variants_cut_at_top_keep_the_lowest_journey_ids():
    # four variants of one journey each, and one of two: the cut at 3 keeps the two-journey
    # variant, then the two single ones whose journeys have the lowest ids (as text: "j10" < "j2")
    rows = [
        ("j9", ["x", "y"]),
        ("j2", ["y"]),
        ("j10", ["x"]),
        ("j3", ["x", "y"]),
        ("j5", ["y", "x"]),
        ("j1", ["z"]),
    ]
    frame = pd.DataFrame(
        [
            {"customer_id": "c", "journey": j, "ts": _at(i), "step": s}
            for j, steps in rows
            for i, s in enumerate(steps)
        ]
    )
    ws = rox.open("duckdb://:memory:")
    insert_rows(ws, "events", frame)
    v = variants(ws, top=3).frame
    assert v["path"].tolist() == ["x > y", "x", "z"]
    assert v["share"].tolist() == [2 / 6, 1 / 6, 1 / 6]  # of all journeys, not the kept
    _assert_same(ws, tops=(None, 1, 2, 3, 4, 5))


def test_long_journeys_are_told_apart_exactly():
    # more journeys than are numbered position by position, some long: equal, and differing in
    # their last step only, or in their length only
    rng = np.random.default_rng(21)
    base = list(rng.choice(["a", "b", "c"], size=150))
    journeys = {
        f"j{i:03d}": list(rng.choice(["a", "b"], size=int(rng.integers(1, 6)))) for i in range(80)
    }
    journeys |= {
        "long-1": base,
        "long-2": base,
        "long-3": [*base[:-1], "d"],
        "long-4": base[:-1],
        "long-5": [*base, "a"],
    }
    frame = pd.DataFrame(
        [
            {"customer_id": j, "journey": j, "ts": _at(i), "step": s}
            for j, steps in journeys.items()
            for i, s in enumerate(steps)
        ]
    )
    ws = rox.open("duckdb://:memory:")
    insert_rows(ws, "events", frame)
    v = variants(ws, top=None).frame.set_index("path")["journeys"]
    expected = pd.Series([" > ".join(s) for s in journeys.values()]).value_counts()
    assert v.sort_index().to_dict() == expected.sort_index().to_dict()
    assert v[" > ".join(base)] == 2
    _assert_same(ws)


def test_quantiles_interpolate_as_duckdb():
    rng = np.random.default_rng(7)
    values = rng.exponential(3_600.0, size=2_000) * rng.choice([1e-3, 1.0, 1e3], size=2_000)
    groups = rng.integers(0, 40, size=2_000)
    groups[groups == 13] = 12  # an empty group
    con = duckdb.connect()
    frame = pd.DataFrame({"v": values, "g": groups})  # noqa: F841 (read by DuckDB)
    for q in (0.5, 0.9, 0.25):
        expected = (
            con.execute(f"select g, quantile_cont(v, {q}) from frame group by g order by g")
            .df()
            .to_numpy()
        )
        (result,) = quantile_cont(values, groups, 40, (q,))
        assert np.isnan(result[13])
        np.testing.assert_array_equal(result[expected[:, 0].astype(int)], expected[:, 1])


def test_only_whole_journeys_of_a_local_workspace_take_arrays(tied, monkeypatch):
    assert isinstance(journeys_or_arrays(tied, None, {"exclude": ["x"]}), EventArrays)
    for options in ({"gap": "30min"}, {"start": "login"}, {"end": "pay"}, {"collapse": True}):
        assert not isinstance(journeys_or_arrays(tied, None, options), EventArrays)
    with prepare(tied) as prepared:
        assert journeys_or_arrays(prepared, None, {}) is prepared
    # more events than the arrays are measured to pay for: the engine orders them
    monkeypatch.setattr(arrays, "MAX_EVENTS", tied.count("events") - 1)
    tied.forget()
    assert not isinstance(journeys_or_arrays(tied, None, {}), EventArrays)
    monkeypatch.undo()
    # the options the arrays take are those of the rows kept: the same as the engine's
    _assert_same_query(tied, JourneyQuery(exclude=["pay"], merge={"^log": "signin"}))
    _assert_same_query(tied, JourneyQuery(since="2024-03-01 09:30", until="2024-03-01 12:00"))


def _assert_same_query(ws: rox.Workspace, query: JourneyQuery) -> None:
    ws.forget()
    result = journey_map(ws, query)
    with prepare(ws, query) as engine:
        pd.testing.assert_frame_equal(result.frame, journey_map(engine).frame, check_exact=True)
        pd.testing.assert_frame_equal(
            variants(ws, query, top=None).frame, variants(engine, top=None).frame
        )


def test_the_session_keeps_the_arrays_while_the_events_stay(tmp_path):
    ws_file = rox.open(tmp_path / "ws.duckdb")
    ws_file.ingest("events", FIRST)
    first = journey_map(ws_file)
    kept = ws_file.session[SESSION_KEY].arrays
    variants(ws_file)
    assert ws_file.session[SESSION_KEY].arrays is kept  # the variants fetched nothing
    ws_file.ingest("events", SECOND)
    assert SESSION_KEY not in ws_file.session  # a load forgets them
    assert journey_map(ws_file).events == first.events + 3
    # rows appended by another connection are seen
    with rox.open(tmp_path / "ws.duckdb") as other:
        insert_rows(other, "events", SECOND.assign(customer_id="d"))
    assert journey_map(ws_file).events == first.events + 6


def test_a_prepared_or_indexed_ordering_is_used_as_it_is(ws_file):
    ws_file.ingest("events", FIRST)
    with prepare(ws_file) as prepared:
        assert journeys_or_arrays(prepared, None, {}) is prepared
    rox.journey.build_index(ws_file)
    assert journeys_or_arrays(ws_file, None, {}).indexed


# -- property: any log, both ways the same -----------------------------------------------------
_rows = st.lists(
    st.tuples(
        st.sampled_from(["u", "v", "w"]),  # customer
        st.sampled_from([None, "p", "q"]),  # journey (None: the customer's history)
        st.integers(0, 3),  # hour: many ties
        st.sampled_from([0, 1, 500_000]),  # microseconds
        st.sampled_from(["a", "b", "c", "d"]),  # step
    ),
    min_size=1,
    max_size=50,
)


@settings(max_examples=30, deadline=None)
@given(rows=_rows, seed=st.integers(0, 2**16), cut=st.integers(1, 2))
def test_any_log_gives_the_same_map_and_variants_both_ways(rows, seed, cut):
    frame = pd.DataFrame(rows, columns=["customer_id", "journey", "hour", "us", "step"])
    frame["ts"] = [_at(h, us) for h, us in zip(frame["hour"], frame["us"], strict=True)]
    # the recorded order, any permutation of the rows (ties follow it), in one or two loads
    frame["_seq"] = np.random.default_rng(seed).permutation(len(frame)) + 1
    ws = rox.open("duckdb://:memory:")
    columns = ["customer_id", "journey", "ts", "step", "_seq"]
    half = len(frame) // cut
    for part in (frame[columns].iloc[:half], frame[columns].iloc[half:]):
        if len(part):
            insert_rows(ws, "events", part)
    _assert_same(ws, tops=(None, 1, 3))
