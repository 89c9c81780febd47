"""The demo brand: deterministic, canonical, well-formed, and carrying its planted effects."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from rox.demo import PLANTED, DemoEffects, build, generate, generate_chunks
from rox.demo._catalog import CES_STEPS, CHANNELS, CSAT_STEPS, FUNNEL_STEPS, STEPS
from rox.demo._effects import CLASS_SCORE_SHIFT
from rox.demo._voice import planted_topic
from rox.schema import DEFAULT_SCALES, TABLES

START = pd.Timestamp("2023-01-01", tz="UTC")
END = pd.Timestamp("2026-01-01", tz="UTC")
CHANGE = pd.Timestamp("2024-07-01", tz="UTC")
EXTRA = {"customers": ["referred_by"], "responses": ["segment"]}


@pytest.fixture(scope="module")
def brand() -> dict[str, pd.DataFrame]:
    """The default demo brand: 20,000 customers, seed 7."""
    return generate(20_000, seed=7)


def _nps(scores: pd.Series) -> float:
    return 100.0 * ((scores >= 9).mean() - (scores <= 6).mean())


def _first_nps_class(responses: pd.DataFrame) -> pd.Series:
    """Each respondent's class from their first NPS answer."""
    nps = responses[responses["metric"] == "nps"].sort_values("ts")
    first = nps.groupby("customer_id")["score"].first()
    return pd.cut(first, [-1, 6, 8, 10], labels=["detractor", "passive", "promoter"])


# -- determinism ----------------------------------------------------------------------------------
def test_same_seed_gives_identical_frames():
    result = generate(2_000, seed=11)
    expected = generate(2_000, seed=11)
    assert result.keys() == expected.keys()
    for name in result:
        pd.testing.assert_frame_equal(result[name], expected[name])


def test_different_seed_gives_different_frames():
    result = generate(2_000, seed=11)
    expected = generate(2_000, seed=12)
    assert not result["events"].equals(expected["events"])
    assert not result["responses"]["score"].equals(expected["responses"]["score"])


# -- shape ----------------------------------------------------------------------------------------
@pytest.mark.parametrize("name", ["customers", "transactions", "events", "responses"])
def test_columns_are_the_canonical_ones(brand, name):
    result = list(brand[name].columns)
    expected = list(TABLES[name].names) + EXTRA.get(name, [])
    assert result == expected
    assert len(brand[name]) > 0


def test_ids_are_unique_and_refer_to_customers(brand):
    customers = brand["customers"]
    assert customers["customer_id"].is_unique
    assert len(customers) == 20_000
    assert brand["transactions"]["order_id"].is_unique
    assert brand["responses"]["response_id"].is_unique
    known = set(customers["customer_id"])
    for name in ("transactions", "events", "responses"):
        assert set(brand[name]["customer_id"]) <= known
    referrers = customers["referred_by"].dropna()
    assert set(referrers) <= known
    assert (referrers != customers.loc[referrers.index, "customer_id"]).all()


@pytest.mark.parametrize(
    ("name", "column"),
    [
        ("customers", "first_seen"),
        ("transactions", "ts"),
        ("events", "ts"),
        ("responses", "ts"),
    ],
)
def test_timestamps_are_utc_and_inside_the_window(brand, name, column):
    ts = brand[name][column]
    assert str(ts.dt.tz) == "UTC"
    assert ts.notna().all()
    assert ts.min() >= START
    assert ts.max() < END


def test_scores_lie_on_their_scales(brand):
    responses = brand["responses"]
    for metric, group in responses.groupby("metric"):
        scale = DEFAULT_SCALES[metric]
        assert group["scale"].eq(scale.label).all()
        assert group["score"].between(scale.low, scale.high).all()
        assert (group["score"] % 1 == 0).all()
    assert set(responses["metric"]) == {"nps", "csat", "ces"}
    assert responses["weight"].eq(1.0).all()
    # English, but for the planted Italian comments (#18)
    assert set(responses["language"]) == {"en", "it"}
    italian = responses[responses["language"] == "it"]
    assert italian["comment"].map(planted_topic).map(lambda t: t is not None and t[1] == "it").all()
    assert set(responses["channel"]) <= set(CHANNELS)


def test_response_rates_are_partial(brand):
    events = brand["events"]
    responses = brand["responses"]
    asked = events[events["step"] == "test_drive_visit"]
    answered = responses[(responses["touchpoint"] == "test_drive_visit")]
    assert 0.2 <= len(answered) / len(asked) <= 0.4


def test_comments_exercise_html_escaping(brand):
    comments = brand["responses"]["comment"].dropna()
    assert 0.3 < len(comments) / len(brand["responses"]) < 0.7
    assert comments.str.contains("<").any()
    assert comments.str.contains("&").any()
    assert comments.str.contains('"').any()
    assert comments.str.contains("'").any()


def test_every_step_channel_and_product_is_present(brand):
    assert set(brand["events"]["step"]) == set(STEPS)
    assert set(brand["events"]["channel"]) == set(CHANNELS)
    assert set(brand["transactions"]["product"]) == {"vehicle", "service", "accessories"}
    assert (brand["transactions"]["amount"] > 0).all()
    assert (brand["transactions"]["quantity"] >= 1).all()


def test_events_are_ordered_in_time_per_customer(brand):
    events = brand["events"]
    same = events["customer_id"].eq(events["customer_id"].shift())
    assert (events["ts"].diff()[same] >= pd.Timedelta(0)).all()


def test_purchase_journey_steps_follow_the_funnel_order(brand):
    events = brand["events"]
    funnel = events[events["journey"].str.endswith("-purchase-1")]
    rank = funnel["step"].map({s: i for i, s in enumerate(FUNNEL_STEPS)})
    assert rank.notna().all()
    same = funnel["customer_id"].eq(funnel["customer_id"].shift())
    assert (rank.diff()[same] == 1).all()
    prefix = funnel["journey"].str.removesuffix("-purchase-1")
    assert prefix.eq(funnel["customer_id"]).all()


def test_sessions_group_close_events(brand):
    events = brand["events"]
    prefix = events["session_id"].str.rsplit("-s", n=1).str[0]
    assert prefix.eq(events["customer_id"]).all()
    per_session = events.groupby("session_id")["ts"].agg(["min", "max"])
    assert (per_session["max"] - per_session["min"]).max() < pd.Timedelta(days=1)


# -- planted effects ------------------------------------------------------------------------------
def test_planted_effects_are_documented():
    assert set(PLANTED) == {
        "financing_friction",
        "detractors_buy_less",
        "promoters_refer",
        "recovery_calls_save",
        "service_change",
        "family_care",
        "driver_order",
    }
    assert all(text.endswith(".") for text in PLANTED.values())
    with pytest.raises(ValueError, match="sum to 1"):
        DemoEffects(csat_p=(0.5, 0.5, 0.5, 0.0, 0.0))


def test_financing_has_the_lowest_csat_and_ces(brand):
    responses = brand["responses"]
    for metric, margin in (("csat", 0.8), ("ces", 1.2)):
        means = responses[responses["metric"] == metric].groupby("touchpoint")["score"].mean()
        result = means.drop("financing").min() - means["financing"]
        assert result > margin, means


def test_financing_to_purchase_has_the_steepest_drop_off(brand):
    events = brand["events"]
    has = events.groupby(["customer_id", "step"]).size().unstack(fill_value=0) > 0
    drop = {}
    for step, following in itertools.pairwise(FUNNEL_STEPS):
        reached = has[step]
        drop[step] = 1.0 - (has.loc[reached, following]).mean()
    result = pd.Series(drop)
    assert result.idxmax() == "financing"
    assert result["financing"] > result.drop("financing").max() + 0.15, result


def test_detractors_buy_less_often_and_churn_sooner(brand):
    tx = brand["transactions"]
    classes = _first_nps_class(brand["responses"])
    bought = tx[tx["product"] == "vehicle"].groupby("customer_id")["ts"].min()
    years = (END - bought).dt.total_seconds() / (365.25 * 86_400)
    repeat = tx[tx["product"] != "vehicle"].groupby("customer_id").size()
    last = tx.groupby("customer_id")["ts"].max()
    frame = pd.DataFrame({"cls": classes, "years": years, "repeat": repeat, "last": last})
    frame = frame.dropna(subset=["cls", "years"]).fillna({"repeat": 0})
    frame = frame[frame["years"] > 0.5]
    frame["span"] = (frame["last"] - bought.reindex(frame.index)).dt.days
    by_class = frame.groupby("cls", observed=True)
    rate = by_class["repeat"].sum() / by_class["years"].sum()
    span = by_class["span"].mean()
    assert rate["detractor"] < 0.6 * rate["promoter"], rate
    assert span["detractor"] < 0.7 * span["promoter"], span


def test_promoters_refer_more_customers(brand):
    classes = _first_nps_class(brand["responses"])
    referrals = brand["customers"]["referred_by"].value_counts()
    per_class = (
        referrals.reindex(classes.index, fill_value=0).groupby(classes, observed=True).mean()
    )
    assert per_class["promoter"] > 2.0 * per_class["passive"], per_class
    assert per_class["detractor"] < 0.5 * per_class["passive"], per_class


def test_nps_improves_significantly_after_the_service_change(brand):
    responses = brand["responses"]
    nps = responses[responses["metric"] == "nps"]
    before = nps.loc[nps["ts"] < CHANGE, "score"]
    after = nps.loc[nps["ts"] >= CHANGE, "score"]
    diff = _nps(after) - _nps(before)

    def var(s: pd.Series) -> float:
        p, d = (s >= 9).mean(), (s <= 6).mean()
        return (p + d - (p - d) ** 2) / len(s)

    z = diff / (100.0 * np.sqrt(var(before) + var(after)))
    assert diff > 5.0
    assert z > 2.5


def test_family_care_changes_only_its_own_rows():
    """The plan draws from its own stream: without it, every other row is the same."""
    on = generate(3_000, seed=7)
    off = generate(
        3_000, seed=7, effects=DemoEffects(initiative_nps_lift=0, initiative_spend_lift=0)
    )
    launch = pd.Timestamp("2025-01-01", tz="UTC")
    for name in ("customers", "events"):
        pd.testing.assert_frame_equal(on[name], off[name])
    r_on, r_off = on["responses"], off["responses"]
    treated = (r_on["metric"] == "nps") & (r_on["segment"] == "family") & (r_on["ts"] >= launch)
    pd.testing.assert_frame_equal(r_on.drop(columns="score"), r_off.drop(columns="score"))
    assert r_on.loc[~treated, "score"].equals(r_off.loc[~treated, "score"])
    moved = r_on.loc[treated, "score"] != r_off.loc[treated, "score"]
    assert moved.any()
    up = r_on.loc[treated, "score"][moved]
    was = r_off.loc[treated, "score"][moved]
    # one class up: detractor answers become 7-8, passive answers 9-10
    assert (
        ((was <= 6) & up.isin([7.0, 8.0])) | (was.isin([7.0, 8.0]) & up.isin([9.0, 10.0]))
    ).all()
    t_on, t_off = on["transactions"], off["transactions"]
    # the past closed loop's service visits (#17; order ids ending -x1) draw their amounts from
    # the brand's service visits, the plan's lifted ones included: the plan changes them too
    loop = t_on["order_id"].str.endswith("-x1")
    t_on, t_off = t_on[~loop], t_off[~loop]
    family = set(on["customers"].loc[on["customers"]["segment"] == "family", "customer_id"])
    lifted = (t_on["ts"] >= launch) & t_on["customer_id"].isin(family)
    lifted &= t_on["product"] != "vehicle"
    pd.testing.assert_frame_equal(t_on.drop(columns="amount"), t_off.drop(columns="amount"))
    assert t_on.loc[~lifted, "amount"].equals(t_off.loc[~lifted, "amount"])
    np.testing.assert_allclose(
        t_on.loc[lifted, "amount"], (t_off.loc[lifted, "amount"] * 1.5).round(2)
    )


def _shift_table(chance: float) -> DemoEffects:
    return DemoEffects(class_score_shift=dict.fromkeys(CLASS_SCORE_SHIFT, chance))


def test_class_score_shift_follows_the_touchpoint_table():
    """Each CSAT/CES answer moves with the class when its own uniform draw is below its
    touchpoint's chance; with chance 1 every answer that can move does. So, per touchpoint, the
    answers that move under the default table (against chance 0) are a subset of those that move
    under chance 1, and their share estimates the table's chance (binomial, 4 standard errors)."""

    def scores(effects: DemoEffects | None) -> pd.DataFrame:
        r = generate(10_000, seed=7, effects=effects)["responses"]
        # (the past loop's follow-up answers, ids ending -f1, start from the low CSAT answers)
        return r[~r["response_id"].str.endswith("-f1")].set_index("response_id")

    default = scores(None)
    base, full = scores(_shift_table(0))["score"], scores(_shift_table(1))["score"]
    for metric, steps in (("csat", CSAT_STEPS), ("ces", CES_STEPS)):
        for step in steps:
            rows = (default["metric"] == metric) & (default["touchpoint"] == step)
            can_move = rows & (full != base)
            moved = rows & (default["score"] != base)
            assert not (moved & ~can_move).any()
            assert (default.loc[moved, "score"] == full[moved]).all()
            n, chance = int(can_move.sum()), CLASS_SCORE_SHIFT[step]
            assert n > 100, (metric, step, n)
            share = moved.sum() / n
            assert abs(share - chance) <= 4 * np.sqrt(chance * (1 - chance) / n) + 1e-12, (
                metric,
                step,
                share,
                chance,
            )


def test_driver_order_changes_only_csat_and_ces_scores():
    """Against one chance for every touchpoint (0.25, the demo before #16), the same draws:
    only CSAT/CES scores (and the comments picked by their score band) differ; the past loop
    (cases, its visits and follow-up answers) starts from the low CSAT answers, so it may too."""
    new = generate(3_000, seed=7)
    old = generate(3_000, seed=7, effects=_shift_table(0.25))
    for name in ("customers", "events"):
        pd.testing.assert_frame_equal(new[name], old[name])
    t_new, t_old = (f["transactions"] for f in (new, old))
    pd.testing.assert_frame_equal(
        t_new[~t_new["order_id"].str.endswith("-x1")],
        t_old[~t_old["order_id"].str.endswith("-x1")],
    )
    r_new, r_old = (f["responses"] for f in (new, old))
    r_new = r_new[~r_new["response_id"].str.endswith("-f1")]
    r_old = r_old[~r_old["response_id"].str.endswith("-f1")]
    scored = ["score", "comment", "language"]
    pd.testing.assert_frame_equal(r_new.drop(columns=scored), r_old.drop(columns=scored))
    nps = r_new["metric"] == "nps"
    pd.testing.assert_frame_equal(r_new[nps], r_old[nps])
    moved = r_new["score"] != r_old["score"]
    assert moved.any()
    assert ((r_new["score"] - r_old["score"]).abs()[moved] <= 2).all()
    same = ~moved
    pd.testing.assert_frame_equal(r_new[same], r_old[same])


def test_class_score_shift_needs_every_touchpoint_in_0_1():
    DemoEffects(class_score_shift=dict.fromkeys(CLASS_SCORE_SHIFT, 1.0))
    with pytest.raises(ValueError, match="one chance per CSAT/CES touchpoint"):
        DemoEffects(class_score_shift={"dealer_visit": 0.5})
    with pytest.raises(ValueError, match=r"class_score_shift\['financing'\] must be in \[0, 1\]"):
        DemoEffects(class_score_shift={**CLASS_SCORE_SHIFT, "financing": 1.5})


# -- chunks ---------------------------------------------------------------------------------------
def test_chunks_have_unique_ids_and_are_deterministic():
    chunks = list(generate_chunks(3_000, seed=7, chunk_size=1_000))
    again = list(generate_chunks(3_000, seed=7, chunk_size=1_000))
    assert [len(c["customers"]) for c in chunks] == [1_000, 1_000, 1_000]
    ids = pd.concat([c["customers"]["customer_id"] for c in chunks])
    assert ids.is_unique
    orders = pd.concat([c["transactions"]["order_id"] for c in chunks])
    assert orders.is_unique
    for result, expected in zip(chunks, again, strict=True):
        pd.testing.assert_frame_equal(result["events"], expected["events"])


def test_generate_concatenates_the_chunks():
    result = generate(1_500, seed=3)
    (expected,) = generate_chunks(1_500, seed=3)
    pd.testing.assert_frame_equal(result["responses"], expected["responses"])


def test_invalid_sizes_raise():
    with pytest.raises(ValueError, match="positive"):
        next(generate_chunks(0))
    with pytest.raises(ValueError, match="positive"):
        next(generate_chunks(10, chunk_size=0))


# -- build ----------------------------------------------------------------------------------------
def test_build_loads_every_chunk_into_the_workspace():
    done: list[float] = []
    ws = build(
        "duckdb://:memory:", n_customers=3_000, seed=7, progress=done.append, chunk_size=1_000
    )
    with ws:
        expected = pd.concat(
            [c["responses"] for c in generate_chunks(3_000, seed=7, chunk_size=1_000)]
        )
        assert ws.count("customers") == 3_000
        assert ws.count("responses") == len(expected)
        ids = ws.table("customers").customer_id.nunique().execute()
        assert ids == 3_000
        assert "referred_by" in ws.table("customers").columns
        assert "segment" in ws.table("responses").columns
    assert done == sorted(done)
    assert done[-1] == pytest.approx(1.0)
    assert len(done) == 15  # 3 chunks x 5 tables (customers ... cases)
