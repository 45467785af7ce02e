"""Plotly figures for few-shot localization: transport plans (prompts × time) per pyramid level,
with predicted and manual segments drawn under them on the same time axis.

``plan_figure(plans, class_name, fps, duration, predicted, manual)``: one heatmap row per pyramid
level (``plans["level{l}/{class}"]`` is ``[T_l, N]``; level ``l`` cell ``t`` spans
``[t·2^l, (t+1)·2^l) / fps`` seconds), then one lane of segments (predicted, with score as opacity, and
manual). All subplots share the x axis (seconds).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from otcore.viz.axis import apply_time_axis

__all__ = ["plan_figure", "segments_figure", "plan_levels"]

_KEY = re.compile(r"^level(?P<l>\d+)/(?P<c>.+)$")


def plan_levels(plans: Mapping[str, Any], class_name: str) -> list[tuple[int, np.ndarray]]:
    """The plans of one class as ``[(level, array [T_l, N])]`` sorted by level."""
    out = []
    for key, plan in plans.items():
        m = _KEY.match(key)
        if m and m.group("c") == class_name:
            out.append((int(m.group("l")), np.asarray(plan, dtype=np.float64)))
    return sorted(out, key=lambda r: r[0])


def _segment_traces(segments: Sequence[Any], lane: str, color: str, fig: go.Figure, row: int) -> None:
    for s in segments:
        score = getattr(s, "score", None)
        opacity = 0.35 + 0.65 * float(score) if score is not None else 0.9
        text = f"{s.label} [{s.start:.2f}, {s.end:.2f})" + (
            f" score {score:.2f}" if score is not None else ""
        )
        fig.add_trace(
            go.Scatter(
                x=[s.start, s.end, s.end, s.start, s.start],
                y=[0, 0, 1, 1, 0],
                fill="toself",
                mode="lines",
                line={"width": 0},
                fillcolor=color,
                opacity=min(1.0, opacity),
                name=lane,
                showlegend=False,
                hoverinfo="text",
                text=text,
            ),
            row=row,
            col=1,
        )


def segments_figure(predicted: Sequence[Any], manual: Sequence[Any], duration: float) -> go.Figure:
    """Two lanes (predicted, manual) of segments over ``[0, duration]`` seconds."""
    fig = make_subplots(
        rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.05, subplot_titles=("predicted", "manual")
    )
    _segment_traces(predicted, "predicted", "#d62728", fig, 1)
    _segment_traces(manual, "manual", "#1f77b4", fig, 2)
    fig.update_yaxes(visible=False, range=[0, 1])
    fig.update_layout(height=220, margin={"l": 40, "r": 10, "t": 30, "b": 30})
    return apply_time_axis(fig, duration)


def plan_figure(
    plans: Mapping[str, Any],
    class_name: str,
    fps: float,
    duration: float | None = None,
    predicted: Sequence[Any] = (),
    manual: Sequence[Any] = (),
) -> go.Figure:
    """Heatmaps of the transport plan (prompts × time) per pyramid level for ``class_name``, then the
    predicted and manual segments of that class, all on one time axis in seconds."""
    levels = plan_levels(plans, class_name)
    if not levels:
        raise KeyError(f"no plans for class {class_name!r}")
    if duration is None:
        duration = levels[0][1].shape[0] / fps
    n = len(levels)
    titles = [f"level {l} (stride {2**l})" for l, _ in levels] + ["predicted", "manual"]
    heights = [1.0] * n + [0.35, 0.35]
    fig = make_subplots(
        rows=n + 2,
        cols=1,
        shared_xaxes=True,
        vertical_spacing=0.03,
        subplot_titles=titles,
        row_heights=heights,
    )
    for i, (l, plan) in enumerate(levels):
        stride = 2**l
        t = (np.arange(plan.shape[0]) + 0.5) * stride / fps
        fig.add_trace(
            go.Heatmap(
                z=plan.T,
                x=t,
                y=[f"prompt {k}" for k in range(plan.shape[1])],
                coloraxis="coloraxis",
                hovertemplate="t=%{x:.2f}s %{y}: %{z:.3f}<extra>level " + str(l) + "</extra>",
            ),
            row=i + 1,
            col=1,
        )
    _segment_traces([s for s in predicted if s.label == class_name], "predicted", "#d62728", fig, n + 1)
    _segment_traces([s for s in manual if s.label == class_name], "manual", "#1f77b4", fig, n + 2)
    fig.update_yaxes(visible=False, range=[0, 1], row=n + 1, col=1)
    fig.update_yaxes(visible=False, range=[0, 1], row=n + 2, col=1)
    fig.update_layout(
        height=130 * n + 160,
        margin={"l": 60, "r": 10, "t": 40, "b": 40},
        coloraxis={"colorscale": "Viridis", "colorbar": {"title": "mass (row-normalised)"}},
        title=f"transport plan: {class_name}",
    )
    return apply_time_axis(fig, duration)
