"""Temporal action detection: mAP at tIoU thresholds (ActivityNet evaluation), NMS and soft-NMS.

Inputs are ActivityNet-style, times in seconds::

    predictions  = {video_id: [{"label": str, "segment": [s, e], "score": float}, ...]}
    ground_truth = {video_id: [{"label": str, "segment": [s, e]}, ...]}

Per class (the classes present in the ground truth), detections of all videos are sorted by
score (descending, ties keep input order); at each threshold θ a detection is a true positive
if, among the ground-truth instances of its class *in the same video* not yet matched at θ,
the one with the highest tIoU has tIoU ≥ θ (it is then locked), else a false positive.
With cumulative counts, ``precision_i = TP_i / i`` and ``recall_i = TP_i / #GT``; AP is the
area under the monotone precision envelope at every recall point (all-point interpolation)::

    AP = Σ_i (r_i − r_{i−1}) · max_{j ≥ i} p_j

mAP@θ is the mean of AP over classes; ``average`` is the mean of mAP over thresholds.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Literal

import numpy as np

__all__ = [
    "THUMOS_TIOUS",
    "ACTIVITYNET_TIOUS",
    "segment_iou",
    "average_precision",
    "detection_map",
    "nms",
    "soft_nms",
]

#: THUMOS'14 thresholds 0.3:0.1:0.7.
THUMOS_TIOUS: tuple[float, ...] = (0.3, 0.4, 0.5, 0.6, 0.7)
#: ActivityNet thresholds 0.5:0.05:0.95.
ACTIVITYNET_TIOUS: tuple[float, ...] = tuple(round(0.5 + 0.05 * i, 2) for i in range(10))


def segment_iou(target: Sequence[float] | np.ndarray, candidates: np.ndarray) -> np.ndarray:
    """tIoU of one segment ``[s, e]`` with each row of ``candidates`` ``[M, 2]`` (seconds).

    ``tIoU = max(0, min(e, e') − max(s, s')) / ((e − s) + (e' − s') − intersection)``.
    """
    t = np.asarray(target, dtype=np.float64)
    c = np.asarray(candidates, dtype=np.float64).reshape(-1, 2)
    inter = np.clip(np.minimum(t[1], c[:, 1]) - np.maximum(t[0], c[:, 0]), 0.0, None)
    union = (c[:, 1] - c[:, 0]) + (t[1] - t[0]) - inter
    with np.errstate(divide="ignore", invalid="ignore"):
        iou = np.where(union > 0, inter / union, 0.0)
    return iou


def average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
    """All-point interpolated AP: area under the monotone (non-increasing) precision envelope.

    ``AP = Σ_i (r_i − r_{i−1}) · max_{j ≥ i} p_j`` over the points where recall changes, with
    the curve padded by ``(r=0, p=0)`` and ``(r=1, p=0)`` (the ActivityNet implementation).
    """
    mprec = np.concatenate([[0.0], np.asarray(precision, np.float64), [0.0]])
    mrec = np.concatenate([[0.0], np.asarray(recall, np.float64), [1.0]])
    mprec = np.maximum.accumulate(mprec[::-1])[::-1]
    idx = np.flatnonzero(mrec[1:] != mrec[:-1]) + 1
    return float(np.sum((mrec[idx] - mrec[idx - 1]) * mprec[idx]))


def _thr_key(thr: float) -> str:
    return f"mAP@{round(float(thr), 4):g}"


def _class_ap(
    dets: list[tuple[str, float, float, float]],
    gts: dict[str, np.ndarray],
    n_gt: int,
    tious: np.ndarray,
) -> np.ndarray:
    """AP per threshold for one class. ``dets`` = (video, start, end, score); ``gts`` video -> [M, 2]."""
    if n_gt == 0:
        return np.zeros(len(tious))
    if not dets:
        return np.zeros(len(tious))
    scores = np.array([d[3] for d in dets], dtype=np.float64)
    order = np.argsort(-scores, kind="stable")
    tp = np.zeros((len(tious), len(dets)))
    fp = np.zeros((len(tious), len(dets)))
    locked = {v: np.zeros((len(tious), len(g)), dtype=bool) for v, g in gts.items()}
    for rank, i in enumerate(order):
        video, s, e, _ = dets[i]
        g = gts.get(video)
        if g is None or len(g) == 0:
            fp[:, rank] = 1
            continue
        iou = segment_iou([s, e], g)
        by_iou = np.argsort(-iou, kind="stable")
        for t, thr in enumerate(tious):
            for j in by_iou:
                if iou[j] < thr:
                    break
                if locked[video][t, j]:
                    continue
                locked[video][t, j] = True
                tp[t, rank] = 1
                break
            if tp[t, rank] == 0:
                fp[t, rank] = 1
    tp_c = np.cumsum(tp, axis=1)
    fp_c = np.cumsum(fp, axis=1)
    recall = tp_c / n_gt
    precision = tp_c / (tp_c + fp_c)
    return np.array([average_precision(precision[t], recall[t]) for t in range(len(tious))])


def detection_map(
    predictions: Mapping[str, Iterable[Mapping[str, Any]]],
    ground_truth: Mapping[str, Iterable[Mapping[str, Any]]],
    tious: Sequence[float] = THUMOS_TIOUS,
) -> dict[str, Any]:
    """ActivityNet-style detection mAP (see the module docstring for the algorithm).

    Returns ``{"mAP@0.3": float, ..., "average": float, "per_class": {label: {"mAP@0.3": AP, ...,
    "average": mean AP}}, "n_classes": int}``; values are fractions in [0, 1]. Classes are those
    with at least one ground-truth instance; detections of other labels and of videos absent
    from the ground truth are false positives of their class (the latter) or ignored (the former).
    """
    thr = np.asarray(list(tious), dtype=np.float64)
    if thr.size == 0:
        raise ValueError("need at least one tIoU threshold")
    gt_by_class: dict[str, dict[str, list[tuple[float, float]]]] = {}
    for video, items in ground_truth.items():
        for it in items:
            s, e = (float(v) for v in it["segment"])
            gt_by_class.setdefault(str(it["label"]), {}).setdefault(video, []).append((s, e))
    det_by_class: dict[str, list[tuple[str, float, float, float]]] = {c: [] for c in gt_by_class}
    for video, items in predictions.items():
        for it in items:
            label = str(it["label"])
            if label not in det_by_class:
                continue
            s, e = (float(v) for v in it["segment"])
            det_by_class[label].append((video, s, e, float(it.get("score", 1.0))))
    per_class: dict[str, dict[str, float]] = {}
    aps = []
    for label in sorted(gt_by_class):
        gts = {v: np.asarray(seg, dtype=np.float64).reshape(-1, 2) for v, seg in gt_by_class[label].items()}
        n_gt = sum(len(g) for g in gts.values())
        ap = _class_ap(det_by_class[label], gts, n_gt, thr)
        aps.append(ap)
        per_class[label] = {_thr_key(t): float(a) for t, a in zip(thr, ap)} | {"average": float(ap.mean())}
    out: dict[str, Any] = {}
    if aps:
        m = np.mean(np.stack(aps), axis=0)
    else:
        m = np.full(thr.size, float("nan"))
    for t, v in zip(thr, m):
        out[_thr_key(t)] = float(v)
    out["average"] = float(np.mean(m))
    out["per_class"] = per_class
    out["n_classes"] = len(aps)
    return out


def _seg_array(segments: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    arr = np.asarray(segments, dtype=np.float64)
    if arr.size == 0:
        return arr.reshape(0, 2)
    if arr.ndim != 2 or arr.shape[1] != 2:
        raise ValueError(f"segments must be [N, 2] (start, end), got shape {arr.shape}")
    return arr


def nms(
    segments: np.ndarray | Sequence[Sequence[float]], scores: Sequence[float] | np.ndarray, iou: float = 0.5
) -> np.ndarray:
    """Greedy 1-D non-maximum suppression.

    Repeatedly keeps the highest-scoring remaining segment and drops every remaining segment
    whose tIoU with it is **> iou**. Returns the kept indices, highest score first.
    """
    seg = _seg_array(segments)
    sc = np.asarray(scores, dtype=np.float64)
    if sc.shape != (seg.shape[0],):
        raise ValueError("one score per segment expected")
    remaining = list(np.argsort(-sc, kind="stable"))
    keep: list[int] = []
    while remaining:
        i = remaining.pop(0)
        keep.append(int(i))
        if not remaining:
            break
        rest = np.asarray(remaining)
        ov = segment_iou(seg[i], seg[rest])
        remaining = [int(j) for j, o in zip(rest, ov) if o <= iou]
    return np.asarray(keep, dtype=np.int64)


def soft_nms(
    segments: np.ndarray | Sequence[Sequence[float]],
    scores: Sequence[float] | np.ndarray,
    iou: float = 0.5,
    sigma: float = 0.5,
    method: Literal["gaussian", "linear"] = "gaussian",
    score_threshold: float = 1e-3,
    top_k: int | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Soft-NMS (Bodla et al. 2017) on 1-D segments.

    Repeatedly selects the remaining segment ``m`` with the highest (decayed) score, then decays
    every other remaining score ``s_i`` by its overlap ``o_i = tIoU(m, i)``:

    * ``gaussian``: ``s_i ← s_i · exp(−o_i² / sigma)`` (``iou`` unused),
    * ``linear``:   ``s_i ← s_i · (1 − o_i)`` if ``o_i > iou``, else unchanged.

    Segments whose score falls below ``score_threshold`` are dropped; at most ``top_k`` are kept.
    Returns ``(indices, new_scores)`` in selection order (new scores are non-increasing).
    """
    seg = _seg_array(segments)
    sc = np.asarray(scores, dtype=np.float64).copy()
    if sc.shape != (seg.shape[0],):
        raise ValueError("one score per segment expected")
    if method not in ("gaussian", "linear"):
        raise ValueError(f"method must be 'gaussian' or 'linear', got {method!r}")
    if method == "gaussian" and sigma <= 0:
        raise ValueError("sigma must be positive")
    remaining = np.arange(seg.shape[0])
    keep: list[int] = []
    kept_scores: list[float] = []
    while remaining.size and (top_k is None or len(keep) < top_k):
        best = int(np.argmax(sc[remaining]))
        m = int(remaining[best])
        if sc[m] < score_threshold:
            break
        keep.append(m)
        kept_scores.append(float(sc[m]))
        remaining = np.delete(remaining, best)
        if not remaining.size:
            break
        ov = segment_iou(seg[m], seg[remaining])
        if method == "gaussian":
            sc[remaining] *= np.exp(-(ov**2) / sigma)
        else:
            sc[remaining] *= np.where(ov > iou, 1.0 - ov, 1.0)
        remaining = remaining[sc[remaining] >= score_threshold]
    return np.asarray(keep, dtype=np.int64), np.asarray(kept_scores, dtype=np.float64)
