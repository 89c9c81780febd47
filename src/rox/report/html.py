"""Render a self-contained HTML report: one file, plotly.js inlined, no network access needed.

Every piece of user text (titles, group names, table cells) is HTML-escaped here, in one place.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from importlib.resources import files
from string import Template
from typing import TYPE_CHECKING, Any

import pandas as pd

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

__all__ = ["Kpi", "Section", "render", "render_section", "write"]


@dataclass(frozen=True)
class Kpi:
    """A headline figure: label, value and its interval, already formatted."""

    label: str
    value: str
    detail: str = ""


@dataclass(frozen=True)
class Section:
    """One section of the report: a title, plain-text findings, then tables and figures."""

    title: str
    findings: tuple[str, ...] = ()
    kpis: tuple[Kpi, ...] = ()
    tables: tuple[pd.DataFrame, ...] = ()
    figures: tuple[Any, ...] = field(default=(), compare=False)


def render(
    title: str, sections: list[Section], *, meta: str = "", currency: str | None = None
) -> str:
    """Return the report as one HTML document.

    Parameters
    ----------
    title : str
        Page title (escaped).
    sections : list of Section
        Content, in order.
    meta : str
        One line under the title (escaped), e.g. the workspace and the time span.
    currency : str, optional
        ISO 4217 code shown with the money in the tables.
    """
    import plotly.offline

    from rox import __version__

    template = Template(files("rox.report").joinpath("templates/report.html").read_text("utf-8"))
    body = "\n".join(render_section(s, currency) for s in sections)
    return template.substitute(
        title=html.escape(title),
        meta=html.escape(meta),
        body=body,
        version=html.escape(__version__),
        # plotly.js contains no "</script>" sequence, so it can be inlined as is.
        plotlyjs=plotly.offline.get_plotlyjs(),
    )


def write(
    path: Path,
    title: str,
    sections: list[Section],
    *,
    meta: str = "",
    currency: str | None = None,
) -> Path:
    """Render the report and write it to ``path`` (UTF-8); return the path."""
    path.write_text(render(title, sections, meta=meta, currency=currency), encoding="utf-8")
    return path


def _inline_figure(fig: Any) -> str:
    html_text: str = fig.to_html(full_html=False, include_plotlyjs=False)
    return html_text


def render_section(
    section: Section, currency: str | None = None, figure: Callable[[Any], str] = _inline_figure
) -> str:
    """One section as HTML (user text escaped); ``figure`` turns a plotly figure into HTML."""
    parts = [f"<section><h2>{html.escape(section.title)}</h2>"]
    if section.kpis:
        cards = "".join(
            '<div class="kpi">'
            f'<div class="label">{html.escape(k.label)}</div>'
            f'<div class="value">{html.escape(k.value)}</div>'
            f'<div class="ci">{html.escape(k.detail)}</div></div>'
            for k in section.kpis
        )
        parts.append(f'<div class="kpis">{cards}</div>')
    if section.findings:
        items = "".join(f"<li>{html.escape(f)}</li>" for f in section.findings)
        parts.append(f'<ul class="findings">{items}</ul>')
    parts.extend(f'<div class="figure">{figure(fig)}</div>' for fig in section.figures)
    parts.extend(_table(t, currency) for t in section.tables)
    parts.append("</section>")
    return "\n".join(parts)


def _table(frame: pd.DataFrame, currency: str | None = None) -> str:
    from rox._display import SMALL_FLAGS, display_frame

    numeric = [
        pd.api.types.is_numeric_dtype(frame[c]) and not pd.api.types.is_bool_dtype(frame[c])
        for c in frame.columns
    ]
    shown = display_frame(frame, "html", currency=currency)
    head = "".join(
        f'<th class="{"num" if n else ""}">{html.escape(str(c))}</th>'
        for c, n in zip(frame.columns, numeric, strict=True)
    )
    badges = set(SMALL_FLAGS.values())
    rows = []
    for rec in shown.itertuples(index=False):
        cells = "".join(
            f'<td class="{"num" if n else ""}">{_cell(v, badges)}</td>'
            for v, n in zip(rec, numeric, strict=True)
        )
        rows.append(f"<tr>{cells}</tr>")
    return f"<table><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def _cell(text: str, badges: set[str]) -> str:
    """A cell's text, escaped; a small-sample flag as a badge a reader notices."""
    if text in badges:
        return f'<span class="badge" title="too few responses to trust">{html.escape(text)}</span>'
    return html.escape(text)
