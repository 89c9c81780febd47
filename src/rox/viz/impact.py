"""Figures of what experience is worth: mean CLV by experience group with its interval.

Builders take a result and return a ``plotly.graph_objects.Figure``; they compute nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go

if TYPE_CHECKING:
    from rox.impact.worth import Worth

__all__ = ["plot_worth"]

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
