"""The HTML report: self-contained, every analysis present, all user text escaped."""

from __future__ import annotations

import re

import pandas as pd

import rox
from rox.report.headline import headline
from rox.report.workspace_report import build_sections, write_report


def test_report_escapes_user_text_everywhere(hostile_ws, tmp_path):
    path = write_report(hostile_ws, tmp_path / "r.html")
    text = path.read_text(encoding="utf-8")
    assert "<script>window.__pwned" not in text
    assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;&amp;&quot;&#x27;" in text


def test_report_is_self_contained(hostile_ws, tmp_path):
    text = write_report(hostile_ws, tmp_path / "r.html").read_text(encoding="utf-8")
    assert not re.search(r"<script[^>]+src=", text)
    assert not re.search(r"<link[^>]+href=\"https?:", text)


def test_sections_follow_the_data(ws, hostile_ws):
    titles = [s.title for s in build_sections(hostile_ws)]
    assert titles == ["Headline", "NPS", "CSAT", "CES", "Data"]


def test_empty_workspace_still_reports(tmp_path):
    with rox.open("duckdb://:memory:") as ws:
        result = headline(ws)
        assert result.findings == (
            "No survey responses yet: load some with `rox ingest responses FILE`.",
        )
        titles = [s.title for s in build_sections(ws, result)]
        assert titles == ["Headline", "Data"]


def test_headline_on_the_demo(demo):
    result = headline(demo)
    assert result.frame["metric"].tolist() == ["nps", "csat", "ces"]
    worst = result.frame.set_index("metric")["worst_touchpoint"]
    assert worst["csat"] == "financing" and worst["ces"] == "financing"
    assert any("financing" in line for line in result.findings)


def test_report_tables_are_rounded_with_flags_as_badges_and_money_in_the_currency(hostile_text):
    from rox.report.html import Section, render

    table = pd.DataFrame(
        {
            "group": [hostile_text, "dealer"],
            "estimate": [9.999999999999998, 5.551115123125783e-15],
            "p_adjusted": [0.0, 0.5],
            "low_n": [True, False],
            "value_at_risk": [150_994_603.4, 0.0],
        }
    )
    page = render("t", [Section("s", tables=(table,))], currency="EUR")
    cells = re.findall(r"<td[^>]*>(.*?)</td>", page)
    assert cells == [
        "&lt;script&gt;window.__pwned = 1&lt;/script&gt;&amp;&quot;&#x27;",
        "10.00",
        "&lt;0.001",
        '<span class="badge" title="too few responses to trust">low n</span>',
        "EUR 150,994,603",
        "dealer",
        "0.00",
        "0.500",
        "",
        "EUR 0",
    ]
