"""One time axis for every timeline-like figure (lanes, transport-plan heatmaps, cluster lanes,
foreground curve, alignment): the same plotting width (fixed left/right margins, legends and
colour bars outside the plotting area, never over it), visible ticks in seconds on short videos
and ``h:mm:ss.fff`` on long ones (a minute or more), the range ``[0, duration]``.

Figures stacked on a page therefore line up: a time ``t`` sits at the same x on each.
"""

from __future__ import annotations

import math

import plotly.graph_objects as go

__all__ = ["LEFT_PX", "RIGHT_PX", "LONG_VIDEO_S", "format_time", "time_ticks", "apply_time_axis"]

#: plotting-area margins in pixels, the same on every figure (room for lane names / colour bars)
LEFT_PX, RIGHT_PX = 110, 110
#: from this duration on, ticks read h:mm:ss.fff instead of seconds
LONG_VIDEO_S = 60.0
_STEPS = (0.04, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200)


def format_time(t: float, *, long: bool) -> str:
    """``12.5s`` on short videos; ``m:ss.fff`` / ``h:mm:ss.fff`` on long ones."""
    if not long:
        return f"{t:g}s"
    ms = int(round(t * 1000))
    h, rem = divmod(ms, 3_600_000)
    m, rem = divmod(rem, 60_000)
    s, ms = divmod(rem, 1000)
    return f"{h}:{m:02d}:{s:02d}.{ms:03d}" if h else f"{m}:{s:02d}.{ms:03d}"


def time_ticks(duration: float, n: int = 8) -> tuple[list[float], list[str]]:
    """About ``n`` ticks at a round step over ``[0, duration]`` and their labels."""
    duration = max(float(duration), 1e-6)
    step = next((s for s in _STEPS if duration / s <= n), _STEPS[-1])
    vals = [i * step for i in range(int(math.floor(duration / step + 1e-9)) + 1)]
    long = duration >= LONG_VIDEO_S
    return vals, [format_time(v, long=long) for v in vals]


def apply_time_axis(fig: go.Figure, duration: float, *, title: str = "time", axes: str = "x") -> go.Figure:
    """Put the shared time axis on ``fig`` (its x axes, or ``axes="y"`` for a time-on-y plot):
    fixed margins, range ``[0, duration]``, round ticks shown on every subplot, legends above the
    plotting area and colour bars in the right margin. Returns ``fig``."""
    vals, text = time_ticks(duration)
    long = duration >= LONG_VIDEO_S
    spec = dict(
        range=[0, duration],
        tickmode="array",
        tickvals=vals,
        ticktext=text,
        showticklabels=True,
        ticks="outside",
        automargin=False,
    )
    (fig.update_xaxes if axes == "x" else fig.update_yaxes)(**spec)
    names = sorted(
        (k for k in fig.layout.to_plotly_json() if k.startswith(f"{axes}axis")),
        key=lambda k: int(k[5:] or 1),
    ) or [f"{axes}axis"]
    fig.layout[names[-1]].title.text = f"{title} ({'h:mm:ss.fff' if long else 's'})"  # the bottom one
    margin = fig.layout.margin
    fig.update_layout(
        margin=dict(l=LEFT_PX, r=RIGHT_PX, t=max(int(margin.t or 0), 50), b=max(int(margin.b or 0), 45)),
        legend=dict(orientation="h", yanchor="bottom", y=1.02, xanchor="left", x=0.0),
    )
    for trace in fig.data:
        if getattr(trace, "type", None) == "heatmap" and getattr(trace, "colorbar", None) is not None:
            trace.colorbar.update(x=1.0, xpad=6, thickness=12, len=1.0)
    if fig.layout.coloraxis is not None:
        fig.update_layout(coloraxis_colorbar=dict(x=1.0, xpad=6, thickness=12))
    return fig
