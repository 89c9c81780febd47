"""Figures of what experience is worth: CLV by group, the ROX waterfall, churn hazard ratios.

Builders take a result and return a ``plotly.graph_objects.Figure``; they compute nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go

if TYPE_CHECKING:
    from rox.impact.hazard import ChurnHazard
    from rox.impact.rox_model import ROXModel
    from rox.impact.worth import Worth

__all__ = ["plot_churn_hazard", "plot_rox_model", "plot_worth"]

_BLUE, _GREY = "#1f5f8b", "#8a8a8a"


def plot_worth(result: Worth, *, title: str | None = None, **_: Any) -> go.Figure:
    """Mean CLV per group as bars, with the bootstrap interval as error bars."""
    f = result.frame
    groups = f[result.by].astype(str)
    colors = [_GREY if g == result.reference else _BLUE for g in groups]
    fig = go.Figure(
        go.Bar(
            x=groups,
            y=f["clv"],
            marker_color=colors,
            error_y={
                "type": "data",
                "symmetric": False,
                "array": f["clv_high"] - f["clv"],
                "arrayminus": f["clv"] - f["clv_low"],
            },
            customdata=f[["customers", "clv_low", "clv_high", "clv_ratio"]].to_numpy(),
            hovertemplate=(
                "%{x}<br>%{customdata[0]:,} customers<br>mean CLV %{y:,.0f} "
                "(%{customdata[1]:,.0f}–%{customdata[2]:,.0f})<br>"
                "ratio to the reference %{customdata[3]:.2f}<extra></extra>"
            ),
        )
    )
    level = f"{result.confidence:.0%}"
    fig.update_layout(
        title=title or f"Mean customer value by {result.by} ({level} bootstrap interval)",
        xaxis_title=result.by,
        yaxis_title=f"mean per customer: {result.value_basis}",
        template="plotly_white",
    )
    return fig


def plot_rox_model(result: ROXModel, *, title: str | None = None, **_: Any) -> go.Figure:
    """Waterfall from the moved customers' value now to their value at the target level.

    One step per channel (more purchases, lower dropout, higher spend), the channels' Shapley
    shares of the ROX; the hover text carries each channel's interval.
    """
    f = result.frame
    labels = ["value now", *f["meaning"].str.partition(" (")[0], "at the target level"]
    values = [result.observed_value, *f["rox"], result.observed_value + result.total]
    texts = [
        f"{result.observed_value:,.0f}",
        *[
            f"{v:+,.0f} ({lo:,.0f} to {hi:,.0f})"
            for v, lo, hi in zip(f["rox"], f["rox_low"], f["rox_high"], strict=True)
        ],
        f"{result.observed_value + result.total:,.0f}",
    ]
    fig = go.Figure(
        go.Waterfall(
            x=labels,
            y=values,
            measure=["absolute", *["relative"] * len(f), "total"],
            text=texts,
            textposition="outside",
            connector={"line": {"color": _GREY}},
            increasing={"marker": {"color": _BLUE}},
            totals={"marker": {"color": _GREY}},
        )
    )
    years = f"{result.horizon_years:g} years"
    fig.update_layout(
        title=title
        or (
            f"ROX of moving every {result.move} to {result.to}: {result.total:,.0f} over {years} "
            f"({result.confidence:.0%} interval {result.low:,.0f} to {result.high:,.0f}; "
            f"{result.label})"
        ),
        yaxis_title=f"value of the {result.moved:,} moved customers ({result.currency})".replace(
            " ()", ""
        ),
        template="plotly_white",
        showlegend=False,
    )
    return fig


def plot_churn_hazard(result: ChurnHazard, *, title: str | None = None, **_: Any) -> go.Figure:
    """Hazard ratios with their intervals on a log axis (1 = no difference from passives)."""
    f = result.frame
    names = [
        c if m == "group" else f"{m}: {c}" for m, c in zip(f["model"], f["covariate"], strict=True)
    ]
    fig = go.Figure(
        go.Scatter(
            x=f["hazard_ratio"],
            y=names,
            mode="markers",
            marker={"color": _BLUE, "size": 9},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": f["high"] - f["hazard_ratio"],
                "arrayminus": f["hazard_ratio"] - f["low"],
            },
            customdata=f[["low", "high", "e_value"]].to_numpy(),
            hovertemplate=(
                "%{y}: %{x:.2f} (%{customdata[0]:.2f}–%{customdata[1]:.2f})<br>"
                "E-value %{customdata[2]:.2f}<extra></extra>"
            ),
        )
    )
    fig.add_vline(x=1, line_color=_GREY, line_dash="dot")
    fig.update_layout(
        title=title
        or f"Hazard of churning against passives ({result.confidence:.0%} interval; associational)",
        xaxis={"type": "log", "title": "hazard ratio"},
        template="plotly_white",
    )
    return fig
