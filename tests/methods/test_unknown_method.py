"""Unknown-action scoring logic: windows, the threshold rule, folds, spans, and SOT-GLP window scores."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from otcore.methods.sot_glp import SotGlpConfig, fit_clips
from otcore.methods.unknown import (
    MAX_SCORE,
    choose_threshold,
    default_stride,
    default_window,
    fold_of_marks,
    frame_unknown_scores,
    marked_rows,
    unknown_spans,
    windows,
)

pytestmark = pytest.mark.usefixtures("one_thread")


def test_windows_cover_every_row_and_end_at_the_video_end():
    assert windows(10, 4, 3) == [(0, 4), (3, 7), (6, 10)]
    assert windows(11, 4, 3) == [(0, 4), (3, 7), (6, 10), (7, 11)]
    assert windows(3, 5, 1) == [(0, 3)]
    assert windows(0, 4, 2) == []
    for n, w, s in [(17, 5, 2), (40, 3, 1), (9, 9, 4)]:
        covered = np.zeros(n, dtype=int)
        for a, b in windows(n, w, s):
            assert b - a == min(w, n)
            covered[a:b] += 1
        assert covered.min() >= 1
    with pytest.raises(ValueError, match="≥ 1"):
        windows(10, 0, 1)


def test_default_window_is_half_the_median_mark():
    assert default_window([6, 6, 8]) == 3
    assert default_window([1]) == 1
    assert default_window([1000, 2000]) == 32  # capped
    assert default_stride(3) == 1 and default_stride(32) == 8
    with pytest.raises(ValueError, match="no marks"):
        default_window([])


def test_threshold_is_the_quantile_of_marked_scores():
    vals = np.arange(101, dtype=np.float64) / 100.0  # 0.00 .. 1.00
    assert choose_threshold(vals, 0.95) == pytest.approx(0.95)
    assert choose_threshold(vals, 0.5) == pytest.approx(0.5)
    assert (vals > choose_threshold(vals, 0.9)).mean() == pytest.approx(0.1, abs=0.011)
    assert choose_threshold([0.2, np.nan, 0.4], 0.5) == pytest.approx(0.3)  # NaN ignored
    with pytest.raises(ValueError, match="no scores"):
        choose_threshold([], 0.95)
    with pytest.raises(ValueError, match="between 0 and 1"):
        choose_threshold([0.1], 1.0)


def test_folds_alternate_per_label_and_keep_single_marks():
    assert fold_of_marks(["a", "b", "a", "c", "b", "a"]) == [0, 0, 1, -1, 1, 0]
    assert fold_of_marks([]) == []


def test_marked_rows_by_row_centre():
    m = marked_rows(10, 2.0, [(1.0, 2.0), (3.9, 4.1)])
    assert m.tolist() == [False, False, True, True, False, False, False, False, False, False]
    assert not marked_rows(4, 1.0, []).any()


def test_spans_are_runs_above_the_threshold_outside_marks():
    u = np.array([0.1, 0.9, 0.8, 0.2, 0.7, 0.7, 0.7, 0.1, 0.95, 0.6])
    spans = unknown_spans(u, 2.0, 0.5)
    assert [(s.start, s.end) for s in spans] == [(0.5, 1.5), (2.0, 3.5), (4.0, 5.0)]
    assert spans[0].score == pytest.approx(0.85) and spans[0].peak == pytest.approx(0.9)
    # a marked row breaks a run and never counts; short runs dropped; clipped to the duration
    exclude = np.zeros(10, dtype=bool)
    exclude[5] = True
    spans = unknown_spans(u, 2.0, 0.5, exclude=exclude, min_rows=2, duration=4.8)
    assert [(s.start, s.end) for s in spans] == [(0.5, 1.5), (4.0, 4.8)]
    assert unknown_spans(u, 2.0, 1.0) == []  # nothing above


def _blocks(seed: int, layout: list[tuple[int | None, int]]) -> torch.Tensor:
    rng = np.random.default_rng(seed)
    rows = []
    for lift, n in layout:
        x = rng.random((n, 12)).astype(np.float32) * 0.5
        if lift is not None:
            x[:, 4 * lift : 4 * lift + 4] += 3
        rows.append(x)
    return torch.from_numpy(np.concatenate(rows))


def test_window_scores_are_high_on_an_action_of_no_known_class():
    # known classes lift dims 0-3 and 4-7; the test video holds both and one lifting dims 8-11
    train = [_blocks(s, [(c, 6)]) for s in range(3) for c in (0, 1)]
    model = fit_clips(train, [0, 1] * 3, ["a", "b"], SotGlpConfig(epochs=40))
    video = _blocks(9, [(0, 8), (2, 8), (1, 8)])
    u = frame_unknown_scores(model, video, window=3, stride=1)
    assert u.shape == (24,) and u.dtype == np.float32
    assert ((u >= 0) & (u <= MAX_SCORE)).all()
    assert u[9:15].min() > max(u[1:7].max(), u[17:23].max())  # the unknown block's core above both
    # windows scored in batches give the same scores as one batch
    assert np.allclose(frame_unknown_scores(model, video, window=3, stride=1, batch=5), u, atol=1e-5)
