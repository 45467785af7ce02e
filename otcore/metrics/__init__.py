"""Evaluation metrics (plain numpy, stateless).

Segmentation (per-frame integer labels; one 1-D array per video, or a list of them for a set):
:func:`mof` and :func:`miou` are fractions in [0, 1]; :func:`f1_at` and :func:`edit_score`
are percentages in [0, 100] (MS-TCN conventions: over a set MoF pools frames, F1 pools
TP/FP/FN, Edit averages over videos). :func:`hungarian_match` maps unsupervised clusters to
classes at video level (one video) or activity level (one matching over a set).

Detection (ActivityNet-style dicts, seconds): :func:`detection_map` with the
:data:`THUMOS_TIOUS` / :data:`ACTIVITYNET_TIOUS` thresholds, :func:`nms`, :func:`soft_nms`.
"""

from otcore.metrics.detection import (
    ACTIVITYNET_TIOUS,
    THUMOS_TIOUS,
    average_precision,
    detection_map,
    nms,
    segment_iou,
    soft_nms,
)
from otcore.metrics.matching import UNMATCHED, apply_mapping, contingency, hungarian_match
from otcore.metrics.segmentation import edit_score, f1_at, labels_to_segments, levenshtein, miou, mof

__all__ = [
    "mof",
    "f1_at",
    "edit_score",
    "miou",
    "labels_to_segments",
    "levenshtein",
    "hungarian_match",
    "apply_mapping",
    "contingency",
    "UNMATCHED",
    "detection_map",
    "average_precision",
    "segment_iou",
    "nms",
    "soft_nms",
    "THUMOS_TIOUS",
    "ACTIVITYNET_TIOUS",
]
