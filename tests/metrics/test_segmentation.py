"""Hand-computed cases for the segmentation metrics and the Hungarian matching."""

from __future__ import annotations

import numpy as np
import pytest

from otcore.metrics import (
    apply_mapping,
    edit_score,
    f1_at,
    hungarian_match,
    labels_to_segments,
    levenshtein,
    miou,
    mof,
)

GT = np.array([0, 0, 0, 0, 1, 1, 1, 1, 2, 2])
PRED = np.array([0, 0, 0, 1, 1, 1, 1, 1, 2, 2])  # segment IoUs 3/4, 4/5, 1


def test_labels_to_segments_runs_and_ignore():
    assert labels_to_segments(GT) == [(0, 0, 4), (1, 4, 8), (2, 8, 10)]
    assert labels_to_segments([3, 3, 0, 3], ignore=(0,)) == [(3, 0, 2), (3, 3, 4)]
    assert labels_to_segments(np.array([], dtype=int)) == []


def test_mof_and_miou_hand_values():
    assert mof(PRED, GT) == pytest.approx(0.9)
    assert miou(PRED, GT) == pytest.approx((3 / 4 + 4 / 5 + 1) / 3)
    assert mof(GT, GT) == 1.0 and miou(GT, GT) == 1.0


def test_f1_hand_values():
    assert f1_at(PRED, GT, 0.5) == pytest.approx(100.0)
    # at 0.8 the first segment (IoU 0.75) is a FP and its GT a FN: P = R = 2/3
    assert f1_at(PRED, GT, 0.8) == pytest.approx(200 / 3)
    assert f1_at(PRED, GT, 0.9) == pytest.approx(100 / 3)
    # a duplicate prediction of an already matched GT segment is a false positive
    assert f1_at([0, 0, 1, 0, 0], [0, 0, 0, 0, 0], 0.1) == pytest.approx(2 * (1 / 3) / (1 / 3 + 1) * 100)


def test_f1_mstcn_matching_differs_only_on_matched_best():
    # GT runs A[0,10), A[12,14); predictions A[0,5) (IoU 0.5 with GT 0) and A[6,13), whose IoU is
    # 4/13 with the already matched GT 0 and 1/8 with GT 1
    gt = np.array([1] * 10 + [0, 0] + [1, 1])
    pred = np.array([1] * 5 + [0] + [1] * 7 + [0])
    # the unmatched GT 1 is taken at IoU 1/8 >= 0.1: TP 2
    assert f1_at(pred, gt, 0.1, ignore=(0,)) == pytest.approx(100.0)
    # MS-TCN's script picks GT 0 (best overall), already matched: TP 1, FP 1, FN 1
    assert f1_at(pred, gt, 0.1, ignore=(0,), matching="mstcn") == pytest.approx(50.0)
    # at 0.2 neither protocol matches the second prediction
    assert f1_at(pred, gt, 0.2, ignore=(0,)) == f1_at(pred, gt, 0.2, ignore=(0,), matching="mstcn") == 50.0


def test_f1_pools_counts_over_a_set():
    a_gt = np.array([0, 0, 1, 1, 2, 2])
    b_gt = np.array([0, 0, 0, 0])
    b_pred = np.array([1, 1, 1, 1])  # one FP, one FN
    # pooled: TP 3, FP 1, FN 1 -> P = R = 3/4 -> 75 (the mean of per-video F1 would be 50)
    assert f1_at([a_gt, b_pred], [a_gt, b_gt], 0.5) == pytest.approx(75.0)


def test_edit_score_hand_values_and_set_mean():
    assert edit_score(PRED, GT) == 100.0
    pred2 = np.array([0, 0, 1, 0, 0, 1, 1, 1, 1, 1])  # runs 0 1 0 1 vs 0 1 2: distance 2
    assert levenshtein([0, 1, 0, 1], [0, 1, 2]) == 2
    assert edit_score(pred2, GT) == pytest.approx(50.0)
    assert edit_score([pred2, GT], [GT, GT]) == pytest.approx(75.0)


def test_background_is_excluded():
    gt = np.array([0, 0, 1, 1, 0, 2, 2])
    pred = np.array([1, 0, 1, 1, 2, 2, 2])
    # background (0) frames of the GT do not count: 4 of 4 foreground frames are right
    assert mof(pred, gt, ignore=(0,)) == 1.0
    assert mof(pred, gt) == pytest.approx(5 / 7)
    # without background the run sequences are [1, 1, 2] vs [1, 2]
    assert edit_score(pred, gt, ignore=(0,)) == pytest.approx((1 - 1 / 3) * 100)
    assert edit_score(np.array([0, 1, 1, 0]), np.array([0, 1, 1, 0]), ignore=(0,)) == 100.0


def test_hungarian_permuted_clusters():
    perm = np.array([5, 5, 5, 7, 7, 7, 7, 7, 9, 9])
    assert hungarian_match(perm, GT) == {5: 0, 7: 1, 9: 2}
    assert mof(perm, GT, hungarian=True) == pytest.approx(0.9)
    assert miou(perm, GT, hungarian=True) == pytest.approx(miou(PRED, GT))
    assert mof(perm, GT) == 0.0


def test_hungarian_more_clusters_than_classes():
    pred = np.array([0, 0, 1, 1, 2, 2])
    gt = np.array([0, 0, 0, 0, 1, 1])
    m = hungarian_match(pred, gt)
    assert m[2] == 1 and len(m) == 2 and set(m.values()) == {0, 1}
    assert mof(pred, gt, hungarian=True) == pytest.approx(4 / 6)
    mapped = apply_mapping(pred, m)
    assert (mapped == -1).sum() == 2


def test_hungarian_fewer_clusters_than_classes():
    assert mof(np.zeros(4, int), np.array([0, 0, 1, 1]), hungarian=True) == pytest.approx(0.5)
    assert hungarian_match(np.zeros(4, int), np.array([3, 3, 3, 1])) == {0: 3}


def test_activity_vs_video_level():
    p = [np.array([0, 0, 1, 1]), np.array([1, 1, 0, 0])]
    g = [np.array([0, 0, 1, 1]), np.array([0, 0, 1, 1])]
    assert mof(p, g, hungarian="video") == 1.0
    # one matching for both videos: the pooled contingency is [[2, 2], [2, 2]]
    assert mof(p, g, hungarian="activity") == pytest.approx(0.5)
    assert mof(p, g, hungarian=True) == pytest.approx(0.5)


def test_mof_pools_frames_over_a_set():
    p = [np.array([0, 0]), np.array([1, 1, 1, 1, 1, 1, 1, 1])]
    g = [np.array([1, 1]), np.array([1, 1, 1, 1, 1, 1, 1, 1])]
    assert mof(p, g) == pytest.approx(8 / 10)


def test_input_validation():
    with pytest.raises(ValueError):
        mof(np.array([0, 1]), np.array([0, 1, 1]))
    with pytest.raises(ValueError):
        mof([np.array([0])], np.array([0]))
    with pytest.raises(ValueError):
        mof(GT, GT, hungarian="both")  # type: ignore[arg-type]


def test_accepts_torch_tensors():
    torch = pytest.importorskip("torch")
    assert mof(torch.tensor(PRED), torch.tensor(GT)) == pytest.approx(0.9)
