"""The performance-versus-importance quadrant of key drivers (:class:`rox.impact.KeyDrivers`).

Each driver is a point: across, its performance (mean on 0-100 of its observed range); up, its
importance (relative weight, the share of R**2 it carries) with its bootstrap interval. Lines at
the mean performance and at an equal share of R**2 split the plane into four quadrants; the
top-left one (important, performing below the others) is where to act first. Draws only.
"""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

import plotly.graph_objects as go

if TYPE_CHECKING:
    from rox.impact.drivers import KeyDrivers

__all__ = ["plot_drivers"]

_QUADRANTS = (
    ("act first", 0.02, 0.98, "left", "top"),
    ("keep it up", 0.98, 0.98, "right", "top"),
    ("lower priority", 0.02, 0.02, "left", "bottom"),
    ("possibly over-served", 0.98, 0.02, "right", "bottom"),
)


def plot_drivers(result: KeyDrivers, *, title: str | None = None, **_: Any) -> go.Figure:
    """Performance (x) against importance (y) of each driver, with quadrant lines."""
    frame = result.frame
    names = [html.escape(str(d)) for d in frame["driver"]]
    kind = "pseudo-R²" if result.binary else "R²"
    fig = go.Figure(
        go.Scatter(
            x=frame["performance_pct"],
            y=frame["rw"],
            mode="markers+text",
            text=names,
            textposition="top center",
            error_y={
                "type": "data",
                "symmetric": False,
                "array": frame["rw_high"] - frame["rw"],
                "arrayminus": frame["rw"] - frame["rw_low"],
                "thickness": 1,
            },
            customdata=frame[["n", "performance", "rw_pct", "rw_low", "rw_high"]].to_numpy(),
            hovertemplate=(
                "%{text}<br>performance %{customdata[1]:.2f} (%{x:.0f} of 100)"
                f"<br>share of {kind} %{{y:.3f}} (%{{customdata[3]:.3f}}-%{{customdata[4]:.3f}})"
                "<br>%{customdata[2]:.0f}% of the explained<br>%{customdata[0]} customers"
                "<extra></extra>"
            ),
            marker={"size": 11, "color": "#1f5f8b"},
            showlegend=False,
        )
    )
    if len(frame):
        fig.add_vline(x=float(frame["performance_pct"].mean()), line_dash="dot", line_color="grey")
        fig.add_hline(y=result.r2 / len(frame), line_dash="dot", line_color="grey")
    for label, x, y, xanchor, yanchor in _QUADRANTS:
        fig.add_annotation(
            text=label,
            x=x,
            y=y,
            xref="paper",
            yref="paper",
            xanchor=xanchor,
            yanchor=yanchor,
            showarrow=False,
            font={"color": "grey"},
        )
    heading = title or (
        f"Key drivers of {html.escape(result.outcome)}: {kind} {result.r2:.3f}, "
        f"{result.n_customers:,} customers"
    )
    fig.update_layout(
        title=heading,
        xaxis_title="performance (mean, 0-100 of the driver's range)",
        yaxis_title=f"importance (relative weight, share of {kind}; {result.level:.0%} interval)",
        template="plotly_white",
    )
    return fig
