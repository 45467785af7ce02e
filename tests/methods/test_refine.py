"""Boundary refinement: proposal boundaries snap to the strongest feature change nearby."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from otcore.methods.refine import feature_change, refine_segments, snap_boundary
from otcore.types import Segment


def _blocks(lengths: list[int], dim: int = 8, seed: int = 0) -> np.ndarray:
    """Piecewise-constant features (one random direction per block) plus a little noise."""
    rng = np.random.default_rng(seed)
    rows = [np.tile(rng.normal(size=dim), (n, 1)) for n in lengths]
    x = np.concatenate(rows)
    return x + rng.normal(0, 0.01, size=x.shape)


def test_feature_change_peaks_at_block_edges() -> None:
    x = _blocks([5, 4, 6])
    c = feature_change(x)
    assert c.shape == (16,) and c[0] == 0.0 and c[-1] == 0.0
    inner = np.argsort(c)[::-1][:2]
    assert sorted(inner.tolist()) == [5, 9]
    assert np.allclose(feature_change(torch.from_numpy(x)), c)


def test_snap_boundary_within_radius_and_ties_nearest() -> None:
    c = np.array([0.0, 0.1, 0.9, 0.1, 0.1, 0.8, 0.0])
    assert snap_boundary(3, c, 1) == 2  # the peak at 2 is within one step
    assert snap_boundary(4, c, 1) == 5
    assert snap_boundary(4, c, 0) == 4
    assert snap_boundary(4, c, 2) == 2  # 0.9 at 2 beats 0.8 at 5
    assert snap_boundary(0, c, 2) == 0 and snap_boundary(6, c, 2) == 6  # video edges stay
    flat = np.array([0.0, 0.5, 0.5, 0.5, 0.0])
    assert snap_boundary(2, flat, 1) == 2  # a tie keeps the nearest position


def test_refine_segments_moves_boundaries_onto_the_true_edges() -> None:
    fps = 2.0
    x = _blocks([6, 8, 6])  # true edges at frames 6 and 14 = 3.0 s and 7.0 s
    props = [Segment("a", 3.5, 6.5, 0.7), Segment("b", 7.5, 10.0, 0.4)]
    got = refine_segments(props, x, fps, radius=1)
    assert got[0] == Segment("a", 3.0, 7.0, 0.7)
    assert got[1].start == 7.0 and got[1].end == 10.0  # the end has no change nearby: stays
    assert got[1].score == 0.4 and got[1].label == "b"
    assert refine_segments(props, x, fps, radius=0) == props
    # two steps away: radius 1 cannot reach the edge, radius 2 can
    far = [Segment("a", 4.0, 6.0, 0.5)]
    assert refine_segments(far, x, fps, radius=1)[0].start != 3.0
    assert refine_segments(far, x, fps, radius=2)[0] == Segment("a", 3.0, 7.0, 0.5)


def test_refine_never_empties_a_segment_and_rejects_bad_settings() -> None:
    x = _blocks([4, 4])
    short = [Segment("a", 1.5, 2.5)]  # both boundaries would snap onto frame 4 (2.0 s at 2 fps)
    assert refine_segments(short, x, 2.0, radius=1) == short  # kept as it was
    with pytest.raises(ValueError, match="radius"):
        refine_segments(short, x, 2.0, radius=-1)
    with pytest.raises(ValueError, match="fps"):
        refine_segments(short, x, 0.0, radius=1)
    with pytest.raises(ValueError, match=r"\[T, D\]"):
        feature_change(np.zeros(5))
