"""The live dashboard on a PostgreSQL workspace: every page, over HTTP, as on DuckDB (#19 §4).

The small demo brand is built twice, on a real PostgreSQL server and in a DuckDB file, from the
same seed; a service on each (FastAPI's TestClient, which is httpx) serves the five pages. Each
page answers 200 on PostgreSQL with its sections and figures, and shows what the DuckDB
workspace's page shows: the same sections, tables and findings, and the same figures, compared
value by value (floating-point sums may differ in their last bits between the engines, so
numbers are compared to a relative 1e-9; times are compared as instants: DuckDB gives them in
microseconds, PostgreSQL through pandas in nanoseconds). Only the line saying when the page was
computed differs.
"""

from __future__ import annotations

import base64
import html
import json
import math
import re
from collections.abc import Iterator
from typing import Any

import numpy as np
import pandas as pd
import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient

import rox
from rox.demo import build
from rox.service import ServiceConfig, create_app
from rox.service.dashboard import PAGES
from rox.service.keys import create_key

pytestmark = [pytest.mark.postgres, pytest.mark.slow]  # (the demo twice, five pages each: ~60 s)

FIGURE = re.compile(r'<script type="application/json" class="rox-figure">(.*?)</script>', re.S)
META = re.compile(r'<div class="meta">.*?</div>', re.S)
#: What each page shows on the demo brand: its sections' titles (a page that fails shows none)
SECTIONS = {
    "overview": ["Responses received (latest 20 listed)", "Headline", "What experience is worth",
                 "NPS", "CSAT", "CES"],
    "worth": ["Customer value by NPS group"],
    "journeys": ["Journey map", "Friction"],
    "voice": ["Themes of the comments"],
    "actions": ["Customers at risk", "Cases against their SLA, by owner"],
}  # fmt: skip


def _pages(url: str) -> dict[str, str]:
    """Each page of the dashboard of ``url``'s workspace, as an admin loads it."""
    with rox.open(url) as ws:
        _, admin = create_key(ws, "admin", ["admin"])
    config = ServiceConfig(url, client_rate=0, key_rate=0, dashboard_refresh=0,
                           dashboard_wait=600, secret="dashboard-on-postgres")  # fmt: skip
    pages = {}
    with TestClient(create_app(config)) as client:
        signed = client.post("/login", data={"key": admin, "next": "/dashboard/overview"},
                             follow_redirects=False)  # fmt: skip
        assert signed.status_code == 303
        for slug in PAGES:
            answer = client.get(f"/dashboard/{slug}")
            assert answer.status_code == 200, (url, slug, answer.text[-2000:])
            pages[slug] = answer.text
    return pages


@pytest.fixture(scope="module")
def both(
    postgres_server: Any, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, Any]]:
    url = postgres_server.new_database()
    build(url, n_customers=400, seed=7).close()
    path = tmp_path_factory.mktemp("dashboard") / "demo.duckdb"
    build(str(path), n_customers=400, seed=7).close()
    yield {"postgres": _pages(url), "duckdb": _pages(str(path))}


def _decoded(value: Any) -> Any:
    """A figure's JSON with plotly's packed arrays unpacked and times as instants."""
    if isinstance(value, dict):
        if {"dtype", "bdata"} <= value.keys():
            array = np.frombuffer(base64.b64decode(value["bdata"]), dtype=value["dtype"])
            return [_decoded(v) for v in array.tolist()]
        return {k: _decoded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_decoded(v) for v in value]
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d\d-\d\dT[\d:.]+", value):
        return pd.Timestamp(value)
    return value


def _assert_same(a: Any, b: Any, where: str) -> None:
    if isinstance(a, float) or isinstance(b, float):
        assert isinstance(a, int | float) and isinstance(b, int | float), where
        assert math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12) or (a != a and b != b), where
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for k in a:
            _assert_same(a[k], b[k], f"{where}/{k}")
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            _assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, (where, a, b)


@pytest.mark.parametrize("slug", list(SECTIONS))
def test_each_page_on_postgres_shows_what_it_shows_on_duckdb(both, slug):
    mine, theirs = both["postgres"][slug], both["duckdb"][slug]
    titles = [html.unescape(t) for t in re.findall(r"<section><h2>(.*?)</h2>", mine)]
    assert titles == SECTIONS[slug]
    figures = [_decoded(json.loads(f)) for f in FIGURE.findall(mine)]
    expected = [_decoded(json.loads(f)) for f in FIGURE.findall(theirs)]
    assert len(figures) == len(expected) and (figures or slug == "actions")
    for i, (a, b) in enumerate(zip(figures, expected, strict=True)):
        assert a["data"], f"{slug} figure {i} has no trace"
        _assert_same(a, b, f"{slug} figure {i}")
    # the rest of the page (sections, tables, findings) is the same, but for when it was computed
    # (a figure printed as a whole number may differ by one in its last place: the engines sum
    # floats in different orders, and 640,255.5 rounds either way)
    rest = [META.sub("", FIGURE.sub("", page)) for page in (mine, theirs)]
    words = [NUMBER.split(r) for r in rest]
    numbers = [NUMBER.findall(r) for r in rest]
    assert words[0] == words[1]
    assert len(numbers[0]) == len(numbers[1])
    for a, b in zip(*numbers, strict=True):
        places = len(a.partition(".")[2])
        assert places == len(b.partition(".")[2]), (slug, a, b)
        gap = abs(float(a.replace(",", "")) - float(b.replace(",", "")))
        assert gap <= 10.0**-places * (1 + 1e-9), (slug, a, b)


NUMBER = re.compile(r"\d[\d,]*(?:\.\d+)?")


def test_the_pages_load_plotly_from_the_service_not_a_cdn(both):
    for page in both["postgres"].values():
        assert 'src="/static/plotly.min.js"' in page
        assert "cdn" not in page.lower()
