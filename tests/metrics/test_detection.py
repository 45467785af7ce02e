"""Hand-computed detection mAP, NMS and soft-NMS cases."""

from __future__ import annotations

import math

import numpy as np
import pytest

from otcore.metrics import (
    ACTIVITYNET_TIOUS,
    THUMOS_TIOUS,
    average_precision,
    detection_map,
    nms,
    segment_iou,
    soft_nms,
)


def test_threshold_constants():
    assert THUMOS_TIOUS == (0.3, 0.4, 0.5, 0.6, 0.7)
    assert len(ACTIVITYNET_TIOUS) == 10 and ACTIVITYNET_TIOUS[0] == 0.5 and ACTIVITYNET_TIOUS[-1] == 0.95


def test_segment_iou():
    iou = segment_iou([0, 10], np.array([[1, 11], [20, 30], [0, 5]]))
    assert iou == pytest.approx([9 / 11, 0.0, 0.5])


def test_average_precision_uses_monotone_envelope():
    # precision 0, 1/2, 2/3 at recall 0, 1/2, 1 -> envelope 2/3 everywhere -> AP 2/3
    assert average_precision(np.array([0, 0.5, 2 / 3]), np.array([0, 0.5, 1.0])) == pytest.approx(2 / 3)


GT = {"v": [{"label": "A", "segment": [0, 10]}, {"label": "A", "segment": [20, 30]}]}


def test_map_perfect_with_duplicate_and_fp_after():
    preds = {
        "v": [
            {"label": "A", "segment": [0, 10], "score": 0.9},
            {"label": "A", "segment": [21, 30], "score": 0.8},  # tIoU 0.9
            {"label": "A", "segment": [0, 10], "score": 0.7},  # duplicate: FP
            {"label": "A", "segment": [50, 60], "score": 0.6},  # FP
        ]
    }
    r = detection_map(preds, GT, tious=(0.5, 0.95))
    assert r["mAP@0.5"] == pytest.approx(1.0)
    # at 0.95 the second detection fails: precision 1, 1/2, ... recall 1/2 -> AP 1/2
    assert r["mAP@0.95"] == pytest.approx(0.5)
    assert r["average"] == pytest.approx(0.75)
    assert r["per_class"]["A"]["mAP@0.5"] == pytest.approx(1.0)


def test_map_false_positive_ranked_first():
    preds = {
        "v": [
            {"label": "A", "segment": [50, 60], "score": 0.95},
            {"label": "A", "segment": [0, 10], "score": 0.9},
            {"label": "A", "segment": [20, 30], "score": 0.8},
        ],
        "other_video": [{"label": "A", "segment": [0, 10], "score": 0.1}],  # FP, ranked last
    }
    r = detection_map(preds, GT, tious=(0.5,))
    assert r["mAP@0.5"] == pytest.approx(2 / 3)


def test_map_means_over_classes_and_ignores_unknown_labels():
    gt = {"v": GT["v"] + [{"label": "B", "segment": [40, 45]}]}
    preds = {
        "v": [{"label": "A", "segment": s["segment"], "score": 1.0} for s in GT["v"]]
        + [{"label": "Z", "segment": [40, 45], "score": 1.0}]
    }
    r = detection_map(preds, gt, tious=THUMOS_TIOUS)
    assert r["n_classes"] == 2
    assert r["mAP@0.3"] == pytest.approx(0.5)  # A: 1, B: 0 (no detection)
    assert r["average"] == pytest.approx(0.5)


def test_matching_is_per_video():
    gt = {"a": [{"label": "A", "segment": [0, 10]}], "b": [{"label": "A", "segment": [0, 10]}]}
    preds = {
        "a": [
            {"label": "A", "segment": [0, 10], "score": 1.0},
            {"label": "A", "segment": [0, 10], "score": 0.9},
        ]
    }
    r = detection_map(preds, gt, tious=(0.5,))
    # TP then FP, recall 1/2: AP = 1/2
    assert r["mAP@0.5"] == pytest.approx(0.5)


def test_nms():
    segs = np.array([[0, 10], [1, 11], [20, 30]], dtype=float)
    scores = np.array([0.9, 0.8, 0.7])
    assert nms(segs, scores, 0.5).tolist() == [0, 2]
    assert nms(segs, scores, 0.9).tolist() == [0, 1, 2]
    assert nms(np.zeros((0, 2)), np.zeros(0), 0.5).tolist() == []


def test_soft_nms_gaussian_and_linear():
    segs = np.array([[0, 10], [1, 11], [20, 30]], dtype=float)
    scores = np.array([0.9, 0.8, 0.7])
    o = 9 / 11
    idx, sc = soft_nms(segs, scores, sigma=0.5, method="gaussian")
    assert idx.tolist() == [0, 2, 1]
    assert sc == pytest.approx([0.9, 0.7, 0.8 * math.exp(-o * o / 0.5)])
    idx, sc = soft_nms(segs, scores, iou=0.5, method="linear")
    assert idx.tolist() == [0, 2, 1]
    assert sc == pytest.approx([0.9, 0.7, 0.8 * (1 - o)])
    # below the linear threshold nothing decays
    idx, sc = soft_nms(segs, scores, iou=0.9, method="linear")
    assert sc == pytest.approx([0.9, 0.8, 0.7])
    # scores decayed under the threshold are dropped
    idx, _ = soft_nms(segs, scores, iou=0.5, method="linear", score_threshold=0.5)
    assert idx.tolist() == [0, 2]
    idx, _ = soft_nms(segs, scores, top_k=1)
    assert idx.tolist() == [0]
