"""Saved predictions: one file layout for segments, frame scores, plans, clusters and extras."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from otcore.store.predictions import SavedPrediction, load_prediction, save_prediction
from otcore.types import Prediction, Segment


def test_round_trip(tmp_path: Path) -> None:
    pred = Prediction(
        segments=[Segment("jump", 0.5, 2.0, 0.8), Segment("level0/odd::name", 2.0, 3.0)],
        frame_scores=torch.rand(6, 2),
        plans={"level0/jump": torch.rand(6, 3), "level1/jump": torch.rand(3, 3)},
        clusters=torch.tensor([0, 0, 1, 1, 1, 0]),
    )
    saved = SavedPrediction.of(
        pred,
        2.0,
        class_names=["jump"],
        arrays={"p_att": torch.rand(6)},
        meta={"method": "plot-tal", "levels": 2},
    )
    path = save_prediction(tmp_path / "results" / "p.npz", saved)
    back = load_prediction(path)
    assert back.fps == 2.0 and back.segments == tuple(pred.segments)
    assert list(back.plans) == ["level0/jump", "level1/jump"]
    np.testing.assert_allclose(back.plans["level1/jump"], pred.plans["level1/jump"].numpy(), rtol=1e-6)
    np.testing.assert_array_equal(back.clusters, [0, 0, 1, 1, 1, 0])
    assert back.clusters.dtype == np.int64 and back.frame_scores.dtype == np.float32
    assert back.class_names == ("jump",) and dict(back.meta) == {"method": "plot-tal", "levels": 2}
    assert set(back.arrays) == {"p_att"}
    assert not list((tmp_path / "results").glob("*.tmp*"))


def test_a_file_that_is_not_a_prediction(tmp_path: Path) -> None:
    np.savez(tmp_path / "x.npz", plan=np.zeros(3))
    with pytest.raises(ValueError, match="not a saved prediction"):
        load_prediction(tmp_path / "x.npz")
