"""Hungarian matching of predicted clusters to ground-truth classes.

Unsupervised segmentation methods output cluster ids that carry no class meaning; before
frame accuracy (MoF) or mIoU can be measured, each cluster is assigned to at most one class
so that the number of frames on which cluster and class agree is maximal:

.. math::

    \\pi^\\star = \\arg\\max_{\\pi \\,\\text{injective}} \\sum_{k} C[k, \\pi(k)],
    \\qquad C[k, c] = \\#\\{t : \\hat y_t = k,\\; y_t = c\\},

solved exactly with ``scipy.optimize.linear_sum_assignment`` on the rectangular contingency
matrix ``C`` (so the number of clusters may differ from the number of classes: the surplus
clusters, or classes, stay unmatched). *Activity level* matching builds one ``C`` pooled over
all videos of a set (one assignment for the whole activity, as ASOT/CLOT report); *video level*
matching solves one assignment per video.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence

import numpy as np
from scipy.optimize import linear_sum_assignment

__all__ = ["UNMATCHED", "hungarian_match", "apply_mapping", "contingency"]

#: Label given to frames of a cluster that no class was assigned to (never equals a class id).
UNMATCHED = -1


def _as_int_array(x: Iterable[int] | np.ndarray) -> np.ndarray:
    arr = np.asarray(x)
    if arr.ndim != 1:
        raise ValueError(f"per-frame labels must be 1-D, got shape {arr.shape}")
    if arr.size and not np.issubdtype(arr.dtype, np.integer):
        if not np.all(np.equal(np.mod(arr, 1), 0)):
            raise ValueError("per-frame labels must be integers")
        arr = arr.astype(np.int64)
    return arr.astype(np.int64, copy=False)


def contingency(
    pred_list: Sequence[np.ndarray], gt_list: Sequence[np.ndarray], ignore: Iterable[int] = ()
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pooled contingency matrix ``C[k, c]`` = number of frames with cluster ``k`` and class ``c``.

    Frames whose ground truth is in ``ignore`` are left out. Returns ``(C, clusters, classes)``
    with ``clusters``/``classes`` the sorted label values indexing the rows/columns.
    """
    ignore_arr = np.asarray(sorted(set(int(i) for i in ignore)), dtype=np.int64)
    preds, gts = [], []
    for p, g in zip(pred_list, gt_list, strict=True):
        p, g = _as_int_array(p), _as_int_array(g)
        if p.shape != g.shape:
            raise ValueError(f"prediction has {p.size} frames but ground truth has {g.size}")
        keep = ~np.isin(g, ignore_arr)
        preds.append(p[keep])
        gts.append(g[keep])
    p_all = np.concatenate(preds) if preds else np.zeros(0, np.int64)
    g_all = np.concatenate(gts) if gts else np.zeros(0, np.int64)
    clusters, p_idx = np.unique(p_all, return_inverse=True)
    classes, g_idx = np.unique(g_all, return_inverse=True)
    c = np.zeros((clusters.size, classes.size), dtype=np.int64)
    np.add.at(c, (p_idx, g_idx), 1)
    return c, clusters, classes


def hungarian_match(
    pred_list: Sequence[np.ndarray] | np.ndarray,
    gt_list: Sequence[np.ndarray] | np.ndarray,
    ignore: Iterable[int] = (),
) -> dict[int, int]:
    """One-to-one cluster → class assignment maximising the number of agreeing frames.

    ``pred_list``/``gt_list`` are one 1-D integer array each (one video: video-level matching)
    or lists of them (a set of videos: one activity-level matching pooled over all frames).
    Frames whose ground truth is in ``ignore`` do not vote. Solves
    ``max_pi sum_k C[k, pi(k)]`` with ``scipy.optimize.linear_sum_assignment``; when there are
    more clusters than classes the surplus clusters are absent from the returned mapping
    (see :func:`apply_mapping`, which sends them to :data:`UNMATCHED`), and when there are
    fewer, some classes receive no cluster.
    """
    if isinstance(pred_list, np.ndarray) and pred_list.ndim == 1:
        pred_list, gt_list = [pred_list], [np.asarray(gt_list)]
    c, clusters, classes = contingency(list(pred_list), list(gt_list), ignore)
    if c.size == 0:
        return {}
    rows, cols = linear_sum_assignment(c, maximize=True)
    return {int(clusters[r]): int(classes[k]) for r, k in zip(rows, cols)}


def apply_mapping(pred: np.ndarray, mapping: Mapping[int, int], fill: int = UNMATCHED) -> np.ndarray:
    """Relabel per-frame cluster ids with ``mapping``; ids missing from it become ``fill``."""
    p = _as_int_array(pred)
    out = np.full(p.shape, fill, dtype=np.int64)
    for k, c in mapping.items():
        out[p == k] = c
    return out
