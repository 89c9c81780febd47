"""Figures of the comments' themes: what each theme costs in NPS, and how it moves over time.

Builders take a :class:`rox.voice.ThemeTable` and return a ``plotly.graph_objects.Figure``; they
compute nothing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go

if TYPE_CHECKING:
    from rox.voice.summary import ThemeTable

__all__ = ["theme_impact", "theme_trend"]

_RED, _BLUE = "#b23a48", "#1f5f8b"


def theme_impact(result: ThemeTable, *, title: str | None = None, **_: Any) -> go.Figure:
    """Each theme as a bubble: comments (x) against the NPS difference of those who mention it (y).

    Bubbles are sized by the value at risk when the table has one, else by the customers who
    mention the theme; the error bars are the difference's interval. Below zero, customers who
    mention the theme give a lower NPS than the others.
    """
    f = result.frame
    sizes = f["value_at_risk"] if f["value_at_risk"].notna().any() else f["customers"]
    scale = float(np.nanmax(sizes)) if len(f) and np.nanmax(sizes) > 0 else 1.0
    fig = go.Figure(
        go.Scatter(
            x=f["comments"],
            y=f["nps_difference"],
            mode="markers+text",
            text=f["theme"],
            textposition="top center",
            marker={
                "size": 12 + 38 * np.sqrt(np.nan_to_num(sizes.astype(float)) / scale),
                "color": np.where(f["nps_difference"] < 0, _RED, _BLUE),
                "opacity": 0.7,
            },
            error_y={
                "type": "data",
                "symmetric": False,
                "array": f["nps_difference_high"] - f["nps_difference"],
                "arrayminus": f["nps_difference"] - f["nps_difference_low"],
            },
            customdata=f[["language", "customers", "sentiment", "nps_mentioning"]].to_numpy(),
            hovertemplate=(
                "%{text} (%{customdata[0]})<br>%{x:,} comments, %{customdata[1]:,} customers<br>"
                "mean sentiment %{customdata[2]:.2f}<br>NPS of those who mention it "
                "%{customdata[3]:.1f}<br>difference %{y:.1f} points<extra></extra>"
            ),
        )
    )
    fig.add_hline(y=0, line_color="#8a8a8a", line_width=1)
    level = f"{result.confidence:.0%}"
    fig.update_layout(
        title=title
        or f"Theme impact: NPS of customers who mention it minus the others' ({level} interval)",
        xaxis_title="comments",
        yaxis_title="NPS difference (points)",
        template="plotly_white",
    )
    return fig


def theme_trend(result: ThemeTable, *, title: str | None = None, **_: Any) -> go.Figure:
    """Each theme's share of the period's comments, one line per theme."""
    t = result.trend
    fig = go.Figure()
    for theme_id, rows in t.groupby("theme_id", sort=False):
        label = str(rows["theme"].iloc[0])
        fig.add_trace(
            go.Scatter(
                x=rows["period"],
                y=rows["share"],
                mode="lines+markers",
                name=f"{label} [{theme_id}]",
                customdata=rows[["comments", "sentiment"]].to_numpy(),
                hovertemplate=(
                    f"{label}<br>%{{x}}: %{{y:.1%}} of comments (%{{customdata[0]:,}})<br>"
                    "mean sentiment %{customdata[1]:.2f}<extra></extra>"
                ),
            )
        )
    fig.update_layout(
        title=title or f"Themes by {result.period}: share of comments",
        xaxis_title=result.period,
        yaxis_title="share of comments",
        yaxis_tickformat=".0%",
        template="plotly_white",
    )
    return fig
