"""Figures of journeys: process map, Sankey of paths, funnel, friction ranking, channel switching.

Builders take a result and return a ``plotly.graph_objects.Figure``; they compute only layout.
"""

from __future__ import annotations

import itertools
from typing import TYPE_CHECKING, Any

import numpy as np
import plotly.graph_objects as go

if TYPE_CHECKING:
    from rox.journey.channels import ChannelSwitching
    from rox.journey.friction import FrictionTable
    from rox.journey.funnels import Funnel
    from rox.journey.maps import JourneyMap, PathTable

__all__ = ["plot_channels", "plot_friction", "plot_funnel", "plot_map", "plot_paths"]

_BLUE, _ORANGE, _GREY, _RED = "#1f5f8b", "#d9822b", "#8a8a8a", "#b03a2e"


def _layers(edges: Any, starts: list[str]) -> dict[str, int]:
    """Place each step at its shortest distance (in transitions) from a start step."""
    layer = dict.fromkeys(starts, 0)
    frontier = list(starts)
    pairs = list(zip(edges["source"], edges["target"], strict=True))
    while frontier:
        nxt = []
        for a, b in pairs:
            if a in frontier and b not in layer:
                layer[b] = layer[a] + 1
                nxt.append(b)
        frontier = nxt
    for a, b in pairs:  # steps unreachable from a start
        for s in (a, b):
            layer.setdefault(s, max(layer.values(), default=0) + 1)
    return layer


def plot_map(result: JourneyMap, *, title: str | None = None, **_: Any) -> go.Figure:
    """Process map: steps placed left to right by distance from the start, arrows by frequency."""
    edges = result.frame
    starts = result.starts["step"].tolist() if result.starts is not None else []
    layer = _layers(edges, starts[:1] or edges["source"].head(1).tolist())
    columns: dict[int, list[str]] = {}
    for step, k in sorted(layer.items(), key=lambda kv: (kv[1], kv[0])):
        columns.setdefault(k, []).append(step)
    # a snake of rows of five layers, so that long journeys stay readable
    per_row = 5
    pos = {}
    for k, col in columns.items():
        row, place = divmod(k, per_row)
        x = place if row % 2 == 0 else per_row - 1 - place
        for i, step in enumerate(col):
            pos[step] = (x + 0.25 * i, -2.0 * row - 0.7 * i)
    fig = go.Figure()
    width = edges["transitions"] / max(edges["transitions"].max(), 1) * 4 + 0.5
    for (a, b, n, h), w in zip(
        edges[["source", "target", "transitions", "median_hours"]].itertuples(index=False),
        width,
        strict=True,
    ):
        (x0, y0), (x1, y1) = pos[a], pos[b]
        fig.add_annotation(
            x=x1,
            y=y1,
            ax=x0,
            ay=y0,
            xref="x",
            yref="y",
            axref="x",
            ayref="y",
            showarrow=True,
            arrowhead=2,
            arrowsize=0.6,
            arrowwidth=float(w),
            arrowcolor=_BLUE,
            opacity=0.55,
            text="",
            standoff=8,
            startstandoff=8,
            hovertext=f"{a} → {b}: {n:,} (median {h:.1f} h)",
        )
    names = list(pos)
    fig.add_trace(
        go.Scatter(
            x=[pos[s][0] for s in names],
            y=[pos[s][1] for s in names],
            mode="markers+text",
            text=names,
            textposition="top center",
            marker={"size": 14, "color": _ORANGE},
            hoverinfo="text",
            showlegend=False,
        )
    )
    fig.update_layout(
        title=title or f"Journey map ({result.journeys:,} journeys, {len(edges)} transitions)",
        xaxis={"visible": False},
        yaxis={"visible": False},
        template="plotly_white",
        height=500,
    )
    return fig


def plot_paths(result: PathTable, *, title: str | None = None, **_: Any) -> go.Figure:
    """Sankey of the paths: step i -> step i+1, weighted by journeys."""
    links: dict[tuple[str, str], int] = {}
    for path, n in zip(result.frame["path"], result.frame["journeys"], strict=True):
        steps = [f"{i + 1}. {s}" for i, s in enumerate(path.split(" > "))]
        for a, b in itertools.pairwise(steps):
            links[(a, b)] = links.get((a, b), 0) + int(n)
    labels = sorted({x for pair in links for x in pair}, key=lambda s: (int(s.split(".")[0]), s))
    index = {s: i for i, s in enumerate(labels)}
    fig = go.Figure(
        go.Sankey(
            node={"label": labels, "pad": 12, "color": _ORANGE},
            link={
                "source": [index[a] for a, _ in links],
                "target": [index[b] for _, b in links],
                "value": list(links.values()),
                "color": "rgba(31,95,139,0.3)",
            },
        )
    )
    fig.update_layout(title=title or "Paths", template="plotly_white", height=500)
    return fig


def plot_funnel(result: Funnel, *, title: str | None = None, **_: Any) -> go.Figure:
    """Funnel chart; one funnel per group when broken down."""
    f = result.frame
    fig = go.Figure()
    groups = [(None, f)] if result.by is None else list(f.groupby(result.by, sort=True))
    for name, g in groups:
        fig.add_trace(
            go.Funnel(
                y=g["step"],
                x=g["journeys"],
                name=str(name) if name is not None else "journeys",
                textinfo="value+percent initial",
            )
        )
    fig.update_layout(title=title or f"Funnel ({result.mode})", template="plotly_white")
    return fig


def plot_friction(result: FrictionTable, *, title: str | None = None, **_: Any) -> go.Figure:
    """Steps by lost value, coloured by exit rate."""
    f = result.frame[result.frame["step"] != result.goal].iloc[::-1]
    fig = go.Figure(
        go.Bar(
            x=f["lost_value"],
            y=f["step"],
            orientation="h",
            marker={
                "color": f["exit_rate"],
                "colorscale": [[0, _BLUE], [1, _RED]],
                "colorbar": {"title": "exit rate"},
            },
            customdata=np.column_stack(
                [f["exit_rate"], f["journeys"], f["customers_affected"], f["value_at_risk"]]
            ),
            hovertemplate="%{y}: lost %{x:,.0f}; exit rate %{customdata[0]:.0%} of "
            "%{customdata[1]:,} journeys; %{customdata[2]:,} customers left, holding "
            f"%{{customdata[3]:,.0f}} ({result.value_basis})<extra></extra>",
        )
    )
    fig.update_layout(
        title=title or f"Friction points (goal: {result.goal})",
        xaxis_title=f"value lost to exits ({result.value_basis or 'revenue'})",
        template="plotly_white",
        height=max(300, 30 * len(f) + 120),
    )
    return fig


def plot_channels(result: ChannelSwitching, *, title: str | None = None, **_: Any) -> go.Figure:
    """Heatmap of moves from channel to channel."""
    m = result.matrix()
    fig = go.Figure(
        go.Heatmap(
            z=m.to_numpy(),
            x=list(m.columns),
            y=list(m.index),
            colorscale="Blues",
            hovertemplate="%{y} → %{x}: %{z:,}<extra></extra>",
        )
    )
    fig.update_layout(
        title=title
        or f"Channel switching ({result.cross_channel_share:.0%} of journeys cross channels)",
        xaxis_title="to",
        yaxis_title="from",
        template="plotly_white",
    )
    return fig
