"""Figures of what to do: lifecycle phases over time, the moves between phases, value at risk.

Builders take a result and return a ``plotly.graph_objects.Figure``; they compute nothing.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any, Literal

import plotly.graph_objects as go

if TYPE_CHECKING:
    from rox.actions.at_risk import AtRisk
    from rox.actions.lifecycle import Lifecycle

__all__ = ["plot_at_risk", "plot_lifecycle"]

#: A colour per phase: healthy phases cool, the risk warm.
_COLORS = {
    "new": "#4c9be8",
    "reactivated": "#2ca02c",
    "active": "#1f5f8b",
    "at risk": "#f0a030",
    "lapsed": "#c0392b",
}


def plot_lifecycle(
    result: Lifecycle,
    *,
    kind: Literal["phases", "migration"] = "phases",
    share: bool = True,
    title: str | None = None,
    **_: Any,
) -> go.Figure:
    """Customers per phase over time, stacked (``kind="phases"``), or the moves between phases.

    ``kind="migration"`` draws the matrix of moves from each phase (rows) to each phase in the
    next period (columns), pooled over periods, as a heat map: each row's share of moves with
    ``share`` (the text gives the counts), else the counts.
    """
    if kind == "migration":
        counts = result.matrix()
        z = result.matrix(share=True) if share else counts
        fig = go.Figure(
            go.Heatmap(
                z=z.to_numpy(),
                x=list(z.columns),
                y=list(z.index),
                text=counts.to_numpy(),
                texttemplate="%{text:,}",
                colorscale="Blues",
                colorbar={"title": "share of row" if share else "customers"},
                hovertemplate="%{y} → %{x}: %{text:,} customers<extra></extra>",
            )
        )
        fig.update_layout(
            title=title or f"Moves between lifecycle phases from one {result.period} to the next",
            xaxis_title="phase at the period's end",
            yaxis_title="phase a period before",
            yaxis_autorange="reversed",
            template="plotly_white",
        )
        return fig
    if kind != "phases":
        raise ValueError(f"kind={kind!r}: expected 'phases' or 'migration'")
    wide = result.counts()
    fig = go.Figure()
    for phase in wide.columns:
        fig.add_trace(
            go.Bar(
                x=list(wide.index),
                y=wide[phase],
                name=phase,
                marker_color=_COLORS.get(phase),
                hovertemplate=f"%{{x}}: %{{y:,}} {phase}<extra></extra>",
            )
        )
    fig.update_layout(
        barmode="stack",
        title=title or f"Customers by lifecycle phase and {result.period}",
        xaxis_title=result.period,
        yaxis_title="customers",
        legend_traceorder="normal",
        template="plotly_white",
    )
    return fig


def plot_at_risk(result: AtRisk, *, top: int = 20, title: str | None = None, **_: Any) -> go.Figure:
    """The ``top`` customers by value at risk, as horizontal bars with their reasons on hover."""
    f = result.frame.head(top).iloc[::-1]
    fig = go.Figure(
        go.Bar(
            x=f["value_at_risk"],
            y=f["customer_id"],
            orientation="h",
            marker_color=_COLORS["at risk"],
            customdata=[
                [c, "<br>".join(html.escape(x) for x in r)]
                for c, r in zip(f["clv"], f["reasons"], strict=True)
            ],
            hovertemplate=(
                "%{y}: %{x:,.0f} at risk (CLV %{customdata[0]:,.0f})<br>%{customdata[1]}"
                "<extra></extra>"
            ),
        )
    )
    fig.update_layout(
        title=title or f"Customers at risk: value at risk ({result.measure})",
        xaxis_title=f"value at risk ({result.value_basis})",
        template="plotly_white",
    )
    return fig
