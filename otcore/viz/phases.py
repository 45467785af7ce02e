"""Plotly figures for the label-free views: cluster lane, frame×cluster plan, alignment plan, foreground curve.

Plain ``plotly.graph_objects`` figures (no Streamlit); times on the x axis are seconds.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import plotly.graph_objects as go

from otcore.viz.axis import apply_time_axis, time_ticks

__all__ = ["PALETTE", "cluster_lane_figure", "plan_heatmap_figure", "alignment_figure", "foreground_figure"]

#: Qualitative colours for clusters (cycled).
PALETTE = [
    "#1f77b4",
    "#ff7f0e",
    "#2ca02c",
    "#d62728",
    "#9467bd",
    "#8c564b",
    "#e377c2",
    "#7f7f7f",
    "#bcbd22",
    "#17becf",
    "#393b79",
    "#637939",
    "#8c6d31",
    "#843c39",
    "#7b4173",
    "#3182bd",
]


def _runs(labels: np.ndarray) -> list[tuple[int, int, int]]:
    out = []
    s = 0
    for i in range(1, len(labels) + 1):
        if i == len(labels) or labels[i] != labels[s]:
            out.append((int(labels[s]), s, i))
            s = i
    return out


def cluster_lane_figure(
    clusters: Sequence[int] | np.ndarray,
    fps: float,
    names: Sequence[str] | None = None,
    title: str = "phases",
    height: int = 140,
) -> go.Figure:
    """One horizontal lane: each run of a cluster is a coloured bar over its time span (hover: cluster, times)."""
    lab = np.asarray(clusters).reshape(-1)
    fig = go.Figure()
    seen: set[int] = set()
    for k, s, e in _runs(lab):
        name = names[k] if names is not None and k < len(names) else f"cluster {k}"
        fig.add_trace(
            go.Bar(
                x=[(e - s) / fps],
                y=["phases"],
                base=[s / fps],
                orientation="h",
                marker_color=PALETTE[k % len(PALETTE)],
                name=name,
                legendgroup=name,
                showlegend=k not in seen,
                hovertemplate=f"{name}<br>%{{base:.2f}}–{e / fps:.2f} s<extra></extra>",
            )
        )
        seen.add(k)
    fig.update_layout(
        barmode="overlay",
        title=title,
        height=height,
        margin=dict(l=10, r=10, t=30, b=20),
        yaxis_visible=False,
    )
    return apply_time_axis(fig, len(lab) / fps if len(lab) else 1.0)


def plan_heatmap_figure(
    plan: np.ndarray,
    fps: float,
    names: Sequence[str] | None = None,
    title: str = "frame × cluster transport plan",
    height: int = 280,
) -> go.Figure:
    """Heatmap of a ``[T, K]`` plan (rows renormalised), clusters on the y axis, time on the x axis."""
    p = np.asarray(plan, dtype=np.float64)
    p = p / np.clip(p.sum(1, keepdims=True), 1e-30, None)
    t = np.arange(p.shape[0]) / fps
    ys = list(names) if names is not None else [f"cluster {k}" for k in range(p.shape[1])]
    fig = go.Figure(go.Heatmap(z=p.T, x=t, y=ys, colorscale="Viridis", colorbar_title="mass"))
    fig.update_layout(title=title, height=height, margin=dict(l=10, r=10, t=30, b=20))
    return apply_time_axis(fig, p.shape[0] / fps if p.shape[0] else 1.0)


def alignment_figure(
    plan: np.ndarray,
    fps_a: float,
    fps_b: float,
    frame_a: int | None = None,
    match: int | None = None,
    title: str = "alignment plan (A rows × B columns)",
    height: int = 420,
) -> go.Figure:
    """Heatmap of an ``[N+1, M+1]`` alignment plan without the dummy row/column; a marker at the chosen
    frame of A and its matched frame of B."""
    p = np.asarray(plan, dtype=np.float64)[:-1, :-1]
    p = p / np.clip(p.sum(1, keepdims=True), 1e-30, None)
    ta, tb = np.arange(p.shape[0]) / fps_a, np.arange(p.shape[1]) / fps_b
    fig = go.Figure(go.Heatmap(z=p, x=tb, y=ta, colorscale="Viridis", colorbar_title="mass"))
    if frame_a is not None and match is not None and match >= 0:
        fig.add_trace(
            go.Scatter(
                x=[match / fps_b],
                y=[frame_a / fps_a],
                mode="markers",
                marker=dict(symbol="x", size=12, color="red"),
                name="chosen frame",
            )
        )
    fig.update_layout(
        title=title,
        height=height,
        margin=dict(l=10, r=10, t=30, b=20),
    )
    apply_time_axis(fig, p.shape[1] / fps_b if p.shape[1] else 1.0, title="video B time")
    vals, text = time_ticks(p.shape[0] / fps_a if p.shape[0] else 1.0)
    fig.update_yaxes(
        title_text="video A time",
        tickmode="array",
        tickvals=vals,
        ticktext=text,
        range=[p.shape[0] / fps_a if p.shape[0] else 1.0, 0],
        automargin=False,
    )
    return fig


def foreground_figure(
    p_fg: np.ndarray,
    fps: float,
    p_att: np.ndarray | None = None,
    p_clu: np.ndarray | None = None,
    title: str = "foreground probability",
    height: int = 220,
) -> go.Figure:
    """Foreground probability over time (fused, and optionally its attention and cluster parts)."""
    t = np.arange(len(p_fg)) / fps
    fig = go.Figure(
        go.Scatter(x=t, y=np.asarray(p_fg), mode="lines", name="foreground (fused)", line_width=2)
    )
    if p_att is not None:
        fig.add_trace(go.Scatter(x=t, y=np.asarray(p_att), mode="lines", name="attention", line_dash="dot"))
    if p_clu is not None:
        fig.add_trace(go.Scatter(x=t, y=np.asarray(p_clu), mode="lines", name="clusters", line_dash="dash"))
    fig.update_layout(
        title=title,
        height=height,
        margin=dict(l=10, r=10, t=30, b=20),
        yaxis_range=[0, 1],
    )
    return apply_time_axis(fig, len(p_fg) / fps if len(p_fg) else 1.0)
