r"""The live dashboard: server-rendered pages of the workspace, computed on load and cached.

Each page is a list of :class:`~rox.report.html.Section` built from the analyses (overview:
:mod:`rox.report.headline` and the experience sections of the report; worth:
:func:`rox.impact.worth`; journeys: :func:`rox.journey.journey_map`, :func:`rox.journey.paths`
and :func:`rox.journey.friction`), drawn with :mod:`rox.viz`. Pages are rendered here and
nothing of the user's text reaches the page unescaped: text goes through :func:`html.escape`
(in :func:`rox.report.html.render_section`) and figures are embedded as JSON in
``<script type="application/json">`` with ``<``, ``>`` and ``&`` written as ``\u`` escapes,
drawn by the static ``dashboard.js`` with the plotly.js of the installed plotly package.

:class:`PageCache` keeps each page with the data version it was computed at (the number of
batches the service committed): a load recomputes a page only when data arrived since, and at
most once every ``refresh`` seconds.
"""

from __future__ import annotations

import asyncio
import html
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from importlib.resources import files
from string import Template
from typing import TYPE_CHECKING, Any

import pandas as pd

from rox.errors import RoxError
from rox.report.html import Kpi, Section, render_section
from rox.service.invitations import response_rate

if TYPE_CHECKING:
    from rox.workspace import Workspace

__all__ = ["PAGES", "Page", "PageCache", "figure_json", "login_page", "render_page"]

#: Latest responses listed on the overview.
LATEST = 20


@dataclass(frozen=True)
class Page:
    """A dashboard page: its path under /dashboard, its title, and how to build it."""

    slug: str
    title: str
    build: Callable[[Workspace], list[Section]]


def _received(ws: Workspace) -> Section:
    """Responses held, by metric; the survey response rate; the latest responses with comments."""
    t = ws.table("responses")
    counts = t.group_by("metric").aggregate(n=t.count()).execute()
    by_metric = dict(zip(counts["metric"], counts["n"].astype(int), strict=True))
    total = sum(by_metric.values())
    kpis = [Kpi("Responses", f"{total:,}", "all metrics")]
    kpis += [Kpi(f"{m.upper()} responses", f"{n:,}") for m, n in sorted(by_metric.items())]
    columns = [c for c in ("ts", "metric", "score", "touchpoint", "comment") if c in t.columns]
    latest = t.order_by(t.ts.desc()).select(*columns).limit(LATEST).execute()
    tables: tuple[pd.DataFrame, ...] = (latest,) if len(latest) else ()
    rates = response_rate(ws)
    if len(rates):
        shown, got = int(rates["shown"].sum()), int(rates["answered"].sum())
        kpis.append(
            Kpi("Survey response rate", f"{got / shown:.0%}", f"{got:,} of {shown:,} forms shown")
        )
        tables = (rates, *tables)
    title = f"Responses received (latest {LATEST} listed)"
    return Section(title, kpis=tuple(kpis), tables=tables)


def overview(ws: Workspace) -> list[Section]:
    """Responses received; the headline with its significant changes; NPS, CSAT, CES trends."""
    from rox.report.headline import headline
    from rox.report.workspace_report import EXPERIENCE_SECTIONS

    sections = [_received(ws)]
    if ws.count("responses") == 0:
        return sections
    result = headline(ws)
    sections += [s for build in EXPERIENCE_SECTIONS if (s := build(ws, result)) is not None]
    return sections


def worth_page(ws: Workspace) -> list[Section]:
    """Customer value (CLV) by NPS group, with bootstrap intervals and the ratio to detractors."""
    from rox.impact import worth
    from rox.viz.impact import plot_worth

    try:
        result = worth(ws, by="nps_group")
    except RoxError as exc:
        return [Section("Worth of experience", findings=(f"Not available: {exc}",))]
    findings = []
    if result.reference is not None:
        for group in result.frame[result.by]:
            if group == result.reference:
                continue
            ratio, low, high = result.multiple(str(group))
            findings.append(
                f"{group}: mean value {ratio:.2f} times the {result.reference}s' "
                f"({result.confidence:.0%} interval {low:.2f} to {high:.2f})."
            )
    if result.value_note:
        findings.append(result.value_note)
    return [
        Section(
            "Customer value by NPS group",
            findings=tuple(findings),
            tables=(result.to_frame(),),
            figures=(plot_worth(result),),
        )
    ]


def journeys_page(ws: Workspace) -> list[Section]:
    """The journey map, a Sankey of the paths from the commonest start, the friction ranking."""
    from rox.impact import friction
    from rox.journey import journey_map, paths
    from rox.viz.journey import plot_friction, plot_map, plot_paths

    if ws.count("events") == 0:
        return [Section("Journeys", findings=("No journey events yet: post some to /v1/events.",))]
    the_map = journey_map(ws, top=25)
    figures: list[Any] = [plot_map(the_map)]
    if the_map.starts is not None and len(the_map.starts):
        start = str(the_map.starts["step"].iloc[0])
        figures.append(plot_paths(paths(ws, start, depth=3), title=f"Paths after {start} (Sankey)"))
    sections = [Section("Journey map", figures=tuple(figures))]
    try:
        table = friction(ws)
    except RoxError as exc:
        sections.append(Section("Friction", findings=(f"Not available: {exc}",)))
    else:
        sections.append(
            Section(
                "Friction",
                tables=(table.to_frame().head(15),),
                figures=(plot_friction(table),),
            )
        )
    return sections


def voice_page(ws: Workspace) -> list[Section]:
    """The comments' themes: volume, sentiment and the NPS of those who mention each (#18)."""
    try:
        from rox.voice import themes

        result = themes(ws)
    except (RoxError, ImportError) as exc:  # (no comments yet, or the text extra missing)
        return [Section("Voice of the customer", findings=(f"Not available: {exc}",))]
    return [
        Section(
            "Themes of the comments",
            tables=(result.to_frame().head(15),),
            figures=(result.plot(),),
        )
    ]


def actions_page(ws: Workspace) -> list[Section]:
    """The customers with the most value at risk, with their reasons, and the cases' SLA (#17)."""
    from rox.actions import at_risk, sla_report

    sections = []
    try:
        risk = at_risk(ws, top=20)
    except RoxError as exc:
        sections.append(Section("Customers at risk", findings=(f"Not available: {exc}",)))
    else:
        frame = risk.to_frame().assign(reasons=lambda f: f["reasons"].map("; ".join))
        sections.append(Section("Customers at risk", tables=(frame,), figures=(risk.plot(),)))
    if ws.count("cases"):
        try:
            sla = sla_report(ws)
        except RoxError as exc:
            sections.append(Section("Cases", findings=(f"Not available: {exc}",)))
        else:
            sections.append(Section("Cases against their SLA, by owner", tables=(sla.to_frame(),)))
    return sections


#: The dashboard's pages, in the order of its navigation.
PAGES: dict[str, Page] = {
    p.slug: p
    for p in (
        Page("overview", "Overview", overview),
        Page("worth", "Worth", worth_page),
        Page("journeys", "Journeys", journeys_page),
        Page("voice", "Voice", voice_page),
        Page("actions", "Actions", actions_page),
    )
}


def figure_json(fig: Any) -> str:
    r"""A plotly figure as an inert ``<script type="application/json">`` element.

    ``<``, ``>`` and ``&`` are written as JSON ``\u`` escapes, so that no text in the figure
    (a group name, a title) can close the element or be read as HTML.
    """
    spec = fig.to_json()
    safe = spec.replace("&", "\\u0026").replace("<", "\\u003c").replace(">", "\\u003e")
    return f'<script type="application/json" class="rox-figure">{safe}</script>'


def _template(name: str) -> Template:
    return Template(files("rox.service").joinpath(f"templates/{name}").read_text("utf-8"))


def _nav(current: str | None) -> str:
    links = []
    for page in PAGES.values():
        here = ' aria-current="page"' if page.slug == current else ""
        links.append(f'<a href="/dashboard/{page.slug}"{here}>{html.escape(page.title)}</a>')
    return "".join(links)


def render_page(
    title: str, body: str, *, current: str | None = None, meta: str = "", signed_in: bool = True
) -> str:
    """The layout around ``body`` (HTML already safe); ``title`` and ``meta`` are escaped."""
    from rox import __version__

    nav = _nav(current) if signed_in else ""
    logout = (
        '<form method="post" action="/logout" class="logout"><button>Sign out</button></form>'
        if signed_in
        else ""
    )
    return _template("page.html").substitute(
        title=html.escape(title),
        nav=nav,
        logout=logout,
        meta=html.escape(meta),
        body=body,
        version=html.escape(__version__),
    )


def login_page(*, error: str = "", next_path: str = "/dashboard/overview") -> str:
    """The sign-in form: an API key with the admin scope, exchanged for a session cookie."""
    message = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    form = _template("login.html").substitute(error=message, next=html.escape(next_path))
    return render_page("Sign in", form, signed_in=False)


@dataclass
class _Entry:
    version: int
    at: float
    body: str


class PageCache:
    """Pages computed once per data version, recomputed on load at most every ``refresh`` s.

    Parameters
    ----------
    refresh : float
        Least seconds between two computations of a page while data keeps arriving (0: every
        load after new data recomputes).
    """

    def __init__(self, refresh: float) -> None:
        self.refresh = refresh
        self._entries: dict[str, _Entry] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(
        self, slug: str, version: int, compute: Callable[[], Awaitable[list[Section]]]
    ) -> tuple[str, float]:
        """The page's body and when it was computed (Unix seconds)."""
        lock = self._locks.setdefault(slug, asyncio.Lock())
        async with lock:
            entry = self._entries.get(slug)
            fresh = entry is not None and (
                entry.version == version or time.time() - entry.at < self.refresh
            )
            if entry is None or not fresh:
                sections = await compute()
                body = "\n".join(render_section(s, figure=figure_json) for s in sections)
                entry = _Entry(version, time.time(), body)
                self._entries[slug] = entry
            return entry.body, entry.at
