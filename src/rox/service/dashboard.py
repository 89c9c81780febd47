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
import contextlib
import html
import os
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from importlib.resources import files
from string import Template
from typing import TYPE_CHECKING, Any

import pandas as pd

from rox.errors import RoxError
from rox.report.html import Kpi, Section, render_section
from rox.service.invitations import response_rate

if TYPE_CHECKING:
    from rox.journey import Audit
    from rox.report.headline import ExperienceWorth
    from rox.workspace import Workspace

__all__ = [
    "PAGES",
    "Expensive",
    "Page",
    "PageCache",
    "Pending",
    "Place",
    "Reader",
    "expensive",
    "figure_json",
    "login_page",
    "render_page",
    "second_connection",
]

#: Latest responses listed on the overview.
LATEST = 20


@dataclass(frozen=True)
class Page:
    """A dashboard page: its path under /dashboard, its title, and how to build it.

    ``build(ws)`` computes the page's sections; a page with an ``expensive`` part is built as
    ``build(ws, parts)`` from what ``expensive(ws)`` returned, or from :class:`Pending` while
    that is being computed (:class:`PageCache`).
    """

    slug: str
    title: str
    build: Callable[..., list[Section]]
    expensive: Callable[[Workspace], Any] | None = None


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


@dataclass(frozen=True)
class Expensive:
    """What the overview takes long to compute, kept apart from what it recomputes on each load.

    Attributes
    ----------
    worth : ExperienceWorth or None
        What experience is worth (:func:`rox.report.headline.experience_worth`: customer value
        models fitted to every customer, bootstrap intervals, the drivers, the priced audit of
        the journeys); None without transactions or NPS answers.
    audit : Audit or None
        The journeys' audit (:func:`rox.journey.audit`) where ``worth`` carries no priced one
        and there are events.
    """

    worth: ExperienceWorth | None
    audit: Audit | None


def expensive(ws: Workspace) -> Expensive:
    """Compute the overview's expensive part (:class:`Expensive`) on ``ws``."""
    from rox.journey import audit
    from rox.report.headline import experience_worth

    worth = experience_worth(ws)
    checked = None
    if (worth is None or worth.audit is None) and ws.count("events"):
        checked = audit(ws)
    return Expensive(worth, checked)


def overview(ws: Workspace, parts: Expensive | Pending | None = None) -> list[Section]:
    """Responses received; the headline with its significant changes; NPS, CSAT, CES trends.

    ``parts`` is the expensive part computed already (by default computed here), or
    :class:`Pending` while it is being computed: the page then says so in place of the money
    and of the journeys' findings, and shows everything else.
    """
    from rox.report.headline import headline
    from rox.report.workspace_report import EXPERIENCE_SECTIONS

    sections = [_received(ws)]
    if ws.count("responses") == 0:
        return sections
    if parts is None:
        parts = expensive(ws)
    if isinstance(parts, Pending):
        result = headline(ws, worth=None, audit=None)
    else:
        result = headline(ws, worth=parts.worth, audit=parts.audit)
    sections += [s for build in EXPERIENCE_SECTIONS if (s := build(ws, result)) is not None]
    if isinstance(parts, Pending):
        note = (
            f"Being computed (started {_utc(parts.since)}): the customer value models are fitted "
            "to every customer, which takes minutes on a large workspace. Reload the page to see "
            "it; the figures on this page are current."
        )
        sections.insert(2, Section("What experience is worth", findings=(note,)))
    return sections


@dataclass(frozen=True)
class Pending:
    """The expensive part of a page is being computed since ``since`` (Unix seconds)."""

    since: float


def _utc(at: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime(at))


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
        Page("overview", "Overview", overview, expensive),
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


def second_connection(ws: Workspace, url: str) -> Workspace:
    """A workspace on a connection of its own to the database of ``ws`` (for another thread).

    DuckDB: a cursor of the connection of ``ws`` (a second connection to the same database, in
    UTC like the first), which reads what the first has committed; call it on the thread that
    uses ``ws``. Other engines (PostgreSQL): ``url`` opened again.
    """
    import ibis

    import rox
    from rox.engines.duckdb import DuckDBEngine
    from rox.workspace import Workspace

    if not isinstance(ws.engine, DuckDBEngine):  # (not read-only: analyses may stage tables)
        return rox.open(url)
    engine = DuckDBEngine(ws.engine.url, ibis.duckdb.from_connection(ws.backend.con.cursor()))
    engine.backend.raw_sql("SET TimeZone = 'UTC'")
    engine.backend.raw_sql("SET enable_progress_bar = true")
    engine.backend.raw_sql("SET enable_progress_bar_print = false")
    return Workspace(engine, read_only=True)


class Reader:
    """A thread of its own with a workspace connection of its own, running calls in turn.

    The dashboard computes its pages here, off the event loop and off the writer's thread, so
    that intake goes on while a page is computed. The connection is opened by ``connect`` on
    the first call; before each call, what the last one kept (:meth:`Workspace.forget`) is
    released, as data may have arrived since. ``nice`` lowers the thread's priority (Linux),
    so that a long computation leaves the processor to intake and to the pages first.
    """

    def __init__(self, connect: Callable[[], Workspace], name: str, *, nice: int = 0) -> None:
        self._connect = connect
        self._name = name
        self._nice = nice
        self._ws: Workspace | None = None
        self._queue: queue.SimpleQueue[tuple[Callable[[Workspace], Any], Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        self._thread: threading.Thread | None = None

    def call(self, fn: Callable[[Workspace], Any]) -> Future[Any]:
        """Run ``fn(ws)`` on the reader's thread; its future."""
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
            self._thread.start()
        future: Future[Any] = Future()
        self._queue.put((fn, future))
        return future

    def stop(self, timeout: float = 5.0) -> None:
        """Close the connection once the calls queued so far are done, waiting up to ``timeout`` s.

        A computation still running then goes on to its end on its (daemon) thread.
        """
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
            if self._thread.is_alive() and self._ws is not None:
                with contextlib.suppress(Exception):  # (stop the query under way, if any)
                    self._ws.backend.con.interrupt()
            self._thread = None

    def _run(self) -> None:
        if self._nice:
            with contextlib.suppress(OSError, AttributeError):  # (Linux: a thread's own nice)
                os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), self._nice)
        while (item := self._queue.get()) is not None:
            fn, future = item
            if not future.set_running_or_notify_cancel():
                continue
            try:
                if self._ws is None:
                    self._ws = self._connect()
                self._ws.forget()
                future.set_result(fn(self._ws))
            except BaseException as exc:  # (handed to the caller)
                future.set_exception(exc)
        if self._ws is not None:
            self._ws.close()
            self._ws = None


#: Where a page's computation runs: ``place(slug, fn)`` runs ``fn(ws)``, returns its future.
Place = Callable[[str, Callable[["Workspace"], Any]], Future[Any]]


@dataclass
class _Entry:
    version: int
    at: float
    body: str
    parts: Any = None


@dataclass
class _Expensive:
    """A page's expensive part: the last value computed, and the computation under way."""

    version: int = -1
    at: float = 0.0
    value: Any = None
    job: Future[Any] | None = None
    job_version: int = -1
    pending: Pending | None = None


class PageCache:
    """Pages computed once per data version, recomputed on load at most every ``refresh`` s.

    A page's expensive part (:attr:`Page.expensive`) is computed apart, on ``background``, and
    kept: a load starts its computation when there is none yet, or when data arrived since the
    last one and ``expensive_refresh`` seconds passed; it waits at most ``wait`` seconds for it,
    then shows the page with the last value computed (or :class:`Pending` before the first one).
    The rest of the page is computed on ``live``, at a load after new data (at most every
    ``refresh`` s), and again when a new expensive part is ready; such a load waits at most
    ``wait`` seconds for it, then shows the page it has, saying that a newer one is being
    computed (a later load shows it). Only the first load of a page waits for it whole.

    Parameters
    ----------
    refresh : float
        Least seconds between two computations of a page while data keeps arriving (0: every
        load after new data recomputes).
    live : callable
        ``live(slug, fn)`` runs ``fn(ws)`` for page ``slug`` somewhere and returns its future
        (the service: on the page's own :class:`Reader`, so that a long page never holds up
        another).
    background : callable, optional
        The same, for the expensive parts (by default ``live``).
    expensive_refresh : float
        Least seconds between two computations of a page's expensive part while data arrives.
    wait : float
        Most seconds a load that starts a computation waits for it before showing the page it
        has (without the expensive part, or from older data); later loads do not wait.
    """

    def __init__(
        self,
        refresh: float,
        *,
        live: Place,
        background: Place | None = None,
        expensive_refresh: float = 600.0,
        wait: float = 1.0,
    ) -> None:
        self.refresh = refresh
        self.expensive_refresh = expensive_refresh
        self.wait = wait
        self._live = live
        self._background = background or live
        self._entries: dict[str, _Entry] = {}
        self._jobs: dict[str, Future[_Entry]] = {}
        self._expensive: dict[str, _Expensive] = {}
        self._locks: dict[str, asyncio.Lock] = {}

    async def get(self, page: Page, version: int) -> tuple[str, float, str]:
        """The page's body, when it was computed (Unix seconds), and a note on what is under way.

        The first load of a page computes it. A load after new data (``refresh`` seconds after
        the last computation) starts a new computation and waits at most ``wait`` seconds for
        it; past that it shows the last page, and says that a newer one is being computed.
        """
        lock = self._locks.setdefault(page.slug, asyncio.Lock())
        async with lock:
            parts, notes = None, []
            if page.expensive is not None:
                parts, note = await self._expensive_part(page, version)
                notes.append(note)
            entry = self._entries.get(page.slug)
            fresh = (
                entry is not None
                and entry.parts is parts
                and (entry.version == version or time.time() - entry.at < self.refresh)
            )
            job = self._jobs.get(page.slug)
            if not fresh and job is None:
                job = self._live(page.slug, _building(page, parts, version))
                self._jobs[page.slug] = job
                wait = None if entry is None else self.wait  # (a first load waits for its page)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(job)), wait)
            if job is not None and job.done():
                del self._jobs[page.slug]
                entry = job.result()  # (an error is raised to this load, and retried)
                self._entries[page.slug] = entry
            assert entry is not None
            if page.slug in self._jobs:
                notes.append(f"a newer page is being computed (data version {version})")
            return entry.body, entry.at, "; ".join(n for n in notes if n)

    async def _expensive_part(self, page: Page, version: int) -> tuple[Any, str]:
        assert page.expensive is not None
        state = self._expensive.setdefault(page.slug, _Expensive())
        now = time.time()
        stale = state.version != version and now - state.at >= self.expensive_refresh
        if state.job is None and (state.value is None or stale):
            state.job = self._background(page.slug, page.expensive)
            state.job_version = version
            state.pending = Pending(now)
            # (the load that starts it waits a little: on a small workspace, it is ready by then)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(asyncio.wrap_future(state.job)), self.wait)
        if state.job is not None:
            job = state.job
            if job.done():
                state.job = None
                state.value = job.result()  # (an error is raised to this load, and retried)
                state.version, state.at = state.job_version, time.time()
        if state.value is None:
            assert state.pending is not None
            return state.pending, "its worth of experience is being computed"
        note = f"its worth of experience at {_utc(state.at)} (data version {state.version})"
        if state.job is not None:
            note += ", being recomputed"
        return state.value, note


def _building(page: Page, parts: Any, version: int) -> Callable[[Workspace], _Entry]:
    """Compute and render ``page`` (on a reader's thread: the figures' JSON is made there too)."""

    def build(ws: Workspace) -> _Entry:
        sections = page.build(ws) if page.expensive is None else page.build(ws, parts)
        body = "\n".join(render_section(s, figure=figure_json) for s in sections)
        return _Entry(version, time.time(), body, parts)

    return build
