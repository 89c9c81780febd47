"""The report's "What experience is worth" section and the headline's money line (#16).

Two hand-built workspaces (fast): 40 customers, enough for the key drivers (``min_n`` = 30), and
the first 12 of them, too few, so that the drivers refuse and the section says why. On the demo
(``slow``), every part of the section is checked against separate calls of the analyses with the
report's documented settings (:data:`rox.report.headline.REPLICATES`), not from the report's code.
"""

from __future__ import annotations

from collections.abc import Iterator

import pandas as pd
import pytest

import rox
from rox._display import money
from rox.report.headline import REPLICATES, experience_worth, headline
from rox.report.workspace_report import build_sections

SECTION = "What experience is worth"


def _customers(n: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """``n`` customers, each with two purchases, an NPS answer and CSAT at two touchpoints.

    Customer i answers CSAT 1 + i mod 5 at the dealer and 1 + (3i // 2) mod 5 at the workshop,
    and NPS min(10, dealer + workshop + i mod 3) - 1: NPS rises with both, so neither is
    constant and they are not collinear.
    """
    ids = [f"k{i:02d}" for i in range(n)]
    tx = pd.DataFrame(
        {
            "customer_id": [c for c in ids for _ in range(2)],
            "ts": [d for i in range(n) for d in (f"2024-01-{1 + i % 28:02d}", "2024-09-01")],
            "amount": [float(50 + 10 * (i % 7)) for i in range(n) for _ in range(2)],
            "order_id": [f"o{j}" for j in range(2 * n)],
        }
    )
    rows = []
    for i, c in enumerate(ids):
        dealer, workshop = 1 + i % 5, 1 + (3 * i // 2) % 5
        nps = min(10, dealer + workshop + i % 3) - 1
        rows += [
            (c, "2024-06-01", "nps", float(nps), None),
            (c, "2024-05-01", "csat", float(dealer), "dealer"),
            (c, "2024-05-02", "csat", float(workshop), "workshop"),
        ]
    responses = pd.DataFrame(rows, columns=["customer_id", "ts", "metric", "score", "touchpoint"])
    responses.insert(0, "response_id", [f"r{j}" for j in range(len(responses))])
    return tx, responses


def _workspace(n: int) -> rox.Workspace:
    ws = rox.open("duckdb://:memory:")
    tx, responses = _customers(n)
    ws.ingest("transactions", tx)
    ws.ingest("responses", responses)
    return ws


@pytest.fixture
def forty() -> Iterator[rox.Workspace]:
    with _workspace(40) as ws:
        yield ws


@pytest.fixture
def twelve() -> Iterator[rox.Workspace]:
    with _workspace(12) as ws:
        yield ws


def _section(ws: rox.Workspace) -> rox.report.html.Section:
    return next(s for s in build_sections(ws) if s.title == SECTION)


def test_the_headline_leads_with_the_money_line(twelve):
    result = headline(twelve)
    worth = experience_worth(twelve)
    assert worth is not None
    assert result.findings[0] == worth.lead()
    assert result.findings[0].startswith("Moving every detractor to the passive level is worth")
    # the experience figures follow it
    assert result.findings[1].startswith("NPS is ")


def test_the_drivers_line_names_the_top_drivers_with_their_label(forty):
    expected = rox.impact.key_drivers(forty, n_boot=REPLICATES // 2)
    top = expected.frame.head(3)
    result = experience_worth(forty)
    assert result is not None and result.drivers_reason == ""
    line = next(x for x in result.lines() if x.startswith("What drives NPS"))
    assert line.endswith(
        ": " + "; ".join(f"{d.driver} {d.rw_pct:.0f}%" for d in top.itertuples()) + "."
    )
    assert "associational" in line
    assert not any(x.startswith("note: what drives NPS") for x in result.lines())
    assert line in _section(forty).findings


def test_the_drivers_line_says_why_when_key_drivers_refuses(twelve):
    # twelve customers: every correlation rests on 12 < min_n = 30
    with pytest.raises(rox.errors.MetricError) as refused:
        rox.impact.key_drivers(twelve, n_boot=REPLICATES // 2)
    assert "min_n=30" in str(refused.value)
    result = experience_worth(twelve)
    assert result is not None and result.drivers is None
    note = f"note: what drives NPS could not be computed: {refused.value}."
    assert note in result.lines()
    assert not any(x.startswith("What drives NPS") for x in result.lines())
    section = _section(twelve)
    assert note in section.findings


# -- on the demo brand -----------------------------------------------------------------------------
@pytest.fixture(scope="module")
def demo_report(demo_path):
    with rox.open(demo_path, read_only=True) as ws:
        result = headline(ws)
        sections = build_sections(ws, result)
        yield ws, result, sections


@pytest.mark.slow
def test_demo_report_has_the_worth_section_with_its_parts(demo_report):
    from rox.value import clv

    ws, result, sections = demo_report
    cur = ws.currency
    titles = [s.title for s in sections]
    assert titles.index(SECTION) == titles.index("Headline") + 1
    section = sections[titles.index(SECTION)]
    lines = section.findings
    assert result.findings[0] == result.worth.lead()

    # CLV by NPS group with intervals: worth of the same profile, 500 replicates, seed 0
    profiled = rox.impact.profile(ws, value=clv(ws))
    by_group = rox.impact.worth(profiled, "nps_group", replicates=REPLICATES).frame
    by_group = by_group.set_index("nps_group")
    first = lines[0]
    assert first.startswith("Mean value per customer by NPS group")
    for g in ("promoter", "passive", "detractor", "no response"):
        r = by_group.loc[g]
        assert (
            f"{g} {money(r['clv'], cur)} ({money(r['clv_low'], cur)} to "
            f"{money(r['clv_high'], cur)}; {int(r['customers']):,} customers)"
        ) in first

    # the promoter-to-detractor multiple: mean CLV of promoters over that of detractors
    ratio = by_group.loc["promoter", "clv"] / by_group.loc["detractor", "clv"]
    multiple = next(x for x in lines if x.startswith("The promoter-to-detractor multiple"))
    assert multiple.startswith(f"The promoter-to-detractor multiple is {ratio:.2f}x (")
    assert f"{ratio:.1f}x a detractor" in result.findings[0]

    # the ROX of moving detractors to passive, through the ROX model
    model = rox.impact.rox_model(
        profiled, move="detractor", to="passive", draws=200, placebo=False, random_state=0
    )
    rox_line = next(x for x in lines if "through the ROX model" in x)
    assert rox_line.startswith(
        f"Moving the {model.moved:,} detractors who bought to the passive level is worth about "
        f"{money(model.total, cur)} (95% interval {money(model.low, cur)} to "
        f"{money(model.high, cur)}) over 3 years"
    )

    # the top three drivers with their label; or, where key_drivers refuses (on 5,000 customers
    # the demo's touchpoint pairs may rest on fewer than min_n = 30), the reason
    try:
        drivers = rox.impact.key_drivers(ws, n_boot=REPLICATES // 2).frame.head(3)
    except rox.errors.MetricError as refused:
        assert f"note: what drives NPS could not be computed: {refused}." in lines
        assert len(section.tables) == 2 and len(section.figures) == 1
    else:
        line = next(x for x in lines if x.startswith("What drives NPS most"))
        assert line.endswith(
            ": " + "; ".join(f"{d.driver} {d.rw_pct:.0f}%" for d in drivers.itertuples()) + "."
        )
        assert "associational" in line
        assert len(section.tables) == 3 and len(section.figures) == 2

    # the priced friction point: the audit's own finding, in the section
    audit = rox.impact.audit(ws, value=clv(ws))
    priced = [x for x in audit.findings if x.startswith(("Cost:", "Removing the"))]
    assert priced and all(x in lines for x in priced)
    assert any("financing" in x for x in priced)
