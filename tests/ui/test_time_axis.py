"""Every timeline-like figure shares one time axis: same margins (so the same plotting width),
ticks visible, h:mm:ss.fff on long videos, legends above the plotting area."""

from __future__ import annotations

import numpy as np

from otcore.viz.axis import LEFT_PX, RIGHT_PX, format_time, time_ticks
from otcore.viz.fewshot import segments_figure
from otcore.viz.phases import alignment_figure, cluster_lane_figure, foreground_figure, plan_heatmap_figure


def test_long_videos_read_hh_mm_ss_fff() -> None:
    vals, text = time_ticks(540.0)
    assert vals[0] == 0 and vals[-1] <= 540.0 and len(vals) >= 4
    assert all(":" in t and "." in t for t in text)
    assert format_time(3723.5, long=True) == "1:02:03.500"
    assert format_time(12.5, long=False) == "12.5s"


def test_figures_share_margins_ticks_and_range() -> None:
    fps, n = 10.0, 5400  # 540 s
    clusters = np.repeat(np.arange(6) % 3, n // 6)
    plan = np.random.default_rng(0).random((n, 3))
    figs = [
        cluster_lane_figure(clusters, fps),
        plan_heatmap_figure(plan, fps),
        foreground_figure(np.linspace(0, 1, n), fps),
        segments_figure([], [], n / fps),
    ]
    for fig in figs:
        lay = fig.layout
        assert (lay.margin.l, lay.margin.r) == (LEFT_PX, RIGHT_PX)
        assert tuple(lay.xaxis.range) == (0, n / fps)
        assert lay.xaxis.showticklabels and lay.xaxis.ticks == "outside"
        assert all(":" in t for t in lay.xaxis.ticktext)
        assert lay.legend.y >= 1.0  # outside the plotting area
    align = alignment_figure(np.random.default_rng(1).random((101, 81)), 10.0, 10.0)
    assert (align.layout.margin.l, align.layout.margin.r) == (LEFT_PX, RIGHT_PX)
    assert align.layout.yaxis.range[0] > align.layout.yaxis.range[1]  # A's time runs down
