"""Events tied in time keep the order in which they were recorded (#21).

Every expected value below is written by hand from the log as listed: each journey read in the
order of its rows (then of its loads), never from rox's output.
"""

from __future__ import annotations

import itertools

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import rox
from rox import journey
from rox.errors import MappingError
from rox.journey.events import time_ties
from rox.testing import run_cli

T0, T1, T2 = "2024-03-01 09:00:00", "2024-03-01 10:00:00", "2024-03-01 11:00:00"

#: First load. Customer a: a tie at its first events (visit, login), one that the second load
#: completes (browse, then apply from load 2) and a three-way tie at its last events (cart, pay,
#: confirm). Customer b: a tie in the middle (zoom, browse) and one across loads (pay, then exit).
#: Every tie is recorded in an order that the steps' names (the order used before #21) reverse.
FIRST = pd.DataFrame(
    [
        ("a", T0, "visit"),
        ("a", T0, "login"),
        ("b", T0, "land"),
        ("a", T1, "browse"),
        ("b", T1, "zoom"),
        ("b", T1, "browse"),
        ("a", T2, "cart"),
        ("a", T2, "pay"),
        ("a", T2, "confirm"),
        ("b", T2, "pay"),
    ],
    columns=["customer_id", "ts", "step"],
)
SECOND = pd.DataFrame(
    [("b", T2, "exit"), ("a", T1, "apply")], columns=["customer_id", "ts", "step"]
)
PATH_A = ["visit", "login", "browse", "apply", "cart", "pay", "confirm"]
PATH_B = ["land", "zoom", "browse", "pay", "exit"]


def _pairs(path: list[str]) -> list[tuple[str, str]]:
    return list(itertools.pairwise(path))


def _transitions(m: journey.JourneyMap) -> dict[tuple[str, str], int]:
    f = m.frame
    return {(s, t): int(n) for s, t, n in zip(f.source, f.target, f.transitions, strict=True)}


@pytest.fixture(scope="module")
def tied() -> rox.Workspace:
    ws = rox.open("duckdb://:memory:")
    ws.ingest("events", FIRST)
    ws.ingest("events", SECOND)
    return ws


def test_ingestion_numbers_rows_in_the_order_recorded(tied):
    e = tied.table("events").order_by("_seq").execute()
    assert e["_seq"].tolist() == list(range(1, 13))
    assert e["step"].tolist() == [*FIRST["step"], *SECOND["step"]]
    assert e["_load_id"].tolist() == [1] * 10 + [2] * 2


def test_map_follows_the_recorded_order(tied):
    want = dict.fromkeys(_pairs(PATH_A) + _pairs(PATH_B), 1)
    m = journey.journey_map(tied)
    assert _transitions(m) == want
    assert dict(zip(m.starts.step, m.starts.journeys, strict=True)) == {"visit": 1, "land": 1}
    assert dict(zip(m.ends.step, m.ends.journeys, strict=True)) == {"confirm": 1, "exit": 1}
    # transitions between tied events: a: visit-login, browse-apply, cart-pay, pay-confirm;
    # b: zoom-browse, pay-exit
    assert (m.ties.total, m.ties.tied, m.ties.unit) == (10, 6, "transitions")
    assert "60.0% of transitions (6 of 10) join two events" in str(m.ties)


def test_every_analysis_uses_the_same_order(tied):
    v = journey.variants(tied, top=None).frame
    assert sorted(v["path"]) == sorted([" > ".join(PATH_A), " > ".join(PATH_B)])
    after = journey.paths(tied, "browse", depth=2).frame
    assert sorted(after["path"]) == ["browse > apply > cart", "browse > pay > exit"]
    before = journey.paths(tied, "pay", direction="before", depth=1).frame
    assert sorted(before["path"]) == ["browse > pay", "cart > pay"]
    # ordered funnels: zoom then browse, tied in time, is a conversion in the recorded order only
    assert journey.funnel(tied, ["zoom", "browse"]).frame["journeys"].tolist() == [1, 1]
    assert journey.funnel(tied, ["browse", "zoom"]).frame["journeys"].tolist() == [2, 0]
    strict = journey.funnel(tied, ["cart", "pay", "confirm"], mode="strict").frame
    assert strict["journeys"].tolist() == [1, 1, 1]
    with journey.prepare(tied) as prepared:
        assert _transitions(journey.journey_map(prepared)) == _transitions(
            journey.journey_map(tied)
        )


def test_start_end_and_gap_cut_by_position_not_time(tied):
    # login's tie-mate visit was recorded before it: dropped; confirm after pay: dropped
    cut = journey.journey_map(tied, start="login", end="pay")
    assert _transitions(cut) == dict.fromkeys(_pairs(PATH_A[1:6]), 1)
    # a one-hour gap never passes within a tie: each tie is a journey of its own
    split = journey.journey_map(tied, gap="30min")
    assert _transitions(split) == {
        ("visit", "login"): 1,
        ("browse", "apply"): 1,
        ("cart", "pay"): 1,
        ("pay", "confirm"): 1,
        ("zoom", "browse"): 1,
        ("pay", "exit"): 1,
    }
    assert split.journeys == 6  # a: 3, b: land alone, zoom+browse, pay+exit


def test_collapse_of_tied_repeats_follows_the_recorded_order():
    ws = rox.open("duckdb://:memory:")
    rows = [("c", T0, "x"), ("c", T0, "y"), ("c", T0, "y"), ("c", T1, "x")]
    rows += [("d", T0, "y"), ("d", T0, "x"), ("d", T0, "y")]
    ws.ingest("events", pd.DataFrame(rows, columns=["customer_id", "ts", "step"]))
    v = journey.variants(ws, collapse=True, top=None).frame
    assert sorted(v["path"]) == ["x > y > x", "y > x > y"]


def test_the_index_follows_the_recorded_order(tied):
    ws = rox.open("duckdb://:memory:")
    ws.ingest("events", FIRST)
    journey.build_index(ws)
    ws.ingest("events", SECOND)  # rebuilt by the load
    assert journey.prepare(ws).indexed
    assert _transitions(journey.journey_map(ws)) == _transitions(journey.journey_map(tied))


def test_sources_of_one_load_follow_each_other():
    ws = rox.open("duckdb://:memory:")
    ws.ingest("events", [FIRST, SECOND])
    want = dict.fromkeys(_pairs(PATH_A) + _pairs(PATH_B), 1)
    assert _transitions(journey.journey_map(ws)) == want


def test_a_mapped_order_column_takes_precedence_over_the_rows():
    frame = pd.DataFrame(
        {
            "customer_id": ["e", "e", "e", "f"],
            "ts": [T0, T0, T1, T0],
            "step": ["p", "q", "r", "p"],
            "evt": [2, 1, 3, None],
        }
    )
    ws = rox.open("duckdb://:memory:")
    ws.ingest("events", frame, mapping={"order": "evt"})
    assert _transitions(journey.journey_map(ws)) == {("q", "p"): 1, ("p", "r"): 1}
    plain = rox.open("duckdb://:memory:")
    plain.ingest("events", frame)
    assert _transitions(journey.journey_map(plain)) == {("p", "q"): 1, ("q", "r"): 1}
    with pytest.raises(MappingError, match="order names column 'seq_no'"):
        plain.ingest("events", frame, mapping={"order": "seq_no"})
    with pytest.raises(MappingError, match="order must name one source column"):
        plain.ingest("events", frame, mapping={"order": ["evt"]})


def test_staged_rows_continue_the_order(tmp_path):
    # a load after another continues the numbering, even where the table is read back
    ws = rox.open(tmp_path / "w.duckdb")
    ws.ingest("events", FIRST)
    ws.close()
    ws = rox.open(tmp_path / "w.duckdb")
    ws.ingest("events", SECOND)
    assert ws.table("events").order_by("_seq").execute()["_seq"].tolist() == list(range(1, 13))


def test_a_workspace_from_before_21_gets_its_order_on_the_next_load(tmp_path):
    path = tmp_path / "old.duckdb"
    ws = rox.open(path)
    ws.ingest("events", FIRST)
    # as written before #21: the rows stored in the order they were read, and no _seq (today's
    # loads write rows in any order: each carries its place in _seq)
    con = ws.backend.con
    con.execute("SET preserve_insertion_order = true")  # (rox's sessions turn it off)
    con.execute("CREATE OR REPLACE TABLE events AS SELECT * FROM events ORDER BY _seq")
    con.execute("ALTER TABLE events DROP COLUMN _seq")
    ws.close()
    ws = rox.open(path)
    ties = time_ties(ws)
    assert not ties.recorded and "predates the recorded order" in str(ties)
    # without _seq, ties fall back to the load, then the step's name: still an answer
    assert journey.journey_map(ws).events == 10
    ws.ingest("events", SECOND)
    e = ws.table("events").order_by("_seq").execute()
    assert e["step"].tolist() == [*FIRST["step"], *SECOND["step"]]
    assert time_ties(ws).recorded
    assert _transitions(journey.journey_map(ws)) == dict.fromkeys(
        _pairs(PATH_A) + _pairs(PATH_B), 1
    )


def test_time_ties_by_hand(tied):
    ties = time_ties(tied)
    # a: all 7 events are tied; b: all but land (zoom+browse, pay+exit)
    assert (ties.total, ties.tied, ties.recorded) == (12, 11, True)
    assert ties.share == pytest.approx(11 / 12)
    untied = rox.open("duckdb://:memory:")
    untied.ingest("events", FIRST.assign(ts=pd.date_range("2024-01-01", periods=10, freq="h")))
    assert time_ties(untied).tied == 0
    assert str(time_ties(untied)) == "no two events of a journey share a timestamp"


# -- property: a tied log maps as the same log with distinct times in the recorded order --------
_events = st.lists(
    st.tuples(st.sampled_from("uvw"), st.integers(0, 2), st.sampled_from("abcd")),
    min_size=1,
    max_size=40,
)


@pytest.mark.slow  # two loads and four analyses per example: ~0.7 s each
@settings(max_examples=40, deadline=None)
@given(rows=_events)
def test_a_tied_log_maps_as_its_untied_twin(rows):
    """Ticks 0-2 (hours) make many ties; the twin spaces each journey's events one second
    apart in the order (tick, row): the order the tied log was recorded in."""
    base = pd.Timestamp("2024-01-01", tz="UTC")
    frame = pd.DataFrame(rows, columns=["customer_id", "tick", "step"])
    frame["ts"] = base + pd.to_timedelta(frame["tick"], unit="h")
    twin = frame.copy()
    in_order = frame.reset_index().sort_values(["customer_id", "tick", "index"])
    twin["rank"] = in_order.groupby("customer_id").cumcount().sort_index()
    twin["ts"] = base + pd.to_timedelta(twin["rank"], unit="s")
    got = []
    for log in (frame, twin):
        ws = rox.open("duckdb://:memory:")
        ws.ingest("events", log[["customer_id", "ts", "step"]])
        m = journey.journey_map(ws)
        v = journey.variants(ws, top=None).frame
        got.append(
            (_transitions(m), m.starts, m.ends, sorted(zip(v.path, v.journeys, strict=True)))
        )
    assert got[0][0] == got[1][0]
    assert got[0][1].equals(got[1][1]) and got[0][2].equals(got[1][2])
    assert got[0][3] == got[1][3]


def test_rox_info_and_the_map_command_say_how_many_events_are_tied(tmp_path):
    path = tmp_path / "tied.duckdb"
    with rox.open(path) as ws:
        ws.ingest("events", FIRST)
        ws.ingest("events", SECOND)
    note = "91.7% of events (11 of 12) share their timestamp with another event of their journey"
    info = run_cli("info", workspace=path)
    assert f"Events: {note}; ties follow the recorded order" in info.stdout
    shown = run_cli("journey", "map", workspace=path)
    assert "Note: 60.0% of transitions (6 of 10) join two events with the same" in shown.stdout
    assert note not in run_cli("info", "-f", "json", workspace=path).stdout  # data only


def test_channel_moves_follow_the_recorded_order():
    # g: web then app then web, the first two tied in time, recorded in that order
    rows = [("g", T0, "form", "web"), ("g", T0, "confirm", "app"), ("g", T1, "done", "web")]
    ws = rox.open("duckdb://:memory:")
    ws.ingest("events", pd.DataFrame(rows, columns=["customer_id", "ts", "step", "channel"]))
    moves = journey.channel_switching(ws).frame
    got = {(s, t): int(n) for s, t, n in zip(moves.source, moves.target, moves.moves, strict=True)}
    assert got == {("web", "app"): 1, ("app", "web"): 1}  # by name: app > web, web > web
