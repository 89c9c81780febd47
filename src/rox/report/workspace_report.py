"""The HTML report of a workspace: every analysis that has data, as sections of one page.

Each section builder takes the workspace and returns a :class:`~rox.report.html.Section` or None
(when its data is missing); :data:`SECTIONS` lists them in order, so that an analysis adds itself
to the report by adding a builder.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd

from rox._display import money
from rox.experience import compare
from rox.report.headline import NAMES, TOUCHPOINT, Headline, format_value, headline
from rox.report.html import Kpi, Section, write
from rox.viz.experience import bars, comparison, trend

if TYPE_CHECKING:
    from rox.workspace import Workspace

__all__ = ["EXPERIENCE_SECTIONS", "SECTIONS", "build_sections", "write_report"]


def _headline_section(ws: Workspace, result: Headline) -> Section:
    kpis = tuple(
        Kpi(
            label=NAMES[r.metric],
            value=format_value(r.metric, r.estimate),
            detail=f"{format_value(r.metric, r.ci_low)} to {format_value(r.metric, r.ci_high)}"
            f" · n = {r.n:,}",
        )
        for r in result.frame.itertuples()
    )
    return Section("Headline", findings=result.findings, kpis=kpis)


def _metric_section(metric: str) -> Callable[[Workspace, Headline], Section | None]:
    def build(ws: Workspace, result: Headline) -> Section | None:
        if metric not in set(result.frame["metric"]):
            return None
        figures = [
            trend(
                result.card(ws, period="quarter")[metric],
                title=f"{NAMES[metric]} by quarter, with 95% intervals",
            )
        ]
        tables: list[pd.DataFrame] = []
        findings: list[str] = []
        if TOUCHPOINT in ws.table("responses").columns:
            by_touchpoint = result.card(ws, by=TOUCHPOINT)[metric]
            if len(by_touchpoint) > 1:
                figures.append(
                    bars(by_touchpoint, title=f"{NAMES[metric]} by touchpoint, with 95% intervals")
                )
                tested = result.touchpoints.get(metric)  # (the headline's, when it made it)
                if tested is None:
                    tested = compare(ws, metric, by=TOUCHPOINT)
                figures.append(
                    comparison(tested, title=f"{NAMES[metric]}: each touchpoint against all others")
                )
                findings = [
                    v
                    for v, s in zip(tested.verdicts, tested.frame["significant"], strict=True)
                    if s
                ]
            tables.append(by_touchpoint.to_frame().drop(columns=["se"]))
        return Section(
            NAMES[metric], findings=tuple(findings), tables=tuple(tables), figures=tuple(figures)
        )

    return build


def _value_section(ws: Workspace, result: Headline) -> Section | None:
    """Customer value: CLV over the next year, concentration, retention by cohort."""
    del result
    if ws.count("transactions") == 0:
        return None
    from rox.errors import ConvergenceError
    from rox.value import clv, cohorts, concentration
    from rox.viz.value import plot_clv, plot_cohorts, plot_lorenz

    findings: list[str] = []
    tables: list[pd.DataFrame] = []
    figures = []
    try:
        value = clv(ws, horizon=52)
    except ConvergenceError as exc:
        findings.append(f"The lifetime-value model could not be fitted: {exc}.")
    else:
        total = value.aggregate().iloc[0]
        currency = ws.currency
        findings.append(
            f"The {int(total['customers']):,} customers are expected to bring "
            f"{money(total['clv_total'], currency)} in revenue over the next 52 weeks "
            f"(discounted at 10% a year; median customer "
            f"{money(total['clv_median'], currency)})."
        )
        findings.extend(value.purchase_model.notes_)
        tables.append(value.aggregate())
        figures.append(plot_clv(value))
        top = concentration(value)
        findings.append(str(top))
        figures.append(plot_lorenz(top))
    findings.append(str(concentration(ws)))
    figures.append(plot_cohorts(cohorts(ws, "quarter")))
    return Section(
        "Customer value", findings=tuple(findings), tables=tuple(tables), figures=tuple(figures)
    )


def _worth_section(ws: Workspace, result: Headline) -> Section | None:
    """What experience is worth: CLV by NPS group, the multiple, the ROX, drivers, friction."""
    del ws
    w = result.worth
    if w is None:
        return None
    figures: list[Any] = [w.worth.plot()]
    tables = [
        w.worth.to_frame()[
            ["nps_group", "customers", "clv", "clv_low", "clv_high", "clv_ratio", "p_alive"]
        ],
        w.rox.to_frame(),
    ]
    if w.drivers is not None:
        figures.append(w.drivers.plot())
        tables.append(
            w.drivers.to_frame()[
                ["driver", "n", "performance", "rw", "rw_low", "rw_high", "rw_pct"]
            ]
        )
    return Section(
        "What experience is worth",
        findings=w.lines(),
        tables=tuple(tables),
        figures=tuple(figures),
    )


def _journey_section(ws: Workspace, result: Headline) -> Section | None:
    """Journeys: the audit of the whole journey, its map and its friction ranking."""
    if ws.count("events") == 0:
        return None
    from rox.impact import audit
    from rox.journey import journey_map
    from rox.viz.journey import plot_friction, plot_map

    priced = result.worth.audit if result.worth is not None else None
    check = priced if priced is not None else audit(ws)
    figures: tuple[Any, ...] = (plot_map(journey_map(ws, top=25)),)
    if check.friction is not None:
        figures = (plot_friction(check.friction), *figures)
    return Section(
        "Journeys",
        findings=check.findings,
        tables=(check.to_frame().head(10),),
        figures=figures,
    )


def _data_section(ws: Workspace, result: Headline) -> Section:
    del result
    return Section("Data", tables=(ws.describe().to_frame(),))


#: The experience sections (headline, then NPS, CSAT and CES), in order.
EXPERIENCE_SECTIONS: list[Callable[[Workspace, Headline], Section | None]] = [
    _headline_section,
    _worth_section,
    _metric_section("nps"),
    _metric_section("csat"),
    _metric_section("ces"),
]

#: The report's sections, in order.
SECTIONS: list[Callable[[Workspace, Headline], Section | None]] = [
    *EXPERIENCE_SECTIONS,
    _value_section,
    _journey_section,
    _data_section,
]


def build_sections(ws: Workspace, result: Headline | None = None) -> list[Section]:
    """Compute every section that has data."""
    result = result or headline(ws)
    return [s for build in SECTIONS if (s := build(ws, result)) is not None]


def write_report(
    ws: Workspace,
    path: str | Path,
    *,
    headline: Headline | None = None,
    title: str = "Return on Experience",
) -> Path:
    """Write the self-contained HTML report of ``ws`` to ``path``; return the path."""
    path = Path(path)
    if not path.parent.is_dir():
        from rox.errors import WorkspaceError

        raise WorkspaceError(f"cannot write the report: folder {path.parent} does not exist")
    description = ws.describe().to_frame()
    span = description.dropna(subset=["first"])
    meta = f"Workspace {ws.url}"
    if len(span):
        meta += f" · data from {span['first'].min():%Y-%m-%d} to {span['last'].max():%Y-%m-%d}"
    return write(path, title, build_sections(ws, headline), meta=meta, currency=ws.currency)
