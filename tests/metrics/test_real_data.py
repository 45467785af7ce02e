"""Metrics on real data from ``../shared/data``: 50Salads TCN outputs and THUMOS'14 ground truth."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from otcore.metrics import ACTIVITYNET_TIOUS, THUMOS_TIOUS, detection_map, edit_score, f1_at, mof

EVAL_MODELS = [
    "eval_video_SVM",
    "eval_video_tCNN_C36",
    "eval_video_DilatedTCN_L5_B2",
    "eval_video_ED-TCN_L2_C18",
]


def _load_salads(folder: Path) -> tuple[list[np.ndarray], list[np.ndarray], list[np.ndarray]]:
    sio = pytest.importorskip("scipy.io")
    scores, preds, gts = [], [], []
    for split in sorted(folder.glob("*.mat")):
        m = sio.loadmat(split)
        # each of S, P, Y is a 1×n_videos object array; S[i] is T×C, P[i] and Y[i] are 1×T
        for s, p, y in zip(m["S"].ravel(), m["P"].ravel(), m["Y"].ravel()):
            y = np.asarray(y).ravel()
            s = np.asarray(s)
            assert s.ndim == 2 and s.shape[0] == y.size, (s.shape, y.shape)
            scores.append(s)
            preds.append(np.asarray(p).ravel())
            gts.append(y)
    return scores, preds, gts


@pytest.mark.parametrize("model", EVAL_MODELS)
def test_salads_mof_of_argmax_scores(shared_data: Path, model: str):
    folder = shared_data / "salads50_tcn" / "predictions" / "50Salads" / "eval" / model
    scores, preds, gts = _load_salads(folder)
    assert len(gts) == 50  # 5 splits × 10 test videos
    argmax = [s.argmax(axis=1) for s in scores]
    # the file's P is the argmax of S
    assert all(np.array_equal(a, p) for a, p in zip(argmax, preds))
    # independent computation: pooled frame accuracy of P against Y
    expected = sum(int((p == y).sum()) for p, y in zip(preds, gts)) / sum(y.size for y in gts)
    value = mof(argmax, gts)
    assert value == pytest.approx(expected, abs=1e-12)
    assert 0.68 <= value <= 0.74
    # one video alone equals its own frame accuracy; the set pools frames (not a mean of videos)
    assert mof(argmax[0], gts[0]) == pytest.approx(float(np.mean(argmax[0] == gts[0])))
    per_video_mean = float(np.mean([np.mean(a == y) for a, y in zip(argmax, gts)]))
    lengths = {y.size for y in gts}
    if len(lengths) > 1:
        assert value != pytest.approx(per_video_mean, abs=1e-9)
    # segmental metrics are in percent and sane
    f1 = f1_at(argmax, gts, 0.5)
    ed = edit_score(argmax, gts)
    assert 0.0 < f1 <= 100.0 and 0.0 < ed <= 100.0


def _thumos_gt(shared_data: Path) -> dict[str, list[dict]]:
    db = json.loads((shared_data / "thumos14" / "thumos14.json").read_text())["database"]
    return {
        vid: [{"label": a["label"], "segment": a["segment"]} for a in v["annotations"]]
        for vid, v in db.items()
    }


def test_thumos_ground_truth_against_itself(shared_data: Path):
    gt = _thumos_gt(shared_data)
    preds = {v: [dict(a, score=1.0) for a in items] for v, items in gt.items()}
    r = detection_map(preds, gt, THUMOS_TIOUS)
    assert r["n_classes"] == 20
    for t in THUMOS_TIOUS:
        assert r[f"mAP@{t:g}"] == pytest.approx(1.0)
    assert r["average"] == pytest.approx(1.0)
    r = detection_map(preds, gt, ACTIVITYNET_TIOUS)
    assert r["average"] == pytest.approx(1.0)


@pytest.mark.parametrize("f", [0.2, 0.1])
def test_thumos_shifted_copy(shared_data: Path, f: float):
    """Shift every instance by f of its own length: its tIoU with itself is (1 − f) / (1 + f).

    Every detection keeps the same score, so all of them are true positives (precision 1 at
    every rank, AP = 1) at thresholds ≤ (1 − f)/(1 + f), provided no shifted copy overlaps a
    *different* instance of its class better; above, every detection is a false positive
    (AP = 0) unless a copy overlaps another instance by more than the threshold. The test
    checks those provisos on the data, so the hand value is exact.
    """
    gt = _thumos_gt(shared_data)
    preds = {}
    for v, items in gt.items():
        preds[v] = []
        for a in items:
            s, e = a["segment"]
            d = f * (e - s)
            preds[v].append({"label": a["label"], "segment": [s + d, e + d], "score": 1.0})
    tiou = (1 - f) / (1 + f)
    thresholds = sorted(set(THUMOS_TIOUS) | set(ACTIVITYNET_TIOUS))
    # proviso: the best overlap of any shifted copy with another same-class instance
    worst_other = 0.0
    for v, items in gt.items():
        for i, a in enumerate(items):
            s, e = preds[v][i]["segment"]
            for j, b in enumerate(items):
                if j == i or b["label"] != a["label"]:
                    continue
                bs, be = b["segment"]
                inter = max(0.0, min(e, be) - max(s, bs))
                worst_other = max(worst_other, inter / ((e - s) + (be - bs) - inter))
    assert worst_other < tiou
    r = detection_map(preds, gt, thresholds)
    expected = {}
    for t in thresholds:
        if t <= tiou - 1e-9:
            expected[t] = 1.0
        elif t > worst_other:
            expected[t] = 0.0
    assert len(expected) == len(thresholds), "every threshold has a closed-form value on this data"
    for t, val in expected.items():
        assert r[f"mAP@{t:g}"] == pytest.approx(val, abs=1e-12), t
    th = detection_map(preds, gt, THUMOS_TIOUS)["average"]
    assert th == pytest.approx(float(np.mean([1.0 if t <= tiou else 0.0 for t in THUMOS_TIOUS])))


def _mstcn_reference(pred: np.ndarray, gt: np.ndarray, overlap: float) -> tuple[int, int, int]:
    """MS-TCN's ``f_score`` (eval.py), restated on frame runs."""

    def runs(x: np.ndarray) -> tuple[list[int], list[int], list[int]]:
        labels, starts, ends = [], [], []
        for i, v in enumerate(x):
            if i == 0 or v != x[i - 1]:
                labels.append(int(v))
                starts.append(i)
                if i:
                    ends.append(i)
        ends.append(len(x))
        return labels, starts, ends

    pl, ps, pe = runs(pred)
    yl, ys, ye = (np.asarray(v) for v in runs(gt))
    tp = fp = 0
    hits = np.zeros(len(yl))
    for j in range(len(pl)):
        inter = np.minimum(pe[j], ye) - np.maximum(ps[j], ys)
        union = np.maximum(pe[j], ye) - np.minimum(ps[j], ys)
        iou = (inter / union) * (pl[j] == yl)
        idx = int(iou.argmax())
        if iou[idx] >= overlap and not hits[idx]:
            tp += 1
            hits[idx] = 1
        else:
            fp += 1
    return tp, fp, int(len(yl) - hits.sum())


def test_salads_f1_matches_the_mstcn_script(shared_data: Path):
    folder = shared_data / "salads50_tcn" / "predictions" / "50Salads" / "eval" / "eval_video_ED-TCN_L2_C18"
    scores, _, gts = _load_salads(folder)
    preds = [s.argmax(axis=1) for s in scores]
    for overlap in (0.1, 0.25, 0.5):
        tp, fp, fn = np.sum([_mstcn_reference(p, y, overlap) for p, y in zip(preds, gts)], axis=0)
        precision, recall = tp / (tp + fp), tp / (tp + fn)
        expected = 200 * precision * recall / (precision + recall)
        assert f1_at(preds, gts, overlap, matching="mstcn") == pytest.approx(expected, abs=1e-9)
        # on this data the default protocol (unmatched segment with the highest IoU) finds at least as many
        assert f1_at(preds, gts, overlap) >= expected - 1e-9
