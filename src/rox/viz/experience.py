"""Figures of experience metrics: trends with interval bands, bars with error bars, comparisons.

Builders take a result object and return a ``plotly.graph_objects.Figure``; they compute nothing
but the drawing.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pandas as pd
import plotly.graph_objects as go

if TYPE_CHECKING:
    from rox.experience.compare import Comparison
    from rox.experience.metrics import ExperienceResult

__all__ = ["bars", "comparison", "plot_comparison", "plot_result", "trend"]

_LOW_N = "rgba(150,150,150,0.6)"
_PALETTE = ["#1f5f8b", "#d9822b", "#2e8540", "#b03a2e", "#6c4f9e", "#5f6b6d", "#c0a000"]


def plot_result(result: ExperienceResult, **kwargs: Any) -> go.Figure:
    """A trend if the result has periods, else bars by group."""
    return trend(result, **kwargs) if result.period else bars(result, **kwargs)


def _label(result: ExperienceResult) -> str:
    return f"{result.metric.upper()} ({result.unit})"


def _group_names(frame: pd.DataFrame, by: tuple[str, ...]) -> pd.Series:
    if not by:
        return pd.Series(["all"] * len(frame), index=frame.index)
    return frame[list(by)].astype(str).agg(" / ".join, axis=1)


def trend(result: ExperienceResult, *, title: str | None = None) -> go.Figure:
    """One line per group over the periods, with its confidence interval as a band.

    Periods of groups under the minimum n are drawn as hollow markers.
    """
    frame = result.frame.sort_values("period")
    names = _group_names(frame, result.by)
    fig = go.Figure()
    for i, (name, g) in enumerate(frame.groupby(names, sort=True)):
        color = _PALETTE[i % len(_PALETTE)]
        fig.add_trace(
            go.Scatter(
                x=pd.concat([g["period"], g["period"][::-1]]),
                y=pd.concat([g["ci_high"], g["ci_low"][::-1]]),
                fill="toself",
                fillcolor=color,
                opacity=0.15,
                line={"width": 0},
                hoverinfo="skip",
                showlegend=False,
                legendgroup=str(name),
            )
        )
        fig.add_trace(
            go.Scatter(
                x=g["period"],
                y=g["estimate"],
                mode="lines+markers",
                name=str(name),
                legendgroup=str(name),
                line={"color": color},
                marker={"symbol": ["circle-open" if low else "circle" for low in g["low_n"]]},
                customdata=g[["ci_low", "ci_high", "n"]].to_numpy(),
                hovertemplate=(
                    "%{x|%Y-%m-%d}: %{y:.1f} (%{customdata[0]:.1f} to %{customdata[1]:.1f}), "
                    "n = %{customdata[2]}<extra>" + str(name) + "</extra>"
                ),
            )
        )
    fig.update_layout(
        title=title or f"{result.metric.upper()} by {result.period}",
        xaxis_title=result.period,
        yaxis_title=_label(result),
        template="plotly_white",
        hovermode="x unified",
    )
    return fig


def bars(result: ExperienceResult, *, title: str | None = None) -> go.Figure:
    """One bar per group with its confidence interval; groups under the minimum n are grey."""
    frame = result.frame.sort_values("estimate")
    names = _group_names(frame, result.by)
    colors = [_LOW_N if low else _PALETTE[0] for low in frame["low_n"]]
    fig = go.Figure(
        go.Bar(
            x=frame["estimate"],
            y=names,
            orientation="h",
            marker_color=colors,
            error_x={
                "type": "data",
                "symmetric": False,
                "array": frame["ci_high"] - frame["estimate"],
                "arrayminus": frame["estimate"] - frame["ci_low"],
            },
            customdata=frame[["ci_low", "ci_high", "n"]].to_numpy(),
            hovertemplate=(
                "%{y}: %{x:.1f} (%{customdata[0]:.1f} to %{customdata[1]:.1f}), "
                "n = %{customdata[2]}<extra></extra>"
            ),
        )
    )
    by = ", ".join(result.by) or "overall"
    fig.update_layout(
        title=title or f"{result.metric.upper()} by {by}",
        xaxis_title=_label(result),
        template="plotly_white",
        height=max(300, 40 * len(frame) + 120),
    )
    return fig


def comparison(result: Comparison, *, title: str | None = None) -> go.Figure:
    """Each difference with its interval: significant ones coloured, unjudged ones grey."""
    frame = result.frame
    keys = result.group_columns
    label = frame["b"].astype(str) + " vs " + frame["a"].astype(str)
    if keys:
        label = frame[keys].astype(str).agg(" / ".join, axis=1) + ": " + label
    colors = [
        _LOW_N if low else ("#2e8540" if d > 0 else "#b03a2e") if sig else _PALETTE[0]
        for low, sig, d in zip(
            frame["low_n"], frame["significant"], frame["difference"], strict=True
        )
    ]
    fig = go.Figure(
        go.Scatter(
            x=frame["difference"],
            y=label,
            mode="markers",
            marker={"color": colors, "size": 10},
            error_x={
                "type": "data",
                "symmetric": False,
                "array": frame["ci_high"] - frame["difference"],
                "arrayminus": frame["difference"] - frame["ci_low"],
            },
            text=frame["verdict"],
            hovertemplate="%{text}<extra></extra>",
        )
    )
    fig.add_vline(x=0, line_dash="dot", line_color="grey")
    fig.update_layout(
        title=title or f"Difference in {result.metric.upper()} ({result.test})",
        xaxis_title="difference (b - a)",
        template="plotly_white",
        height=max(300, 40 * len(frame) + 120),
    )
    return fig


plot_comparison = comparison
