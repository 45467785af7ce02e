"""plan_to_labels / plan_to_segments."""

from __future__ import annotations

import numpy as np
import torch

from otcore.ot import plan_to_labels, plan_to_segments
from otcore.types import Segment


def test_labels_and_segments() -> None:
    plan = torch.tensor([[0.9, 0.1], [0.8, 0.2], [0.1, 0.9], [0.3, 0.7], [0.6, 0.4]])
    lab = plan_to_labels(plan)
    assert lab.tolist() == [0, 0, 1, 1, 0]
    segs = plan_to_segments(lab, fps=2.0, names=["pour", "stir"])
    assert segs == [Segment("pour", 0.0, 1.0), Segment("stir", 1.0, 2.0), Segment("pour", 2.0, 2.5)]
    assert plan_to_labels(torch.rand(3, 7, 4)).shape == (3, 7)


def test_segments_skip_negative_and_accept_numpy() -> None:
    segs = plan_to_segments(np.array([-1, -1, 3, 3, 3, -1]), fps=1.0)
    assert segs == [Segment("3", 2.0, 5.0)]
    assert plan_to_segments([], fps=1.0) == []
