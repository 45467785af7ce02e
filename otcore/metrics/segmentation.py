"""Action segmentation metrics on per-frame integer labels (MS-TCN evaluation conventions).

Inputs: ``pred`` and ``gt`` are either one 1-D integer array (one video) or a list of them
(a set of videos, aligned element by element). Over a set:

* MoF pools frames (frame accuracy of the concatenation),
* F1@τ pools true/false positives and false negatives over videos before computing F1,
* Edit is the mean of the per-video Edit scores,
* mIoU pools per-class intersections and unions over videos, then averages over classes.

Units: **MoF and mIoU are fractions in [0, 1]; F1 and Edit are percentages in [0, 100]**, as
the papers print them. ``ignore`` lists background class ids: their ground-truth frames are left
out of MoF/mIoU, and their segments are dropped (on both sides) before F1/Edit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import numpy as np

from otcore.metrics.matching import _as_int_array, apply_mapping, hungarian_match

__all__ = ["labels_to_segments", "mof", "f1_at", "edit_score", "miou", "levenshtein"]

Labels = np.ndarray | Sequence[int]
LabelsOrSet = Labels | Sequence[Labels]
HungarianMode = bool | Literal["activity", "video"]


def _to_numpy(x: object) -> object:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # a torch tensor, without importing torch
        return x.detach().cpu().numpy()
    if isinstance(x, (list, tuple)):
        return [_to_numpy(v) for v in x]
    return x


def _is_set(x: object) -> bool:
    if isinstance(x, np.ndarray):
        if x.dtype == object:
            return True
        if x.ndim == 1:
            return False
        raise ValueError(f"per-frame labels must be 1-D (or a list of 1-D arrays), got shape {x.shape}")
    if isinstance(x, (list, tuple)):
        return len(x) > 0 and np.ndim(x[0]) == 1
    raise TypeError(f"expected an integer array or a list of them, got {type(x).__name__}")


def _pairs(pred: LabelsOrSet, gt: LabelsOrSet) -> tuple[list[np.ndarray], list[np.ndarray]]:
    pred, gt = _to_numpy(pred), _to_numpy(gt)  # type: ignore[assignment]
    p_set, g_set = _is_set(pred), _is_set(gt)
    if p_set != g_set:
        raise ValueError("pred and gt must both be one video or both be lists of videos")
    preds = [_as_int_array(p) for p in pred] if p_set else [_as_int_array(pred)]  # type: ignore[arg-type]
    gts = [_as_int_array(g) for g in gt] if g_set else [_as_int_array(gt)]  # type: ignore[arg-type]
    if len(preds) != len(gts):
        raise ValueError(f"{len(preds)} predicted videos but {len(gts)} ground-truth videos")
    for i, (p, g) in enumerate(zip(preds, gts)):
        if p.shape != g.shape:
            raise ValueError(f"video {i}: prediction has {p.size} frames but ground truth has {g.size}")
    return preds, gts


def _match(
    preds: list[np.ndarray], gts: list[np.ndarray], hungarian: HungarianMode, ignore: Iterable[int]
) -> list[np.ndarray]:
    if hungarian is False or hungarian is None:
        return preds
    if hungarian is True or hungarian == "activity":
        mapping = hungarian_match(preds, gts, ignore)
        return [apply_mapping(p, mapping) for p in preds]
    if hungarian == "video":
        return [apply_mapping(p, hungarian_match(p, g, ignore)) for p, g in zip(preds, gts)]
    raise ValueError(f"hungarian must be False, True, 'activity' or 'video', got {hungarian!r}")


def labels_to_segments(labels: Labels, ignore: Iterable[int] = ()) -> list[tuple[int, int, int]]:
    """Maximal runs of one label as ``(label, start_idx, end_idx)`` with ``end_idx`` exclusive.

    Runs whose label is in ``ignore`` are dropped (neighbouring runs are not merged across them).
    """
    arr = _as_int_array(labels)
    if arr.size == 0:
        return []
    change = np.flatnonzero(arr[1:] != arr[:-1]) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [arr.size]])
    skip = set(int(i) for i in ignore)
    return [(int(arr[s]), int(s), int(e)) for s, e in zip(starts, ends) if int(arr[s]) not in skip]


def mof(
    pred: LabelsOrSet, gt: LabelsOrSet, hungarian: HungarianMode = False, ignore: Iterable[int] = ()
) -> float:
    """Mean over frames (frame accuracy) as a **fraction in [0, 1]**.

    ``MoF = #{t : pred_t = gt_t, gt_t ∉ ignore} / #{t : gt_t ∉ ignore}``, pooled over all frames
    of a set. ``hungarian``: ``False`` compares ids directly; ``True``/``"activity"`` first maps
    clusters to classes with one Hungarian assignment over the whole input (see
    :func:`otcore.metrics.hungarian_match`); ``"video"`` solves one assignment per video.
    Ignored frames neither vote in the matching nor count. Returns ``nan`` if no frame counts.
    """
    ignore = tuple(ignore)
    preds, gts = _pairs(pred, gt)
    preds = _match(preds, gts, hungarian, ignore)
    correct = 0
    total = 0
    for p, g in zip(preds, gts):
        keep = ~np.isin(g, np.asarray(ignore, dtype=np.int64))
        correct += int(np.count_nonzero(p[keep] == g[keep]))
        total += int(np.count_nonzero(keep))
    return correct / total if total else float("nan")


def miou(
    pred: LabelsOrSet, gt: LabelsOrSet, hungarian: HungarianMode = False, ignore: Iterable[int] = ()
) -> float:
    """Mean frame IoU over classes as a **fraction in [0, 1]**.

    ``IoU_c = |{t: pred_t = c} ∩ {t: gt_t = c}| / |{t: pred_t = c} ∪ {t: gt_t = c}|`` with the
    counts pooled over the videos of a set, then averaged over the classes that occur in the
    ground truth or the (matched) prediction, excluding ``ignore`` classes and unmatched clusters.
    Frames whose ground truth is in ``ignore`` are left out. ``hungarian`` as in :func:`mof`.
    """
    ignore = tuple(ignore)
    preds, gts = _pairs(pred, gt)
    preds = _match(preds, gts, hungarian, ignore)
    ign = np.asarray(ignore, dtype=np.int64)
    inter: dict[int, int] = {}
    union: dict[int, int] = {}
    for p, g in zip(preds, gts):
        keep = ~np.isin(g, ign)
        p, g = p[keep], g[keep]
        classes = set(np.unique(g).tolist()) | set(np.unique(p).tolist())
        classes -= set(ignore)
        classes.discard(-1)
        for c in classes:
            pc, gc = p == c, g == c
            inter[c] = inter.get(c, 0) + int(np.count_nonzero(pc & gc))
            union[c] = union.get(c, 0) + int(np.count_nonzero(pc | gc))
    ious = [inter[c] / union[c] for c in union if union[c] > 0]
    return float(np.mean(ious)) if ious else float("nan")


def levenshtein(a: Sequence[int], b: Sequence[int]) -> int:
    """Edit distance (insertions, deletions, substitutions all cost 1) between two sequences."""
    n, m = len(a), len(b)
    prev = list(range(m + 1))
    for i in range(1, n + 1):
        cur = [i] + [0] * m
        for j in range(1, m + 1):
            cost = 0 if a[i - 1] == b[j - 1] else 1
            cur[j] = min(prev[j] + 1, cur[j - 1] + 1, prev[j - 1] + cost)
        prev = cur
    return prev[m]


def _edit_one(p: np.ndarray, g: np.ndarray, ignore: Iterable[int]) -> float:
    ps = [s[0] for s in labels_to_segments(p, ignore)]
    gs = [s[0] for s in labels_to_segments(g, ignore)]
    denom = max(len(ps), len(gs))
    if denom == 0:
        return 100.0
    return (1.0 - levenshtein(ps, gs) / denom) * 100.0


def edit_score(pred: LabelsOrSet, gt: LabelsOrSet, ignore: Iterable[int] = ()) -> float:
    """Segmental edit score in **percent**: ``(1 − Lev(P, G) / max(|P|, |G|)) · 100``.

    ``P``/``G`` are the label sequences of the maximal runs (background runs in ``ignore``
    dropped). Two empty sequences score 100. Over a set: the mean of the per-video scores.
    """
    ignore = tuple(ignore)
    preds, gts = _pairs(pred, gt)
    return float(np.mean([_edit_one(p, g, ignore) for p, g in zip(preds, gts)]))


def _f1_counts(
    p: np.ndarray, g: np.ndarray, overlap: float, ignore: Iterable[int], matching: str
) -> tuple[int, int, int]:
    ps = labels_to_segments(p, ignore)
    gs = labels_to_segments(g, ignore)
    if not gs:
        return 0, len(ps), 0
    g_lab = np.array([s[0] for s in gs])
    g_st = np.array([s[1] for s in gs], dtype=np.float64)
    g_en = np.array([s[2] for s in gs], dtype=np.float64)
    hit = np.zeros(len(gs), dtype=bool)
    tp = fp = 0
    for lab, st, en in ps:
        inter = np.minimum(en, g_en) - np.maximum(st, g_st)
        uni = np.maximum(en, g_en) - np.minimum(st, g_st)
        allowed = (g_lab == lab) & ~hit if matching == "unmatched" else (g_lab == lab)
        iou = np.where(allowed, inter / uni, -np.inf)
        j = int(np.argmax(iou))
        if iou[j] >= overlap and not hit[j]:
            tp += 1
            hit[j] = True
        else:
            fp += 1
    return tp, fp, int(np.count_nonzero(~hit))


def f1_at(
    pred: LabelsOrSet,
    gt: LabelsOrSet,
    overlap: float,
    ignore: Iterable[int] = (),
    matching: Literal["unmatched", "mstcn"] = "unmatched",
) -> float:
    """Segmental F1@τ in **percent** (τ = ``overlap`` in (0, 1], e.g. 0.1, 0.25, 0.5).

    Predicted segments (maximal runs, background in ``ignore`` dropped), in temporal order, each
    take the *unmatched* ground-truth segment of the same label with the highest IoU; a true
    positive if that IoU ≥ τ, else a false positive; unmatched ground truth are false negatives.
    ``F1 = 2PR / (P + R) · 100`` with ``P = TP/(TP+FP)``, ``R = TP/(TP+FN)``; over a set the
    counts are summed over videos first. ``matching="mstcn"`` reproduces MS-TCN's script
    exactly: it takes the best segment among *all* ground truth of the label and counts a false
    positive if that one is already matched (the two differ only when a prediction's best
    overlap is an already matched segment).
    """
    if matching not in ("unmatched", "mstcn"):
        raise ValueError(f"matching must be 'unmatched' or 'mstcn', got {matching!r}")
    if not 0.0 <= overlap <= 1.0:
        raise ValueError(f"overlap must be in [0, 1], got {overlap}")
    ignore = tuple(ignore)
    preds, gts = _pairs(pred, gt)
    tp = fp = fn = 0
    for p, g in zip(preds, gts):
        a, b, c = _f1_counts(p, g, overlap, ignore, matching)
        tp, fp, fn = tp + a, fp + b, fn + c
    if tp == 0:
        return 0.0
    precision = tp / (tp + fp)
    recall = tp / (tp + fn)
    return 2.0 * precision * recall / (precision + recall) * 100.0
