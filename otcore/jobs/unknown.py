"""Unknown-action scores of a project's videos (job ``score_unknown``; also run by ``train_fewshot``).

``run(ctx, request: UnknownRequest) -> UnknownResult``:

1. project, labels (default: every label with a manual/corrected mark) and the marked videos with
   features, as ``train_fewshot`` reads them; the text tower of the features' CLIP model
   (:mod:`otcore.jobs.clip_pair`).
2. :func:`score_project`: the threshold from two out-of-fold SOT-GLP models on the marks, then one
   model on all marks scores every project video with features (rules in
   :mod:`otcore.methods.unknown`).
3. Each video's per-row unknown scores are saved with :func:`otcore.store.predictions.save_prediction`
   (array ``"unknown"``, meta ``threshold``, ``quantile``, ``window``, ``stride``) under
   ``settings.results_dir``, and one ``unknown_scores`` artifact records the run (project, labels,
   threshold, rule, the file of each video). The newest such artifact of a project is the one the app
   shows (:mod:`otcore.service.unknown`).

Fewer than two labels: nothing is written and the result says why (``skipped``).
"""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from otcore.storage import stored_key

if TYPE_CHECKING:
    import numpy as np
    import torch

    from otcore.jobs.context import JobContext
    from otcore.methods.prompts import TextTower
    from otcore.methods.sot_glp import SegmentScorer

__all__ = [
    "UNKNOWN_KIND",
    "DEFAULT_QUANTILE",
    "UnknownRequest",
    "UnknownResult",
    "UnknownVideo",
    "MarkedVideo",
    "PendingScores",
    "run",
    "score_project",
    "compute_scores",
    "write_scores",
]

UNKNOWN_KIND = "unknown_scores"
DEFAULT_QUANTILE = 0.95
DEFAULT_EPOCHS = 60
_SOURCES = ("manual", "corrected")


@dataclass(frozen=True)
class UnknownRequest:
    """Score the project's videos for actions none of its labels covers (``None``: defaults)."""

    kind: ClassVar[str] = "score_unknown"
    project_id: int | None = None
    labels: tuple[str, ...] | None = None
    quantile: float | None = None
    window: int | None = None
    epochs: int | None = None
    seed: int | None = None
    threads: int | None = None


@dataclass(frozen=True)
class UnknownVideo:
    """One video's scores: the file (relative to the data dir), its rows and how many lie above the
    threshold, or why it was ``skipped``."""

    path: str | None
    n_rows: int = 0
    n_above: int = 0
    skipped: str | None = None


@dataclass(frozen=True)
class UnknownResult:
    """``threshold`` on the unknown score (``2 − S_GL``) and the ``rule`` that chose it."""

    artifact_id: int | None = None
    threshold: float | None = None
    quantile: float = DEFAULT_QUANTILE
    rule: str = ""
    labels: tuple[str, ...] = ()
    window: int = 0
    stride: int = 0
    n_threshold_rows: int = 0
    videos: dict[int, UnknownVideo] | None = None
    skipped: str | None = None


@dataclass(frozen=True)
class MarkedVideo:
    """A video's features ``[T, D]`` at ``fps`` and its marks ``(label, start_s, end_s)``."""

    video_id: int
    features: torch.Tensor
    fps: float
    marks: tuple[tuple[str, float, float], ...]


def _rows(mark: tuple[str, float, float], fps: float, n_rows: int) -> tuple[int, int]:
    a = max(0, min(n_rows - 1, int(math.floor(mark[1] * fps))))
    return a, min(n_rows, max(int(math.ceil(mark[2] * fps)), a + 1))


def _fit(
    videos: Sequence[MarkedVideo],
    labels: Sequence[str],
    skip: set[tuple[int, int]],
    tower: TextTower | None,
    epochs: int,
    seed: int,
) -> SegmentScorer:
    """A SOT-GLP scorer on the marks of ``labels`` except those in ``skip`` ((video index, mark index))."""
    from otcore.methods.sot_glp import SotGlpConfig, fit_clips

    index = {c: i for i, c in enumerate(labels)}
    clips, ys = [], []
    for vi, v in enumerate(videos):
        T = int(v.features.shape[0])
        for mi, m in enumerate(v.marks):
            if (vi, mi) in skip or m[0] not in index:
                continue
            a, b = _rows(m, v.fps, T)
            clips.append(v.features[a:b].float())
            ys.append(index[m[0]])
    return fit_clips(clips, ys, list(labels), SotGlpConfig(epochs=epochs, seed=seed), tower=tower)


def score_project(
    ctx: JobContext,
    project_id: int,
    marked: Sequence[MarkedVideo],
    labels: Sequence[str],
    tower: TextTower | None,
    *,
    quantile: float | None = None,
    window: int | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    start: float = 0.0,
) -> UnknownResult:
    """Choose the threshold on ``marked``, score every project video with features, save the scores
    and the ``unknown_scores`` artifact (module docstring); progress from ``start`` to 1."""
    pending = compute_scores(
        ctx,
        project_id,
        marked,
        labels,
        tower,
        quantile=quantile,
        window=window,
        epochs=epochs,
        seed=seed,
        start=start,
    )
    ctx.check_cancelled()  # nothing stored changes before this point
    return write_scores(ctx, pending)


@dataclass(frozen=True)
class PendingScores:
    """What :func:`compute_scores` found, not yet written (``result`` set when it was skipped)."""

    project_id: int
    labels: tuple[str, ...]
    quantile: float
    threshold: float
    rule: str
    window: int
    stride: int
    n_threshold_rows: int
    scores: tuple[tuple[int, Any, float], ...]  # (video id, unknown scores [T], fps)
    skipped: dict[int, UnknownVideo]
    result: UnknownResult | None = None


def compute_scores(
    ctx: JobContext,
    project_id: int,
    marked: Sequence[MarkedVideo],
    labels: Sequence[str],
    tower: TextTower | None,
    *,
    quantile: float | None = None,
    window: int | None = None,
    epochs: int | None = None,
    seed: int | None = None,
    start: float = 0.0,
) -> PendingScores:
    """Everything of :func:`score_project` but the writing (nothing stored changes)."""
    import numpy as np

    from otcore.methods.unknown import (
        choose_threshold,
        default_stride,
        default_window,
        fold_of_marks,
        frame_unknown_scores,
    )
    from otcore.video.cache import load_video_features

    q = DEFAULT_QUANTILE if quantile is None else float(quantile)
    if not 0.0 < q < 1.0:
        raise ValueError(f"quantile must be between 0 and 1 (got {q})")
    labels = [c for c in labels if any(m[0] == c for v in marked for m in v.marks)]
    marked = [v for v in marked if any(m[0] in labels for m in v.marks)]
    if len(labels) < 2:
        skip = UnknownResult(
            None,
            None,
            q,
            "",
            tuple(labels),
            skipped="unknown-action scores need marks of two or more labels",
        )
        return PendingScores(project_id, tuple(labels), q, 0.0, "", 0, 0, 0, (), {}, result=skip)
    n_epochs = DEFAULT_EPOCHS if epochs is None else int(epochs)
    seed_ = 0 if seed is None else int(seed)
    lengths = [_rows(m, v.fps, int(v.features.shape[0])) for v in marked for m in v.marks if m[0] in labels]
    w = default_window([b - a for a, b in lengths]) if window is None else max(1, int(window))
    stride = default_stride(w)

    # threshold: rows of held-out marks, each scored by a model trained without its fold
    order = sorted(
        ((vi, mi) for vi, v in enumerate(marked) for mi, m in enumerate(v.marks) if m[0] in labels),
        key=lambda k: (marked[k[0]].marks[k[1]][1], k),
    )
    folds = fold_of_marks([marked[vi].marks[mi][0] for vi, mi in order])
    pooled: list[np.ndarray] = []
    held_any = any(f >= 0 for f in folds)
    for fold in (0, 1) if held_any else ():
        ctx.check_cancelled()
        ctx.progress(start + (1 - start) * 0.2 * fold, f"unknown actions: threshold fold {fold + 1}/2")
        held = {k for k, f in zip(order, folds, strict=True) if f == fold}
        if not held:
            continue
        model = _fit(marked, labels, held, tower, n_epochs, seed_)
        for vi in sorted({k[0] for k in held}):
            v = marked[vi]
            u = frame_unknown_scores(model, v.features, window=w, stride=stride, classes=labels)
            for mi in sorted(m for i, m in held if i == vi):
                a, b = _rows(v.marks[mi], v.fps, u.size)
                pooled.append(u[a:b])
    ctx.check_cancelled()
    ctx.progress(start + (1 - start) * 0.4, "unknown actions: model on all marks")
    final = _fit(marked, labels, set(), tower, n_epochs, seed_)
    if pooled:
        rule = (
            f"{q:.2f}-quantile of the unknown score of marked frames, each scored by a model trained "
            "without its mark (two folds)"
        )
    else:
        rule = (
            f"{q:.2f}-quantile of the unknown score of marked frames, in-sample (no label has two "
            "marks to hold one out)"
        )
        for v in marked:
            u = frame_unknown_scores(final, v.features, window=w, stride=stride, classes=labels)
            for m in v.marks:
                if m[0] in labels:
                    a, b = _rows(m, v.fps, u.size)
                    pooled.append(u[a:b])
    rows_for_threshold = np.concatenate(pooled)
    threshold = choose_threshold(rows_for_threshold, q)

    store, settings = ctx.store, ctx.job_settings
    videos = store.list_videos(project_id)
    pending: list[tuple[int, Any, float]] = []
    skipped: dict[int, UnknownVideo] = {}
    for i, video in enumerate(videos):
        ctx.check_cancelled()
        ctx.progress(
            start + (1 - start) * (0.5 + 0.5 * i / max(1, len(videos))),
            f"unknown actions: video {i + 1}/{len(videos)}",
        )
        feats = load_video_features(store, store.data_dir or settings.data_dir, video.id)
        if feats is None:
            skipped[video.id] = UnknownVideo(None, skipped="no features")
            continue
        u = frame_unknown_scores(final, feats.features.float(), window=w, stride=stride, classes=labels)
        pending.append((video.id, u, float(feats.fps)))
    return PendingScores(
        project_id,
        tuple(labels),
        q,
        threshold,
        rule,
        w,
        stride,
        int(rows_for_threshold.size),
        tuple(pending),
        skipped,
    )


def write_scores(ctx: JobContext, pending: PendingScores) -> UnknownResult:
    """Save each video's scores and the ``unknown_scores`` artifact of :func:`compute_scores`."""
    from otcore.store.predictions import SavedPrediction, save_prediction
    from otcore.types import Prediction

    if pending.result is not None:
        return pending.result
    store, settings = ctx.store, ctx.job_settings
    threshold = pending.threshold
    meta: dict[str, Any] = {
        "kind": "unknown",
        "threshold": threshold,
        "quantile": pending.quantile,
        "window": pending.window,
        "stride": pending.stride,
        "job_id": ctx.job_id,
    }
    out: dict[int, UnknownVideo] = dict(pending.skipped)
    files: dict[str, str] = {}
    labels = list(pending.labels)
    for vid, u, fps in pending.scores:
        saved = SavedPrediction.of(
            Prediction(segments=[]), fps, class_names=list(labels), arrays={"unknown": u}, meta=meta
        )
        path = save_prediction(settings.results_dir / f"unknown_job{ctx.job_id}_video{vid}.npz", saved)
        rel = stored_key(settings, path)
        files[str(vid)] = rel
        out[vid] = UnknownVideo(rel, n_rows=int(u.size), n_above=int((u > threshold).sum()))
    key = hashlib.sha256(
        json.dumps({"job": ctx.job_id, "project": pending.project_id, "t": time.time()}).encode()
    ).hexdigest()[:16]
    art = store.add_artifact(
        UNKNOWN_KIND,
        key,
        next(iter(files.values()), ""),
        {
            **meta,
            "project_id": pending.project_id,
            "labels": labels,
            "rule": pending.rule,
            "n_threshold_rows": pending.n_threshold_rows,
            "videos": files,
        },
    )
    return UnknownResult(
        artifact_id=art.id,
        threshold=threshold,
        quantile=pending.quantile,
        rule=pending.rule,
        labels=tuple(labels),
        window=pending.window,
        stride=pending.stride,
        n_threshold_rows=pending.n_threshold_rows,
        videos=out,
    )


def run(ctx: JobContext, request: UnknownRequest) -> UnknownResult:
    """The ``score_unknown`` job (see the module docstring)."""
    from otcore.jobs.fewshot import _thread_count, _threads

    with _threads(_thread_count(ctx, request.threads)):
        return _run(ctx, request)


def _run(ctx: JobContext, request: UnknownRequest) -> UnknownResult:
    from otcore.jobs.clip_pair import features_identity, one_encoder, text_tower_for
    from otcore.store.edits import EditLog
    from otcore.video.cache import load_video_features

    store, settings = ctx.store, ctx.job_settings
    project_id = request.project_id if request.project_id is not None else ctx.job.project_id
    if project_id is None:
        raise ValueError("score_unknown needs a project_id (or a job submitted with a project)")
    log = EditLog(store)
    videos = store.list_videos(int(project_id))
    marks = {v.id: log.segments(v.id, sources=_SOURCES) for v in videos}
    if not any(marks.values()):
        raise ValueError("no marked segments in this project: mark a few segments of each label first")
    labels = sorted(set(request.labels or {s.label for segs in marks.values() for s in segs}))
    marked: list[MarkedVideo] = []
    identities = []
    ctx.progress(0.0, "loading features")
    for v in videos:
        segs = [s for s in marks[v.id] if s.label in labels]
        if not segs:
            continue
        feats = load_video_features(store, store.data_dir or settings.data_dir, v.id)
        if feats is None:
            continue
        identities.append((v.filename, features_identity(store, v.id)))
        marked.append(
            MarkedVideo(
                v.id,
                feats.features.float(),
                float(feats.fps),
                tuple((s.label, float(s.start), float(s.end)) for s in segs),
            )
        )
    if not marked:
        raise ValueError("no marked video has features yet: extract their features first")
    paired = text_tower_for(settings, one_encoder(identities))
    result = score_project(
        ctx,
        int(project_id),
        marked,
        labels,
        paired.tower,
        quantile=request.quantile,
        window=request.window,
        epochs=request.epochs,
        seed=request.seed,
    )
    ctx.progress(1.0, result.skipped or f"done: threshold {result.threshold:.3f}")
    return result
