"""Estimates and their intervals, method by method, by hand (#22: the mutation score).

Each test states the rule it checks. Expected values come from the published formulas written out
here (Wald, Wilson, Student t) or from the bootstrap replayed with its seed, never from the code
under test.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from rox.experience import ces, csat, nps
from rox.testing import responses_frame as responses

Z95 = stats.norm.ppf(0.975)


def _wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson (1927) score interval, written out."""
    p = k / n
    center = (p + z**2 / (2 * n)) / (1 + z**2 / n)
    half = z / (1 + z**2 / n) * np.sqrt(p * (1 - p) / n + z**2 / (4 * n**2))
    return center - half, center + half


def test_nps_shares_and_wald_interval_by_hand(load):
    # 4 promoters (10, 9, 9, 10), 2 passives (8, 7), 4 detractors (6, 5, 0, 3)
    ws = load(responses("nps", [10, 9, 9, 8, 7, 6, 5, 0, 10, 3]))
    row = nps(ws, method="wald").frame.iloc[0]
    assert (row["promoters"], row["passives"], row["detractors"]) == pytest.approx((40, 20, 40))
    # Wald: var = p + d - (p - d)^2 = 0.8 over n = 10
    se = np.sqrt(0.8 / 10)
    assert row["se"] == pytest.approx(100 * se)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((-100 * Z95 * se, 100 * Z95 * se))


def test_nps_at_another_level(load):
    ws = load(responses("nps", [10, 9, 9, 8, 7, 6, 5, 0, 10, 3]))
    row = nps(ws, method="wald", level=0.9).frame.iloc[0]
    half = 100 * stats.norm.ppf(0.95) * np.sqrt(0.8 / 10)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((-half, half))


def test_nps_bootstrap_replays_the_multinomial_draws(load):
    # 3 promoters, 1 passive, 2 detractors in 6; the bootstrap draws (promoters, passives,
    # detractors) from the observed shares, 6 trials, n_resamples times, with the seed given
    ws = load(responses("nps", [10, 9, 10, 8, 0, 6]))
    row = nps(ws, method="bootstrap", n_resamples=500, seed=4).frame.iloc[0]
    rng = np.random.default_rng(4)
    draws = rng.multinomial(6, [3 / 6, 1 / 6, 2 / 6], size=(500, 1))[:, 0, :]
    boot = (draws[:, 0] - draws[:, 2]) / 6
    assert row["estimate"] == pytest.approx(100 / 6)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(
        tuple(100 * np.quantile(boot, [0.025, 0.975]))
    )
    assert row["se"] == pytest.approx(100 * boot.std(ddof=1))


def test_csat_wilson_and_wald_by_hand(load):
    # 7 satisfied (4 or 5) of 10
    ws = load(responses("csat", [5, 4, 4, 3, 5, 1, 2, 4, 5, 5]))
    wilson = csat(ws).frame.iloc[0]
    low, high = _wilson(7, 10)
    assert (wilson["ci_low"], wilson["ci_high"]) == pytest.approx((100 * low, 100 * high))
    assert wilson["se"] == pytest.approx(100 * np.sqrt(0.21 / 10))
    wald = csat(ws, method="wald").frame.iloc[0]
    half = 100 * Z95 * np.sqrt(0.21 / 10)
    assert (wald["ci_low"], wald["ci_high"]) == pytest.approx((70 - half, 70 + half))


def test_csat_bootstrap_replays_the_binomial_draws(load):
    ws = load(responses("csat", [5, 4, 1, 2, 5]))  # 3 of 5 satisfied
    row = csat(ws, method="bootstrap", n_resamples=400, seed=2).frame.iloc[0]
    rng = np.random.default_rng(2)
    draws = rng.multinomial(5, [0.6, 0.4, 0.0], size=(400, 1))[:, 0, :]
    boot = draws[:, 0] / 5
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(
        tuple(100 * np.quantile(boot, [0.025, 0.975]))
    )
    assert row["se"] == pytest.approx(100 * boot.std(ddof=1))


def test_ces_easy_share_has_a_wilson_interval(load):
    # CES 1-7: "easy" is 5 to 7; here 1 of 5
    ws = load(responses("ces", [1, 2, 3, 4, 5]))
    row = ces(ws).frame.iloc[0]
    low, high = _wilson(1, 5)
    assert row["easy"] == 20.0
    assert (row["easy_low"], row["easy_high"]) == pytest.approx((100 * low, 100 * high))
    # the published Wilson interval for 1 of 5 (Newcombe 1998, Table I style): 0.0362 to 0.6245
    assert (row["easy_low"], row["easy_high"]) == pytest.approx((3.62, 62.45), abs=0.01)
    # the mean's standard error: sd / sqrt(n), sd with n - 1 (sd of 1..5 = sqrt(2.5))
    assert row["se"] == pytest.approx(np.sqrt(2.5 / 5))


def test_ces_bootstrap_replays_the_resampled_scores(load):
    # scores 2, 2, 4, 7 (each response a draw): the distinct scores are resampled with their
    # shares, 4 trials per resample; rows come sorted by score
    ws = load(responses("ces", [4, 2, 7, 2]))
    row = ces(ws, method="bootstrap", n_resamples=300, seed=8).frame.iloc[0]
    rng = np.random.default_rng(8)
    x = np.array([2.0, 4.0, 7.0])
    draws = rng.multinomial(4, [0.5, 0.25, 0.25], size=300)
    means = draws @ x / 4
    assert row["estimate"] == pytest.approx(15 / 4)
    low, high = np.quantile(means, [0.025, 0.975])
    assert (row["ci_low"], row["ci_high"]) == pytest.approx((low, high))
    assert row["se"] == pytest.approx(means.std(ddof=1))


def test_ces_bootstrap_of_one_response_is_that_response(load):
    # one response: every resample is that response, an interval of zero width
    ws = load(responses("ces", [6]))
    row = ces(ws, method="bootstrap").frame.iloc[0]
    assert (row["estimate"], row["ci_low"], row["ci_high"], row["se"]) == (6, 6, 6, 0)


def test_ces_weighted_sd_uses_the_effective_n(load):
    # weights 1, 1, 2 on scores 1, 4, 7: weighted mean 19/4; weighted variance (population)
    # sum w (x - m)^2 / sum w = (14.0625 + 0.5625 + 2 * 5.0625) / 4 = 6.1875;
    # Kish n_eff = 16 / 6 = 8/3; sd^2 = 6.1875 * n_eff / (n_eff - 1) = 6.1875 * 8/5
    frame = responses("ces", [1, 4, 7], weight=[1.0, 1.0, 2.0])
    row = ces(load(frame)).frame.iloc[0]
    assert row["estimate"] == pytest.approx(4.75)
    n_eff = 8 / 3
    sd = np.sqrt(6.1875 * 8 / 5)
    assert row["n_eff"] == pytest.approx(n_eff)
    assert row["se"] == pytest.approx(sd / np.sqrt(n_eff))
    t = stats.t.ppf(0.975, n_eff - 1)
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(
        (4.75 - t * sd / np.sqrt(n_eff), 4.75 + t * sd / np.sqrt(n_eff))
    )


def test_declared_nps_scale_uses_its_detractor_cut(ws):
    # a 1-5 "recommend" scale declared with top_from 5 and bottom_to 2: the cut-offs of the
    # declared scale, not of 0-10
    frame = pd.DataFrame(
        {"ts": ["2024-01-01"] * 5, "metric": ["nps"] * 5, "score": [5, 5, 3, 2, 1]}
    )
    ws.ingest(
        "responses",
        frame,
        mapping={"scales": {"nps": {"low": 1, "high": 5, "top_from": 5, "bottom_to": 2}}},
    )
    row = nps(ws).frame.iloc[0]
    assert (row["promoters"], row["passives"], row["detractors"]) == pytest.approx((40, 20, 40))


def test_ces_of_two_close_scores_by_hand(load):
    # 3 and 4: mean 3.5, sample sd sqrt(0.5) (a population variance of 0.25, below 1), se 0.5,
    # t(0.975, 1 df) = 12.706205: the least n with an interval (one response has none)
    ws = load(responses("ces", [3, 4]))
    row = ces(ws).frame.iloc[0]
    assert (row["estimate"], row["se"]) == pytest.approx((3.5, 0.5))
    assert (row["ci_low"], row["ci_high"]) == pytest.approx(
        (3.5 - 12.706205 * 0.5, 3.5 + 12.706205 * 0.5), rel=1e-6
    )


def test_summarise_groups_sorted_with_missing_keys_last(ws):
    # one row per group, sorted, the group of responses without the column (None) kept, last;
    # the score distribution only on request
    from rox.experience.estimates import summarise

    dist = pd.DataFrame(
        {
            "channel": ["web", None, "app", "app"],
            "metric": ["csat"] * 4,
            "scale": [None] * 4,
            "score": [5.0, 1.0, 4.0, 2.0],
            "n": [2, 1, 1, 1],
            "w": [2.0, 1.0, 1.0, 1.0],
            "w2": [2.0, 1.0, 1.0, 1.0],
        }
    )
    out = summarise(dist, ["channel"], ws.scale_lookup())
    assert out["channel"].tolist()[:2] == ["app", "web"] and pd.isna(out["channel"].iloc[2])
    assert out["n"].tolist() == [2, 2, 1]
    assert out["top"].tolist() == pytest.approx([0.5, 1.0, 0.0])  # 4 and 5 satisfied
    assert out["mean"].tolist() == pytest.approx([3.0, 5.0, 1.0])
    # sample sd: app sqrt(2) (4 and 2), web 0 (5 twice), one response none
    assert out["sd"].tolist()[:2] == pytest.approx([np.sqrt(2), 0.0])
    assert np.isnan(out["sd"].iloc[2])
    assert "values" not in out.columns
    values = summarise(dist, ["channel"], ws.scale_lookup(), with_values=True)["values"]
    x, w = values.iloc[0]
    assert (x.tolist(), w.tolist()) == ([4.0, 2.0], [1.0, 1.0])


def test_nps_keeps_the_group_of_responses_without_the_column(load):
    ws = load(responses("nps", [10, 0, 9], channel=["web", None, None]))
    f = nps(ws, by="channel").frame
    assert f["channel"].tolist()[0] == "web" and pd.isna(f["channel"].iloc[1])
    assert f["estimate"].tolist() == pytest.approx([100.0, 0.0])


def test_ces_bootstrap_keeps_the_group_without_the_column(load):
    # the scores of responses without a channel are resampled as a group of their own: one
    # response, 6, so every resample is 6
    ws = load(responses("ces", [3, 5, 6], channel=["web", "web", None]))
    f = ces(ws, by="channel", method="bootstrap").frame
    missing = f[f["channel"].isna()].iloc[0]
    assert (missing["n"], missing["ci_low"], missing["ci_high"]) == (1, 6.0, 6.0)


def test_estimate_defaults_to_the_first_method_of_each_metric(ws):
    # called without a method (as compare() does): adjusted Wald for NPS, Wilson for CSAT
    from rox.experience.estimates import estimate, summarise

    dist = pd.DataFrame(
        {
            "metric": ["nps"] * 3 + ["csat"] * 2,
            "scale": [None] * 5,
            "score": [10.0, 8.0, 3.0, 5.0, 2.0],
            "n": [4, 2, 4, 7, 3],
            "w": [4.0, 2.0, 4.0, 7.0, 3.0],
            "w2": [4.0, 2.0, 4.0, 7.0, 3.0],
        }
    )
    summary = summarise(dist, [], ws.scale_lookup())
    got = estimate(summary[summary["metric"] == "nps"], "nps").iloc[0]
    # adjusted Wald (Rocks 2016): 4.75 / 13 promoters and detractors, n + 3 = 13
    half = 100 * Z95 * np.sqrt(2 * 4.75 / 13 / 13)
    assert (got["ci_low"], got["ci_high"]) == pytest.approx((-half, half))
    got = estimate(summary[summary["metric"] == "csat"], "csat").iloc[0]
    low, high = _wilson(7, 10)
    assert (got["ci_low"], got["ci_high"]) == pytest.approx((100 * low, 100 * high))


def test_one_response_has_no_sample_sd_whatever_its_weight(ws):
    # n_eff = 1: the n / (n - 1) correction is undefined, so the sd is NaN, even where rounding
    # leaves the weighted variance a hair above 0 (weight 0.9, score 3: 1.8e-15)
    from rox.experience.estimates import summarise

    dist = pd.DataFrame(
        {"metric": ["ces"], "scale": [None], "score": [3.0], "n": [1], "w": [0.9], "w2": [0.81]}
    )
    out = summarise(dist, [], ws.scale_lookup()).iloc[0]
    assert out["n_eff"] == 1.0 and np.isnan(out["sd"])


def test_ces_bootstrap_center_and_level_replayed(ws):
    # 20 responses (scores 1-7), a 90% interval: the bootstrap's centre is the weighted mean,
    # its limits the 5th and 95th percentiles of the resampled means
    from rox.experience.estimates import estimate, summarise

    scores = np.array([1, 2, 2, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5, 6, 6, 7, 7, 7, 2, 5], float)
    x, counts = np.unique(scores, return_counts=True)
    dist = pd.DataFrame(
        {"metric": "ces", "scale": None, "score": x, "n": counts, "w": counts * 1.0}
    ).assign(w2=lambda d: d["w"])
    summary = summarise(dist, [], ws.scale_lookup(), with_values=True)
    got = estimate(summary, "ces", method="bootstrap", level=0.9, n_resamples=700, seed=5)
    rng = np.random.default_rng(5)
    means = rng.multinomial(20, counts / 20, size=700) @ x / 20
    assert got["center"].iloc[0] == pytest.approx(scores.mean())
    assert (got["ci_low"].iloc[0], got["ci_high"].iloc[0]) == pytest.approx(
        tuple(np.quantile(means, [0.05, 0.95]))
    )
    assert got["se"].iloc[0] == pytest.approx(means.std(ddof=1))
    # not the 2.5th percentile (of a 95% interval)
    assert got["ci_low"].iloc[0] != pytest.approx(np.quantile(means, 0.025))


def test_summarise_reads_each_metric_with_its_own_declared_scale():
    # two metrics, each with responses on its default scale and on a declared one: every
    # (metric, scale) pair gets its own cut-offs, and the mean is rescaled linearly onto the
    # metric's default scale (NPS 0-10, CSAT 1-5)
    from rox.experience.estimates import summarise
    from rox.schema import DEFAULT_SCALES, Scale

    declared = {
        ("nps", "r5"): Scale(1, 5, 5, 2),  # a 1-5 recommend scale: promoter 5, detractor <= 2
        ("csat", "c10"): Scale(0, 10, 8),  # a 0-10 satisfaction scale: satisfied from 8
    }

    def scale_of(metric, label):
        return declared[(metric, label)] if label else DEFAULT_SCALES[metric]

    dist = pd.DataFrame(
        {
            "metric": ["nps", "nps", "nps", "nps", "csat", "csat", "csat", "csat"],
            "scale": [None, None, "r5", "r5", None, None, "c10", "c10"],
            "score": [10.0, 6.0, 5.0, 2.0, 5.0, 3.0, 8.0, 4.0],
            "n": [1] * 8,
            "w": [1.0] * 8,
            "w2": [1.0] * 8,
        }
    )
    out = summarise(dist, [], scale_of).set_index("metric")
    # NPS: promoters 10 (0-10) and 5 (1-5); detractors 6 (0-10) and 2 (1-5, <= 2)
    assert out.loc["nps", "top"] == pytest.approx(0.5)
    assert out.loc["nps", "bottom"] == pytest.approx(0.5)
    # the 1-5 answers 5 and 2 rescaled to 0-10: 10 and 2.5; mean (10 + 6 + 10 + 2.5) / 4
    assert out.loc["nps", "mean"] == pytest.approx(28.5 / 4)
    # CSAT: satisfied 5 (1-5) and 8 (0-10); 8 and 4 on 0-10 rescaled to 1-5: 4.2 and 2.6
    assert out.loc["csat", "top"] == pytest.approx(0.5)
    assert out.loc["csat", "mean"] == pytest.approx((5 + 3 + 4.2 + 2.6) / 4)


def test_finish_replaces_the_sums_by_the_figures_on_a_fresh_index():
    # finish keeps the group columns, n (an integer) and w, and replaces the other sums by n_eff,
    # top, bottom, mean and sd; the rows are numbered afresh (a part of a larger table comes in
    # with its own index, as scorecard passes one metric's rows)
    from rox.experience.estimates import finish

    sums = pd.DataFrame(
        {
            "channel": ["app", "web"],
            "metric": ["csat", "csat"],
            "n": [4.0, 2.0],
            "w": [4.0, 2.0],
            "w2": [4.0, 2.0],
            "w_top": [3.0, 1.0],
            "w_bottom": [0.0, 0.0],
            "wx": [14.0, 6.0],  # scores 5, 4, 4, 1 and 5, 1
            "wxx": [58.0, 26.0],
        },
        index=[7, 9],
    )
    out = finish(sums)
    assert out.columns.tolist() == [
        "channel", "metric", "n", "w", "n_eff", "top", "bottom", "mean", "sd",
    ]  # fmt: skip
    assert out.index.tolist() == [0, 1]
    assert out["n"].dtype == "int64"
    assert out["top"].tolist() == pytest.approx([0.75, 0.5])
    assert out["mean"].tolist() == pytest.approx([3.5, 3.0])
    # sample sd: (5, 4, 4, 1) -> sqrt(3); (5, 1) -> sqrt(8)
    assert out["sd"].tolist() == pytest.approx([np.sqrt(3.0), np.sqrt(8.0)])
