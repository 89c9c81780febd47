"""The documentation's examples run, show what their text says they show, and its tables agree.

Each page's python blocks run in order in one namespace, as a reader would run them. After a block,
the checks registered for it (keyed by the page and a snippet of the block) assert what the page
claims of its output: counts that are non-zero, the planted effect it says is found, numbers quoted
in its comments. The demo's exact numbers may change with its generator, so the checks hold to what
the text states (an ordering, a bound, a number the page prints from the same block), not to a
snapshot. A check whose snippet no longer matches a block fails, so a docs edit cannot drop it.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rox.errors import EXIT_CODES

DOCS = Path(__file__).resolve().parents[1] / "docs"
PAGES = sorted(p for p in DOCS.glob("*.md") if "```python" in p.read_text(encoding="utf-8"))
#: Pages whose examples need an engine other than DuckDB, with its marker.
ENGINE_MARKS = {"scale-out.md": pytest.mark.spark}
#: Pages whose examples take more than ~20 s (model fits, bootstraps, a 20,000-customer demo, a
#: demo loaded into Spark): run with the slow tests (CI runs them), so that the default run stays
#: short (#14).
SLOW_PAGES = {"actions.md", "impact.md", "journey.md", "scale-out.md", "value.md"}


def _marks(page: Path) -> list[pytest.MarkDecorator]:
    marks = [ENGINE_MARKS[page.name]] if page.name in ENGINE_MARKS else []
    return marks + ([pytest.mark.slow] if page.name in SLOW_PAGES else [])


Check = Callable[[dict[str, Any]], None]
CHECKS: dict[tuple[str, str], Check] = {}


def check(page: str, snippet: str) -> Callable[[Check], Check]:
    """Register a check to run after the block of ``page`` that contains ``snippet``."""

    def register(fn: Check) -> Check:
        CHECKS[page, snippet] = fn
        return fn

    return register


def _python_blocks(page: Path) -> list[str]:
    return re.findall(r"```python\n(.*?)```", page.read_text(encoding="utf-8"), flags=re.S)


def _funnel_counts(frame: pd.DataFrame) -> list[int]:
    counts = frame["journeys"].tolist()
    assert all(n > 0 for n in counts), f"a step nobody reaches: {counts}"
    assert counts == sorted(counts, reverse=True)
    return counts


# -- impact.md ------------------------------------------------------------------------------------
@check("impact.md", "model = rox.impact.rox_model(larger")
def _impact_rox_model(ns: dict[str, Any]) -> None:
    model, hazard = ns["model"], ns["hazard"]
    # the page says: the planted effects recovered, worth money, placebo covering 0
    c = model.coefficients.set_index("parameter")["estimate"]
    assert c["alpha:is_detractor"] < 0 < c["beta:is_detractor"]
    assert 0 < model.low < model.total < model.high
    assert model.moved == 131
    assert model.frame["rox"].sum() == pytest.approx(model.total)
    assert model.placebo_vanishes
    _, low, _ = hazard.hazard_ratio("detractor")
    assert low > 1


# -- actions.md -----------------------------------------------------------------------------------
@check("actions.md", "again = rox.actions.open_cases(")
def _actions_cases(ns: dict[str, Any]) -> None:
    assert len(ns["opened"]) > 0 and len(ns["again"]) == 0  # idempotent
    log = ns["ws"].table("rox_case_events").execute()
    assert {"open", "assign", "start", "close"} <= set(log["move"])
    assert len(ns["escalated"]) > 0


@check("actions.md", "flagged = rox.actions.open_cases(shop, comment_rule")
def _actions_comment_rule(ns: dict[str, Any]) -> None:
    assert ns["flagged"].frame["case_id"].tolist() == ["negative_comment-r1"]


@check("actions.md", 'sla = rox.actions.sla_report(ws, "owner"')
def _actions_sla(ns: dict[str, Any]) -> None:
    frame = ns["sla"].frame.set_index("owner")
    # the slow agent closes fewer cases within the SLA than the fastest
    assert frame.loc["dev", "share_within_sla"] < frame.loc["ana", "share_within_sla"]
    assert (
        frame.loc["dev", "first_action_hours_median"]
        > frame.loc["ana", "first_action_hours_median"]
    )


@check("actions.md", "result = rox.actions.loop_return(ws)")
def _actions_return(ns: dict[str, Any]) -> None:
    from rox.demo import DemoEffects

    result = ns["result"]
    # the planted save: 0.7 x the high-value cases who would not have bought, about 16 points
    assert result.save_low > 0
    assert result.save_low < 0.16 < result.save_high
    assert DemoEffects().save_p == 0.7 and result.holdout_share == pytest.approx(0.2, abs=0.02)
    assert result.recovered_low > 0


@check("actions.md", "nba = rox.actions.next_best_actions(ws, doubly_robust=True)")
def _actions_nba(ns: dict[str, Any]) -> None:
    nba = ns["nba"]
    frame = nba.frame
    assert frame["customer_id"].is_unique and (frame["expected_value"] > 0).all()
    est = nba.estimates.set_index("action")
    assert est.loc["recovery_call", "source"] == "T-learner"
    assert (est.drop("recovery_call")["source"] == "policy prior").all()
    assert abs(est.loc["recovery_call", "dr_uplift"] - 0.16) < 3 * est.loc["recovery_call", "dr_se"]


# -- experience.md --------------------------------------------------------------------------------
@check("experience.md", "nps = rox.experience.nps(ws)")
def _experience_metrics(ns: dict[str, Any]) -> None:
    row = ns["nps"].to_frame().iloc[0]
    assert row["n"] > 0 and row["ci_low"] < row["estimate"] < row["ci_high"]
    # "financing is where it hurts": the lowest CSAT of the touchpoints
    lowest = ns["by_touchpoint"].to_frame().sort_values("estimate")
    assert lowest["touchpoint"].iloc[0] == "financing"
    assert ns["fig"].data  # one trace per segment at least


@check("experience.md", 'periods=["2023-07-01:2024-07-01", "2024H2"]')
def _experience_compare(ns: dict[str, Any]) -> None:
    # a plain-language verdict naming both periods, with the p-value
    verdict = ns["result"].verdicts[0]
    assert "2023-07-01:2024-07-01" in verdict and "2024H2" in verdict and "p " in verdict
    groups = ns["by_group"].to_frame()
    assert set(groups["a"]) == {"(all others)"} or len(groups) > 1
    assert (groups["p_adjusted"].dropna() >= groups["p_value"].dropna()).all()


@check("experience.md", 'sample_size("nps", margin=5)')
def _experience_sample_size(ns: dict[str, Any]) -> None:
    import rox

    # "1,534 responses (worst case)": n = z^2 V / E^2 - 3 with V = 1 (p = d = 0.5), E = 0.05
    z = stats.norm.ppf(0.975)
    assert math.ceil(z**2 / 0.05**2 - 3) == 1534
    assert rox.experience.sample_size("nps", margin=5).frame["n"].iloc[0] == 1534
    # CSAT at 80% satisfied, +-2 points: z^2 p (1 - p) / E^2
    expected = math.ceil(z**2 * 0.8 * 0.2 / 0.02**2)
    assert rox.experience.sample_size("csat", margin=2, satisfied=80).frame["n"].iloc[0] == expected


# -- ingest.md ------------------------------------------------------------------------------------
@check("ingest.md", 'report = ws.ingest("responses", survey)')
def _ingest_report(ns: dict[str, Any]) -> None:
    assert str(ns["report"]).startswith("Loaded 3 of 3 rows into responses [load 1]")
    attrs = ns["ws"].table("responses").execute()
    assert "store" in attrs.columns or "attributes" in attrs.columns  # kept as an attribute


@check("ingest.md", '"scales": {"csat": {"low": 1, "high": 10, "top_from": 8}}')
def _ingest_scale(ns: dict[str, Any]) -> None:
    assert ns["ws"].scale("csat", "1-10").top_from == 8
    assert ns["ws"].count("responses") == 5


@check("ingest.md", 'on_error="quarantine"')
def _ingest_quarantine(ns: dict[str, Any]) -> None:
    # both rows are bad (11 is outside 0-10, "yesterday" is no time): both quarantined
    assert ns["report"].rows_rejected == 2
    rejects = ns["ws"].table("rejects").execute()
    assert {"score", "ts"} <= set(rejects["column"])


# -- impact.md ------------------------------------------------------------------------------------
@check("impact.md", "result = rox.impact.roi(larger, plan)")
def _impact_roi(ns: dict[str, Any]) -> None:
    result = ns["result"]
    figures = set(result.to_frame()["figure"])
    assert {"projected value", "projected ROI", "measured ROI", "measured ROX value"} <= figures
    # "ROI counts the money of this one project ... ROX counts the value of all the experiences"
    assert "(the money of this one project)" in str(result)
    assert "(the value of all the experiences it changed)" in str(result)
    assert result.nps.low < result.nps.effect < result.nps.high
    assert result.value_model == "the ROX model"  # (the page: projected through the ROX model)


@check("impact.md", "nr = rox.impact.nonresponse(ws)")
def _impact_nonresponse(ns: dict[str, Any]) -> None:
    nr = ns["nr"]
    # raking brings the respondents' shares to the base's on every margin
    comp = nr.composition
    assert np.allclose(comp["weighted_share"], comp["base_share"])
    assert nr.bias == nr.unweighted - nr.weighted
    assert ns["by_propensity"].method == "propensity"


@check("impact.md", "weighted = rox.impact.rox_model(larger")
def _impact_weighted_rox(ns: dict[str, Any]) -> None:
    weighted, model = ns["weighted"], ns["model"]
    assert weighted.weighted and weighted.unweighted_total == pytest.approx(model.total, rel=1e-8)
    assert weighted.total > 0


@check("impact.md", "found = rox.impact.audit(ws, ")
def _impact_friction(ns: dict[str, Any]) -> None:
    assert ns["found"].step == "financing"
    assert ns["found"].findings[-1].startswith("Removing the financing friction is worth about")
    assert ns["worth_removing"].total > 0


# -- journey.md -----------------------------------------------------------------------------------
@check("journey.md", 'rox.journey.journey_map(ws, journey="purchase", top=15)')
def _journey_map(ns: dict[str, Any]) -> None:
    frame = ns["m"].to_frame()
    assert 0 < len(frame) <= 15 and (frame["transitions"] > 0).all()
    assert ns["after"].to_frame()["path"].str.startswith("financing").all()


@check("journey.md", 'window="180D", journey="purchase"')
def _journey_funnel(ns: dict[str, Any]) -> None:
    frame = ns["f"].to_frame()
    assert frame["step"].tolist() == [
        "configurator", "test_drive_booking", "quote", "financing", "purchase"
    ]  # fmt: skip
    _funnel_counts(frame)
    # (a Wilson bound at a share of 1 is 1 to within rounding)
    assert (frame["ci_low"] <= frame["step_conversion"] + 1e-12).all()
    assert (frame["step_conversion"] <= frame["ci_high"] + 1e-12).all()
    # the planted friction: the step after financing converts worst (docs/demo.md)
    assert frame.iloc[1:].sort_values("step_conversion")["step"].iloc[0] == "purchase"


@check("journey.md", "print(rox.journey.audit(ws, ")
def _journey_audit(ns: dict[str, Any]) -> None:
    import rox

    # "on the demo brand it finds the planted friction at financing"
    assert rox.journey.audit(ns["ws"], "purchase").step == "financing"
    assert ns["table"].frame["journeys"].gt(0).all()


@check("journey.md", "moves = rox.journey.channel_switching(")
def _journey_channels(ns: dict[str, Any]) -> None:
    assert 0 < ns["moves"].cross_channel_share < 1


# -- value.md -------------------------------------------------------------------------------------
@check("value.md", 'BetaGeoModel(covariates=["vip"])')
def _value_covariate(ns: dict[str, Any]) -> None:
    # "about 2": group 1 was simulated with alpha 3.0 against 6.0, i.e. a rate twice as high
    ratio = 1 / np.exp(ns["model"].params_["alpha:vip"])
    ratio = max(ratio, 1 / ratio)
    assert ratio == pytest.approx(2, rel=0.1)


@check("value.md", "value = rox.value.clv(ws, horizon=52, margin=0.25")
def _value_clv(ns: dict[str, Any]) -> None:
    totals = ns["value"].aggregate().iloc[0]
    assert totals["customers"] > 0 and totals["clv_total"] > 0
    assert totals["clv_total"] == pytest.approx(ns["value"].to_frame()["clv"].sum())


@check("value.md", "print(rox.value.concentration(ws))")
def _value_concentration(ns: dict[str, Any]) -> None:
    import rox

    result = rox.value.concentration(ns["ws"])
    assert str(result).startswith(f"The top 20% of {result.customers:,} customers hold")
    assert 0.2 < result.top_share < 1 and 0 < result.gini < 1


# -- service.md -----------------------------------------------------------------------------------
@check("service.md", "kiosk = client.get(")
def _service_intake(ns: dict[str, Any]) -> None:
    assert ns["sent"].status_code == 201
    assert ns["sent"].json()["stored"] == 2
    (row,) = [r for r in ns["kiosk"] if r["channel"] == "kiosk"]
    assert row["n"] == 2 and row["estimate"] == 0  # one promoter, one detractor
    assert ns["refused"].status_code == 422
    assert ns["refused"].json()["detail"][0]["msg"] == "outside the nps scale 0-10"


@check("service.md", "replayed = client.post(")
def _service_webhooks(ns: dict[str, Any]) -> None:
    assert ns["case"]["case_id"] == "detractor-app-1" and ns["case"]["arm"] == "outreach"
    assert ns["case"]["due_at"].startswith("2026-05-04T09:00")
    assert ns["delivered"] == ["case.opened", "case.closed"]
    assert ns["received"][1]["data"]["resolution"] == "resolved"
    assert sorted((d["event_type"], d["status"]) for d in ns["log"]) == [
        ("case.closed", "delivered"),
        ("case.opened", "delivered"),
    ]
    assert ns["replayed"].status_code == 202 and len(ns["replayed"].json()["replayed"]) == 2


# -- drivers.md -----------------------------------------------------------------------------------
@check("drivers.md", 'result = key_drivers(ws, "nps")')
def _drivers_planted_order(ns: dict[str, Any]) -> None:
    from rox.demo._effects import CLASS_SCORE_SHIFT

    frame = ns["result"].to_frame().set_index("touchpoint")
    # the page says: the planted order (DemoEffects.class_score_shift), by both measures, R² 0.33
    order = ["dealer_visit", "financing", "test_drive_visit", "delivery", "service_visit"]
    order.append("support_call")
    assert [CLASS_SCORE_SHIFT[t] for t in order] == [1.0, 0.6, 0.4, 0.3, 0.1, 0.0]
    for measure in ("lmg", "rw"):
        assert frame[measure].sort_values(ascending=False).index.tolist() == order
    assert round(ns["result"].r2, 2) == 0.33
    assert [round(v, 3) for v in frame.loc[order, "lmg"]] == [
        0.138,
        0.095,
        0.050,
        0.040,
        0.005,
        0.004,
    ]
    assert frame.loc["dealer_visit", "lmg_low"] > frame.loc["support_call", "lmg_high"]
    assert round(frame.loc["financing", "performance"], 2) == 2.81


@check("drivers.md", 'themed = key_drivers(ws, "nps", drivers=[f"theme:{t}"')
def _drivers_themes(ns: dict[str, Any]) -> None:
    themed, found, alone = ns["themed"], ns["found"], ns["alone"]
    frame = themed.to_frame()
    # the page says: three planted complaints go with a lower NPS, delivery delays with none;
    # the rude dealer first
    corr = frame.set_index("driver")["correlation"]
    assert (corr.drop("theme:delivery delays") < 0).all()
    assert abs(corr["theme:delivery delays"]) < 0.03
    assert frame["driver"].iloc[0] == "theme:rude dealer"
    assert themed.n_customers == 2_076
    assert (found.to_frame()["kind"] == "theme").sum() >= 4
    # the themes add a little beside the touchpoints
    assert 0 < found.r2 - alone.r2 < 0.1


# -- voice.md -------------------------------------------------------------------------------------
@check("voice.md", 'ws.ingest("responses", frame, mapping={"redact"')
def _voice_redaction(ns: dict[str, Any]) -> None:
    stored = ns["stored"].iloc[0]
    assert stored["comment"] == "Refund to [IBAN], mail [EMAIL]"
    assert stored["comment_original"].startswith("Refund to IT60")


@check("voice.md", "table = rox.voice.themes(ws)")
def _voice_themes(ns: dict[str, Any]) -> None:
    frame, planted = ns["frame"], ns["planted"]
    assert frame["comments"].sum() == len(ns["table"].comments.frame)  # every comment has a theme
    assert set(planted["language"]) >= {"en", "it"}
    # the planted themes are complaints: customers who mention them give a lower NPS
    assert (planted["nps_difference"].dropna() < 0).mean() >= 0.75
    assert ns["priced"].frame["value_at_risk"].notna().all()
    assert ns["comments"]["theme_id"].nunique() == 1


# -- actions.md -----------------------------------------------------------------------------------
@check("actions.md", 'life = rox.actions.lifecycle(ws, "quarter")')
def _actions_lifecycle(ns: dict[str, Any]) -> None:
    counts, moves = ns["counts"], ns["moves"]
    # "the customer base grows from one quarter to the next"
    totals = counts.sum(axis=1).tolist()
    assert totals == sorted(totals) and totals[-1] > totals[0]
    # "most customers who bought stay active", "a steady flow moves from active to at risk"
    last = counts.iloc[-1]
    assert last["active"] > last["at risk"] + last["lapsed"]
    assert moves.loc["active", "at risk"] > 0
    # "few lapsed customers come back: the reactivation rate is a few percent a quarter"
    assert 0 < ns["rate"] < 0.1 and ns["low"] < ns["rate"] < ns["high"]
    assert len(ns["fig"].data) == 5 and ns["heat"].data[0].type == "heatmap"


@check("actions.md", "risk = rox.actions.at_risk(ws, top=20")
def _actions_at_risk(ns: dict[str, Any]) -> None:
    f = ns["risk"].frame
    assert len(f) == 20 and f["value_at_risk"].is_monotonic_decreasing
    assert (f["p_alive_before"] > f["p_alive"]).all()
    first = ns["first"]
    assert {"customer_id", "value_at_risk", "p_alive", "clv", "reasons"} <= set(first)
    assert any(r.startswith("P(alive) fell from") for r in first["reasons"])


@check("actions.md", 'hazard = rox.actions.at_risk(ws, signal="hazard"')
def _actions_at_risk_hazard(ns: dict[str, Any]) -> None:
    h, churn = ns["hazard"], ns["churn"]
    # "587 customers at risk ...; value at risk 12,747"
    assert h.customers_at_risk == 587 and round(h.total_value_at_risk) == 12_747
    f = h.frame
    assert len(f) == 20 and f["value_at_risk"].is_monotonic_decreasing
    assert f["value_at_risk"].to_numpy() == pytest.approx((f["clv"] * f["p_churn"]).to_numpy())
    assert set(ns["row"]) == {
        "customer_id", "value_at_risk", "p_alive", "p_churn", "hazard_ratio", "clv", "reasons"
    }  # fmt: skip
    # "mean 3.3%; by NPS group: detractor 6.0%, passive 2.7%, promoter 2.2%, no response 3.8%"
    by = churn.frame.groupby("nps_group")["p_churn"].mean().round(3).to_dict()
    assert by == {"detractor": 0.060, "passive": 0.027, "promoter": 0.022, "no response": 0.038}
    # "38% of the demo's active buyers at 90 days" are read past the last churn
    assert round(churn.frame["extrapolated"].mean(), 2) == 0.38


@check("service.md", "again = client.post(")
def _service_survey(ns: dict[str, Any]) -> None:
    assert (ns["form"].status_code, ns["answered"].status_code) == (200, 201)
    assert ns["again"].status_code == 409
    assert ns["cooled"].status_code == 409 and "cooldown" in ns["cooled"].json()["detail"]
    assert ns["overview"].status_code == 200
    assert "Survey response rate" in ns["overview"].text and "on time" in ns["overview"].text


# -- scale-out.md ---------------------------------------------------------------------------------
@check("scale-out.md", 'rox.demo.build("spark://local[2]')
def _scale_out_funnel(ns: dict[str, Any]) -> None:
    _funnel_counts(ns["funnel"].to_frame())


@pytest.mark.parametrize(
    "page",
    [pytest.param(p, marks=_marks(p)) for p in PAGES],
    ids=[p.name for p in PAGES],
)
def test_python_examples_run_and_show_what_they_say(page, tmp_path, monkeypatch):
    """Every python block of a page runs, in order, in one namespace; then its checks pass."""
    monkeypatch.chdir(tmp_path)
    namespace: dict = {"__name__": f"docs.{page.stem}"}
    blocks = _python_blocks(page)
    checks = {snippet: fn for (name, snippet), fn in CHECKS.items() if name == page.name}
    for block in blocks:
        exec(compile(block, str(page), "exec"), namespace)
        for snippet, fn in checks.items():
            if snippet in block:
                fn(namespace)
    missing = [s for s in checks if not any(s in b for b in blocks)]
    assert not missing, f"{page.name}: no block contains {missing}"


def test_every_check_names_a_page_with_examples():
    assert {page for page, _ in CHECKS} <= {p.name for p in PAGES}
    assert SLOW_PAGES | set(ENGINE_MARKS) <= {p.name for p in PAGES}


def test_cli_exit_codes_table_matches_the_code():
    text = (DOCS / "cli.md").read_text(encoding="utf-8")
    table = dict(re.findall(r"^\| +(\d+) \| ([^|]+) \|$", text, flags=re.M))
    assert {int(code) for code in table} >= set(EXIT_CODES.values()) | {2, 70}
