"""Themes (#18): no comment without a theme, keyword rules first, planted demo themes recovered."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from rox.demo._voice import planted_topic
from rox.errors import MetricError
from rox.voice import ThemeModel, analyse, load_rules, themes

TEXTS = (
    ["The app crashes every time I open it"] * 3
    + ["The app keeps crashing at login", "App crashed while paying"]
    + ["Delivery was delayed by weeks", "My delivery is late again", "Weeks of delivery delays"]
    + ["The dealer was rude to me", "A rude salesman at the dealer", "Rude dealer staff"]
    + ["!!!", "ok"]
)


def test_every_comment_gets_a_theme_and_a_weight():
    model = ThemeModel(n_themes=3).fit(TEXTS, ["en"] * len(TEXTS))
    a = model.assignments_
    assert len(a) == len(TEXTS)
    assert a["theme"].notna().all()
    assert a["theme_id"].isin(model.themes_["theme_id"]).all()
    assert ((a["weight"] >= 0) & (a["weight"] <= 1)).all()
    # the comments without a word in the vocabulary are placed by spelling, with weight 0
    assert (a.loc[a["source"] == "nearest", "weight"] == 0).all()
    # the three planted groups land in three different themes, each whole
    groups = [range(0, 5), range(5, 8), range(8, 11)]
    dominant = [a["theme_id"].iloc[list(g)].unique() for g in groups]
    assert all(len(d) == 1 for d in dominant)
    assert len({d[0] for d in dominant}) == 3


def test_keyword_rules_take_precedence():
    rules = {"app problems": ["crash*", "si blocca"], "people": ["rude", "maleducat*"]}
    model = ThemeModel(n_themes=2, rules=rules).fit(
        [*TEXTS, "L'app si blocca sempre", "Venditore maleducato"], None
    )
    a = model.assignments_
    assert a["theme"].iloc[:5].eq("app problems").all()
    assert a["theme"].iloc[8:11].eq("people").all()
    assert a["theme"].iloc[-2:].tolist() == ["app problems", "people"]
    assert (a.loc[a["source"] == "rule", "weight"] == 1).all()
    assert set(model.themes_.loc[model.themes_["source"] == "rule", "theme"]) == set(rules)


def test_rules_from_toml(tmp_path):
    path = tmp_path / "themes.toml"
    path.write_text(
        '[themes]\n"app" = ["crash*", "freez*"]\n"paperwork" = "pratiche"\n', encoding="utf-8"
    )
    assert load_rules(path) == {"app": ("crash*", "freez*"), "paperwork": ("pratiche",)}
    with pytest.raises(MetricError, match="expected a list of keywords"):
        load_rules({"empty": []})


def test_bad_settings_are_refused():
    with pytest.raises(MetricError, match="n_themes"):
        ThemeModel(n_themes=0).fit(TEXTS)
    with pytest.raises(MetricError, match="unknown theme method"):
        ThemeModel(method="bertopic").fit(TEXTS)  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def demo_themes(demo_path):
    import rox

    with rox.open(demo_path, read_only=True) as ws:
        return themes(ws)


def test_planted_demo_topics_are_recovered_in_both_languages(demo_themes):
    c = demo_themes.comments.frame
    assert c["theme"].notna().all()  # no comment without a theme
    topic = c["comment"].map(planted_topic)
    planted = c[topic.notna()].assign(topic=topic[topic.notna()])
    assert {t for t, _ in planted["topic"]} == {
        "financing paperwork",
        "delivery delays",
        "rude dealer",
        "app crashes",
    }
    assert {lang for _, lang in planted["topic"]} == {"en", "it"}
    for key, rows in planted.groupby("topic"):
        share = rows["theme_id"].value_counts(normalize=True).iloc[0]
        assert share >= 0.8, (key, share, len(rows))


def test_personal_data_planted_in_the_demo_was_redacted(demo_themes):
    c = demo_themes.comments.frame["comment"]
    planted = c[c.map(planted_topic).notna()]
    assert planted.str.contains(r"\[(?:PHONE|EMAIL|IBAN|NAME)\]").any()
    for leak in (
        "@example",
        "+44 7700",
        "IT60",
        "GB82",
        "347 123",
        "030 1234",
        "Johnson",
        "Bianchi",
    ):
        assert not c.str.contains(leak, regex=False).any(), leak


def test_theme_table_columns_and_nps_impact_by_hand(demo, demo_themes):
    f = demo_themes.frame
    assert f["comments"].sum() == len(demo_themes.comments.frame)
    assert np.isclose(f["share"].sum(), 1.0)
    # the NPS difference of the largest theme, recomputed from the responses by hand
    row = f.iloc[0]
    c = demo_themes.comments.frame
    mentioning = set(c.loc[c["theme_id"] == row["theme_id"], "customer_id"].dropna())
    r = demo.table("responses").execute()
    nps = r[(r["metric"] == "nps") & r["customer_id"].notna()]
    inside = nps["customer_id"].isin(mentioning)

    def score(s):
        return 100 * ((s >= 9).mean() - (s <= 6).mean())

    assert row["n_nps_mentioning"] == inside.sum()
    assert row["n_nps_others"] == (~inside).sum()
    assert row["nps_difference"] == pytest.approx(
        score(nps.loc[inside, "score"]) - score(nps.loc[~inside, "score"])
    )
    assert row["nps_difference_low"] < row["nps_difference"] < row["nps_difference_high"]
    # the planted comments are complaints: read as negative in both languages
    topic = c["comment"].map(planted_topic)
    planted = c[topic.notna()].assign(language_planted=[lang for _, lang in topic.dropna()])
    for language, rows in planted.groupby("language_planted"):
        # measured: en 0.69 (VADER reads "the paperwork took forever" as neutral), it above 0.9
        assert (rows["sentiment_label"] == "negative").mean() > 0.6, language


def test_value_at_risk_and_trend(demo, demo_themes):
    c = demo_themes.comments
    customers = c.frame["customer_id"].dropna().unique()
    value = pd.Series(1.0, index=customers)
    table = themes(c, workspace=demo, value=value)
    f = table.frame
    # with a value of 1 per customer, the value of those who mention a theme counts them
    assert (f["value_mentioning"] == f["customers"]).all()
    assert (f["value_at_risk"] <= f["value_mentioning"]).all()
    trend = table.trend
    assert trend.groupby("period")["share"].sum().round(9).eq(1).all()
    assert trend["comments"].sum() == len(c.frame)
    assert table.plot().data and table.plot_trend().data


def test_language_filter_and_bad_input(demo_themes, demo):
    italian = themes(demo_themes.comments, workspace=demo, language="it")
    assert set(italian.frame["language"]) <= {"it", "other", "rule"}
    with pytest.raises(MetricError, match="no comment in language"):
        themes(demo_themes.comments, language="xx")
    with pytest.raises(MetricError, match="unknown period"):
        themes(demo_themes.comments, period="fortnight")  # type: ignore[arg-type]
    with pytest.raises(MetricError, match="no theme"):
        demo_themes.comments.with_theme("nothing like it")


def test_contradictions_on_both_sides_of_the_cut_offs():
    frame = pd.DataFrame(
        {
            "comment": ["The dealer was rude and awful"] * 4 + ["Great, friendly and quick"] * 4,
            "metric": ["nps", "nps", "csat", "csat", "nps", "nps", "ces", "ces"],
            "score": [9, 8, 4, 3, 6, 7, 3, 4],
            "scale": ["0-10", "0-10", "1-5", "1-5", "0-10", "0-10", "1-7", "1-7"],
        }
    )
    result = analyse(frame).frame
    assert result["contradicts"].tolist() == [True, False, True, False, True, False, True, False]
