"""Figures of customer value: CLV distribution, holdout validation, cohorts, survival, Lorenz.

Builders take a result and return a ``plotly.graph_objects.Figure``; they compute nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go
from plotly.subplots import make_subplots

if TYPE_CHECKING:
    from rox.value.clv import CLV
    from rox.value.concentration import Concentration
    from rox.value.holdout import HoldoutValidation
    from rox.value.retention import CohortRetention, Survival

__all__ = ["plot_clv", "plot_cohorts", "plot_lorenz", "plot_survival", "plot_validation"]

_BLUE, _ORANGE, _GREY = "#1f5f8b", "#d9822b", "#8a8a8a"
_PALETTE = ["#1f5f8b", "#d9822b", "#2e8540", "#b03a2e", "#6c4f9e", "#5f6b6d", "#c0a000"]


def plot_clv(result: CLV, *, title: str | None = None, **_: Any) -> go.Figure:
    """Distribution of CLV across customers (log-scaled counts)."""
    fig = go.Figure(go.Histogram(x=result.frame["clv"], nbinsx=60, marker_color=_BLUE))
    fig.update_layout(
        title=title or f"Customer lifetime value over {result.horizon:g} {result.unit}",
        xaxis_title="CLV",
        yaxis_title="customers",
        yaxis_type="log",
        template="plotly_white",
    )
    return fig


def plot_validation(result: HoldoutValidation, *, title: str | None = None, **_: Any) -> go.Figure:
    """Tracking curve (if computed) and holdout purchases by calibration frequency."""
    tr = result.tracking
    has_tracking = tr is not None
    fig = make_subplots(
        rows=1,
        cols=2 if has_tracking else 1,
        subplot_titles=(["Cumulative repeat purchases"] if has_tracking else [])
        + ["Holdout purchases by calibration frequency"],
    )
    col = 1
    if tr is not None:
        fig.add_trace(
            go.Scatter(x=tr["t"], y=tr["actual"], name="actual", line={"color": _BLUE}),
            row=1,
            col=1,
        )
        fig.add_trace(
            go.Scatter(
                x=tr["t"], y=tr["predicted"], name="model", line={"color": _ORANGE, "dash": "dash"}
            ),
            row=1,
            col=1,
        )
        start = tr.loc[tr["holdout"], "t"].min()
        fig.add_vline(x=start, line_dash="dot", line_color=_GREY, row=1, col=1)
        col = 2
    f = result.frame
    fig.add_trace(
        go.Bar(x=f["frequency"], y=f["actual"], name="actual (mean)", marker_color=_BLUE),
        row=1,
        col=col,
    )
    fig.add_trace(
        go.Bar(x=f["frequency"], y=f["predicted"], name="model (mean)", marker_color=_ORANGE),
        row=1,
        col=col,
    )
    fig.update_layout(title=title or "Holdout validation", template="plotly_white", barmode="group")
    return fig


def plot_cohorts(result: CohortRetention, *, title: str | None = None, **_: Any) -> go.Figure:
    """Heatmap of retention by acquisition cohort and period since acquisition."""
    m = result.matrix()
    fig = go.Figure(
        go.Heatmap(
            z=m.to_numpy(),
            x=[str(c) for c in m.columns],
            y=[c.strftime("%Y-%m-%d") for c in m.index],
            colorscale="Blues",
            zmin=0,
            zmax=1,
            hovertemplate="cohort %{y}, period %{x}: %{z:.1%}<extra></extra>",
        )
    )
    fig.update_layout(
        title=title or f"Retention by {result.period} of acquisition",
        xaxis_title=f"{result.period}s since acquisition",
        yaxis_title="cohort",
        yaxis_autorange="reversed",
        template="plotly_white",
    )
    return fig


def plot_survival(result: Survival, *, title: str | None = None, **_: Any) -> go.Figure:
    """Kaplan-Meier curves with their 95% bands."""
    fig = go.Figure()
    for i, (name, g) in enumerate(result.frame.groupby("group", sort=True)):
        color = _PALETTE[i % len(_PALETTE)]
        fig.add_trace(
            go.Scatter(
                x=g["days"],
                y=g["survival"],
                name=str(name),
                line={"color": color, "shape": "hv"},
                legendgroup=str(name),
            )
        )
        fig.add_trace(
            go.Scatter(
                x=list(g["days"]) + list(g["days"][::-1]),
                y=list(g["ci_high"]) + list(g["ci_low"][::-1]),
                fill="toself",
                fillcolor=color,
                opacity=0.15,
                line={"width": 0},
                showlegend=False,
                hoverinfo="skip",
                legendgroup=str(name),
            )
        )
    fig.update_layout(
        title=title
        or f"Customer survival (lost after {result.inactive_after} days without a purchase)",
        xaxis_title="days since first purchase",
        yaxis_title="still a customer",
        yaxis_range=[0, 1],
        template="plotly_white",
    )
    return fig


def plot_lorenz(result: Concentration, *, title: str | None = None, **_: Any) -> go.Figure:
    """Lorenz curve with the line of equality."""
    f = result.frame
    fig = go.Figure(
        [
            go.Scatter(
                x=f["customer_share"],
                y=f["value_share"],
                name="Lorenz curve",
                line={"color": _BLUE},
                fill="tonexty",
            ),
            go.Scatter(x=[0, 1], y=[0, 1], name="equality", line={"color": _GREY, "dash": "dot"}),
        ]
    )
    fig.update_layout(
        title=title
        or (
            f"{result.measure}: top {result.top:.0%} hold {result.top_share:.0%}, "
            f"Gini {result.gini:.2f}"
        ),
        xaxis_title="share of customers (lowest value first)",
        yaxis_title=f"share of {result.measure}",
        xaxis_tickformat=".0%",
        yaxis_tickformat=".0%",
        template="plotly_white",
    )
    return fig
