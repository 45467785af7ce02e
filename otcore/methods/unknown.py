r"""Unknown-action scores: where a video matches none of the project's labels (SOT-GLP's OOD score).

A SOT-GLP scorer (:func:`otcore.methods.sot_glp.fit_clips`) is trained on the marked segments of the
known labels only (no background class: the background class of the few-shot re-scorer is trained on
every unmarked stretch, which holds exactly the actions no label covers, so it would absorb them).
Its local-global score :math:`S_{GL} \in [2/C, 2]` (:func:`otcore.methods.sot_glp.ood_scores`, high =
in-distribution) gives, per window of ``w`` feature rows (stride ``s``), the **unknown score**

.. math::
    u(\text{window}) = 2 - S_{GL}(\text{window}) \quad (\text{high} = \text{matches no label}),

and per feature row the mean :math:`u` of the windows that cover it (:func:`frame_unknown_scores`).
``w`` defaults to half the median length of the marks in rows (at most 32), ``s = \max(1,
\lfloor w/4 \rfloor)``: windows as long as a whole mark straddle the edges of most actions, so the
rows at a mark's edges scored nearly as "unknown" as the gaps between actions (on the synthetic
features of ``tests/jobs/test_unknown_job.py``: full-length windows at stride ``w/2`` put the
out-of-fold threshold above the unlabelled action's rows, half-length windows at stride 1 put all
ten of its rows above it). With one known label the softmax terms are constant (1), so
the score needs two or more labels.

Threshold (:func:`choose_threshold`, chosen on the marked videos only): the ``q``-quantile
(default 0.95) of the unknown scores of marked frames, each frame scored by a model that did not
see it: the marks of every label with two or more marks are split into two folds (alternating in
time order per label, :func:`fold_of_marks`), a model is trained without each fold and scores the
videos holding that fold's marks, and the scores of the held-out marks' rows are pooled. A label
with a single mark stays in both training sets (holding it out would make it unknown). When no
label has two marks, the in-sample scores of the marked rows stand in (and the rule says so).
So about ``1 − q`` of frames of known actions lie above it.

Spans (:func:`unknown_spans`): maximal runs of rows with :math:`u >` threshold that lie outside
every mark (a row is marked when its centre is inside a manual/corrected segment), at least
``min_rows`` long; the span's score is the mean :math:`u` over its rows, its peak the maximum.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from otcore.methods.sot_glp import SegmentScorer, ood_scores

__all__ = [
    "MAX_SCORE",
    "UnknownSpan",
    "default_window",
    "default_stride",
    "windows",
    "frame_unknown_scores",
    "choose_threshold",
    "fold_of_marks",
    "marked_rows",
    "unknown_spans",
]

#: Upper bound of :math:`S_{GL}` (two maximum softmax probabilities): ``u = MAX_SCORE − S_GL ≥ 0``.
MAX_SCORE = 2.0


@dataclass(frozen=True)
class UnknownSpan:
    """A stretch ``[start, end)`` seconds whose rows score above the threshold: ``score`` is the
    mean unknown score over its rows, ``peak`` the highest."""

    start: float
    end: float
    score: float
    peak: float


def default_window(mark_rows: Sequence[int], *, cap: int = 32) -> int:
    """The window length in rows: half the median length of the marks (at least 1, at most ``cap``)."""
    if not mark_rows:
        raise ValueError("no marks to size the window on")
    half = 0.5 * float(np.median(np.asarray(mark_rows, dtype=np.float64)))
    return int(min(cap, max(1, round(half))))


def default_stride(window: int) -> int:
    """The stride of the windows: a quarter of the window, at least one row."""
    return max(1, int(window) // 4)


def windows(n_rows: int, window: int, stride: int) -> list[tuple[int, int]]:
    """Windows ``[a, b)`` of ``window`` rows every ``stride`` rows covering ``0..n_rows`` (the last one
    ends at ``n_rows``); one window of all rows when the video is shorter than ``window``."""
    if n_rows <= 0:
        return []
    if window < 1 or stride < 1:
        raise ValueError(f"window and stride must be ≥ 1 (got {window}, {stride})")
    if n_rows <= window:
        return [(0, n_rows)]
    out = [(a, a + window) for a in range(0, n_rows - window + 1, stride)]
    if out[-1][1] < n_rows:
        out.append((n_rows - window, n_rows))
    return out


@torch.no_grad()
def frame_unknown_scores(
    scorer: SegmentScorer,
    features: torch.Tensor,
    *,
    window: int,
    stride: int,
    classes: Sequence[str] | None = None,
    batch: int = 64,
) -> np.ndarray:
    """Per-row unknown score ``[T]`` of one video's features ``[T, D]`` (module docstring): the mean
    ``MAX_SCORE − S_GL`` of the windows covering each row, windows scored ``batch`` at a time."""
    T = int(features.shape[0])
    spans = windows(T, window, stride)
    if not spans:
        return np.zeros(0, dtype=np.float32)
    dev = next(scorer.parameters()).device
    feats = features.float().to(dev)
    total = np.zeros(T, dtype=np.float64)
    count = np.zeros(T, dtype=np.float64)
    for i in range(0, len(spans), max(1, batch)):
        chunk = spans[i : i + batch]
        length = chunk[0][1] - chunk[0][0]  # every window of a video has the same length
        x = torch.stack([feats[a:b] for a, b in chunk])
        mask = torch.ones(x.shape[0], length, dtype=torch.bool, device=dev)
        s_gl = ood_scores(scorer, x, mask, classes)["sot-glp"].double().cpu().numpy()
        for (a, b), s in zip(chunk, s_gl, strict=True):
            total[a:b] += MAX_SCORE - float(s)
            count[a:b] += 1.0
    return (total / np.maximum(count, 1.0)).astype(np.float32)


def choose_threshold(marked_scores: Sequence[float] | np.ndarray, quantile: float = 0.95) -> float:
    """The ``quantile`` of the unknown scores of marked (known-label) rows: the threshold above which
    a row counts as unknown (module docstring)."""
    vals = np.asarray(marked_scores, dtype=np.float64).ravel()
    vals = vals[np.isfinite(vals)]
    if vals.size == 0:
        raise ValueError("no scores of marked frames to choose the threshold on")
    if not 0.0 < quantile < 1.0:
        raise ValueError(f"quantile must be between 0 and 1 (got {quantile})")
    return float(np.quantile(vals, quantile))


def fold_of_marks(labels: Sequence[str]) -> list[int]:
    """Fold (0 or 1) of each mark given its label, marks in time order; ``-1`` for the single mark
    of a label (never held out). Marks of a label alternate between the folds."""
    seen: dict[str, int] = {}
    totals: dict[str, int] = {}
    for lab in labels:
        totals[lab] = totals.get(lab, 0) + 1
    out = []
    for lab in labels:
        k = seen.get(lab, 0)
        seen[lab] = k + 1
        out.append(-1 if totals[lab] < 2 else k % 2)
    return out


def marked_rows(n_rows: int, fps: float, spans: Sequence[tuple[float, float]]) -> np.ndarray:
    """Boolean ``[n_rows]``: row ``i`` (time ``[i/fps, (i+1)/fps)``) is marked when its centre lies in
    one of the ``(start, end)`` second spans."""
    centre = (np.arange(n_rows, dtype=np.float64) + 0.5) / float(fps)
    out = np.zeros(n_rows, dtype=bool)
    for s, e in spans:
        out |= (centre >= s) & (centre < e)
    return out


def unknown_spans(
    scores: np.ndarray,
    fps: float,
    threshold: float,
    *,
    exclude: np.ndarray | None = None,
    min_rows: int = 1,
    duration: float | None = None,
) -> list[UnknownSpan]:
    """Maximal runs of rows scoring above ``threshold`` (rows where ``exclude`` is True break a run
    and never count), at least ``min_rows`` long, in time order; times clipped to ``duration``."""
    u = np.asarray(scores, dtype=np.float64).ravel()
    above = u > threshold
    if exclude is not None:
        above &= ~np.asarray(exclude, dtype=bool).ravel()[: u.size]
    out: list[UnknownSpan] = []
    t = 0
    n = u.size
    end_cap = math.inf if duration is None else float(duration)
    while t < n:
        if not above[t]:
            t += 1
            continue
        a = t
        while t < n and above[t]:
            t += 1
        if t - a >= max(1, min_rows):
            start = a / float(fps)
            end = min(t / float(fps), end_cap)
            if end > start:
                run = u[a:t]
                out.append(UnknownSpan(start, end, float(run.mean()), float(run.max())))
    return out
