"""Journey maps, variants and paths, rule by rule, on logs small enough to count by hand (#22).

Each test states the rule it checks; every expected value is counted from the log as written.
"""

from __future__ import annotations

import pandas as pd
import pytest

from rox import journey
from rox.errors import MetricError
from rox.journey import journey_map, paths, variants
from rox.testing import insert_rows

T0 = pd.Timestamp("2024-01-01", tz="UTC")


def _events(ws, journeys: dict[str, list[tuple[str, float]]]):
    """Insert journeys given as {journey_id: [(step, hours after T0), ...]}; the customer is the
    part of the id before the dash."""
    rows = [
        {"customer_id": j.split("-")[0], "ts": T0 + pd.Timedelta(h, "h"), "step": s, "journey": j}
        for j, steps in journeys.items()
        for s, h in steps
    ]
    insert_rows(ws, "events", pd.DataFrame(rows))
    return ws


def _steps(*names: str, hours: float = 1.0) -> list[tuple[str, float]]:
    return [(name, i * hours) for i, name in enumerate(names)]


#: Five journeys, four customers: a's two journeys are the same path.
LOG = {
    "a-1": _steps("visit", "quote", "buy"),
    "a-2": _steps("visit", "quote", "buy", hours=3),
    "b-1": _steps("visit", "configure", "quote"),
    "c-1": _steps("visit", "quote", "buy"),
    "d-1": _steps("visit", "configure", "configure", "quote"),
}


def test_map_order_customers_and_share(ws):
    m = journey_map(_events(ws, LOG))
    # the documented columns, and no others
    assert list(m.frame.columns) == [
        "source",
        "target",
        "transitions",
        "customers",
        "share",
        "median_hours",
        "p90_hours",
    ]
    got = m.frame[["source", "target", "transitions", "customers"]].values.tolist()
    # most transitions first, ties by source then target
    assert got == [
        ["quote", "buy", 3, 2],  # a twice (one customer), c
        ["visit", "quote", 3, 2],
        ["configure", "quote", 2, 2],
        ["visit", "configure", 2, 2],
        ["configure", "configure", 1, 1],
    ]
    # share of all 11 transitions
    assert m.frame["share"].tolist() == pytest.approx([3 / 11, 3 / 11, 2 / 11, 2 / 11, 1 / 11])
    # starts and ends: most journeys first, ties by step
    assert m.starts.values.tolist() == [["visit", 5]]
    assert m.ends.values.tolist() == [["buy", 3], ["quote", 2]]
    assert (m.journeys, m.events) == (5, 16)
    assert str(m) == (
        "Journey map: 5 journeys, 16 events\nnote: no two events of a journey share a timestamp"
    )


def test_map_hours_between_steps(ws):
    # visit -> quote after 1 h (a-1, c-1) and 3 h (a-2): median 1 h, 90th percentile by linear
    # interpolation between the sorted values 1, 1, 3: position 0.9 * 2 = 1.8 -> 1 + 0.8 * 2
    m = journey_map(_events(ws, LOG)).frame.set_index(["source", "target"])
    assert m.loc[("visit", "quote"), "median_hours"] == pytest.approx(1.0)
    assert m.loc[("visit", "quote"), "p90_hours"] == pytest.approx(2.6)
    assert m.loc[("configure", "configure"), "median_hours"] == pytest.approx(1.0)


def test_map_counts_transitions_tied_in_time(ws):
    # x then y at the same time, then z an hour later: one of two transitions is tied
    _events(ws, {"t-1": [("x", 0), ("y", 0), ("z", 1)]})
    m = journey_map(ws)
    assert (m.ties.total, m.ties.tied) == (2, 1)
    assert m.ties.recorded
    assert "50.0% of transitions (1 of 2)" in str(m)
    assert "ties follow the recorded order" in str(m)


def test_coverage_keeps_transitions_until_the_share_is_reached(ws):
    _events(ws, LOG)
    shares = [3 / 11, 3 / 11, 2 / 11, 2 / 11, 1 / 11]
    # a transition is kept while the share of those before it is below the coverage
    assert len(journey_map(ws, coverage=shares[0]).frame) == 1
    assert len(journey_map(ws, coverage=shares[0] + 1e-9).frame) == 2
    assert len(journey_map(ws, coverage=1.0).frame) == 5
    for bad in (0.0, 1.5):
        with pytest.raises(MetricError, match=r"coverage must be a share in \(0, 1\]"):
            journey_map(ws, coverage=bad)
    top = journey_map(ws, top=3)
    assert len(top.frame) == 3 and top.journeys == 5  # counted over all journeys


def test_no_journeys_map_to_nothing(ws):
    _events(ws, LOG)
    m = journey_map(ws, since="2030-01-01")
    assert (len(m.frame), m.journeys, m.events) == (0, 0, 0)
    assert m.starts.empty and m.ends.empty
    v = variants(ws, since="2030-01-01").frame
    assert v.empty and list(v.columns) == ["path", "steps", "journeys", "share", "median_hours"]


def test_variants_share_order_and_top(ws):
    v = variants(_events(ws, LOG)).frame
    # most journeys first, ties by path
    assert v[["path", "journeys", "steps"]].values.tolist() == [
        ["visit > quote > buy", 3, 3],
        ["visit > configure > configure > quote", 1, 4],
        ["visit > configure > quote", 1, 3],
    ]
    assert v["share"].tolist() == pytest.approx([3 / 5, 1 / 5, 1 / 5])
    # a-1 and c-1 take 2 hours, a-2 6: median 2
    assert v["median_hours"].tolist() == pytest.approx([2.0, 3.0, 2.0])
    # the top cut: shares stay shares of all journeys; a tie at the cut keeps the variant of the
    # lowest journey id (b-1 before d-1)
    top = variants(ws, top=2).frame
    assert top["path"].tolist() == ["visit > quote > buy", "visit > configure > quote"]
    assert top["share"].tolist() == pytest.approx([3 / 5, 1 / 5])


def test_variants_from_the_index_are_the_same(ws):
    _events(ws, LOG)
    computed = variants(ws, top=None).frame
    journey.build_index(ws)
    with journey.prepare(ws) as prepared:
        assert prepared.indexed
        indexed = variants(prepared, top=None).frame
        top = variants(prepared, top=2).frame
    pd.testing.assert_frame_equal(indexed, computed)
    # the same cut as computed: the tie at the cut keeps the variant of b-1, not of d-1
    assert top["path"].tolist() == ["visit > quote > buy", "visit > configure > quote"]
    assert top["share"].tolist() == pytest.approx([3 / 5, 1 / 5])


def test_paths_after_and_before_a_step(ws):
    _events(ws, LOG)
    # from the first visit of configure (d-1 visits it twice), two steps on
    after = paths(ws, "configure", depth=2).frame
    assert after[["path", "steps", "journeys"]].values.tolist() == [
        ["configure > configure > quote", 3, 1],
        ["configure > quote", 2, 1],
    ]
    assert after["share"].tolist() == pytest.approx([0.5, 0.5])
    # configure -> quote takes 1 h in b-1; configure -> configure -> quote 2 h in d-1
    assert dict(zip(after["path"], after["median_hours"], strict=True)) == pytest.approx(
        {"configure > configure > quote": 2.0, "configure > quote": 1.0}
    )
    before = paths(ws, "buy", direction="before", depth=2).frame
    assert before[["path", "steps", "journeys"]].values.tolist() == [["visit > quote > buy", 3, 3]]
    # depth 1 is the least: the step and the one next to it
    one = paths(ws, "quote", direction="before", depth=1, top=1).frame
    assert one[["path", "journeys"]].values.tolist() == [["visit > quote", 3]]
    assert one["share"].tolist() == pytest.approx([3 / 5])
    with pytest.raises(MetricError, match="depth must be at least 1"):
        paths(ws, "quote", depth=0)
    with pytest.raises(MetricError, match="direction must be 'after' or 'before'"):
        paths(ws, "quote", direction="around")


def test_paths_shorter_than_the_depth(ws):
    # buy is the last step: after it, nothing; visit is the first: before it, nothing
    _events(ws, LOG)
    assert paths(ws, "buy", depth=3).frame["path"].tolist() == ["buy"]
    before = paths(ws, "visit", direction="before", depth=3).frame
    assert before[["path", "steps", "journeys"]].values.tolist() == [["visit", 1, 5]]
    assert before["median_hours"].tolist() == [0.0]


def test_map_ties_are_ordered_by_source_then_target(ws):
    # equal counts from one source: by target; from two sources: by source
    _events(
        ws,
        {"x-1": _steps("visit", "buy"), "y-1": _steps("visit", "ask"), "z-1": _steps("ask", "buy")},
    )
    got = journey_map(ws).frame[["source", "target"]].values.tolist()
    assert got == [["ask", "buy"], ["visit", "ask"], ["visit", "buy"]]


def test_default_top_20_and_depth_3(ws):
    # 21 journeys s > t00 ... s > t20 (21 variants, 21 paths after s), and a > b > c > d > e
    log = {f"j{i:02d}-1": _steps("s", f"t{i:02d}") for i in range(21)}
    _events(ws, {**log, "k-1": _steps("a", "b", "c", "d", "e")})
    assert len(variants(ws).frame) == 20  # of 22
    assert len(variants(ws, top=None).frame) == 22
    assert len(paths(ws, "s").frame) == 20  # of 21
    # three steps after a, not four
    assert paths(ws, "a").frame["path"].tolist() == ["a > b > c > d"]


def test_starts_and_ends_ties_are_ordered_by_step(ws):
    _events(ws, {"x-1": _steps("visit", "buy"), "y-1": _steps("ask", "quote")})
    m = journey_map(ws)
    assert m.starts.values.tolist() == [["ask", 1], ["visit", 1]]
    assert m.ends.values.tolist() == [["buy", 1], ["quote", 1]]
