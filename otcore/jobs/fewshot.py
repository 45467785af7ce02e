"""Few-shot localization jobs: ``train_fewshot`` (``train``) and ``predict_fewshot`` (``predict``).

``train(ctx, request: TrainRequest) -> TrainResult`` steps:

1. project = ``request.project_id`` (else the job's project); labels = ``request.labels`` (default:
   every label with at least one manual/corrected segment in the project); training videos =
   ``request.video_ids`` (default: every project video holding a marked segment of those labels).
2. Features per video via :func:`otcore.video.cache.load_video_features`; marks via
   ``EditLog(store).segments(video_id, sources=("manual", "corrected"))``.
3. Fit ``request.method`` (``plot-tal`` default, ``coop``, ``prototype``, ``sot-glp``) with optional
   ``epochs``, ``eps``, ``n_prompts``, ``levels``; progress ``"epoch i/n loss x"`` and a cancel check every
   step.
4. Save the model under ``settings.models_dir`` (recorded as a ``fewshot_model`` artifact).
5. Unless ``request.predict`` is False, run inference on every video of the project that has
   features (``_predict_videos``): predicted segments with scores via ``EditLog.replace_predictions``
   (manual/corrected rows are never touched), the prediction (segments, transport plans, frame
   scores) saved with :func:`otcore.store.predictions.save_prediction` under ``settings.results_dir``.

``predict(ctx, request: PredictRequest) -> PredictResult``: ``model_path`` (or ``artifact_id``),
``project_id``, optional ``video_ids``; step 5 alone.

:class:`TrainResult` holds ``model_path`` (relative to the data dir), ``method``, ``labels``,
``history`` (loss per epoch), and ``predictions`` = ``{video_id: VideoPredictions}``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

from otcore.paths import data_path, data_relative

if TYPE_CHECKING:
    from otcore.jobs.context import JobContext
    from otcore.methods.plot_tal import FewShotTAL, PlotTALConfig
    from otcore.types import Segment

__all__ = [
    "train",
    "predict",
    "select_proposals",
    "MODEL_KIND",
    "RESULTS_DIR",
    "TrainRequest",
    "TrainResult",
    "PredictRequest",
    "PredictResult",
    "VideoPredictions",
]

MODEL_KIND = "fewshot_model"
RESULTS_DIR = "results"
# What a person is shown per video: detections decoded for mAP keep every low-score
# candidate, proposals to review keep the confident ones.
PROPOSAL_MIN_SCORE = 0.05
PROPOSALS_PER_LABEL = 20


@dataclass(frozen=True)
class TrainRequest:
    """Train a few-shot model on the project's marks (``None``: the defaults of the module docstring)."""

    kind: ClassVar[str] = "train_fewshot"
    project_id: int | None = None
    labels: tuple[str, ...] | None = None
    video_ids: tuple[int, ...] | None = None
    method: str = "plot-tal"
    epochs: int | None = None
    eps: float | None = None
    n_prompts: int | None = None
    levels: int | None = None
    ot_weight: float | None = None
    seed: int | None = None
    predict: bool = True
    threads: int | None = None


@dataclass(frozen=True)
class PredictRequest:
    """Run a saved model (``model_path`` or ``artifact_id``) on the project's videos."""

    kind: ClassVar[str] = "predict_fewshot"
    model_path: str | None = None
    artifact_id: int | None = None
    project_id: int | None = None
    video_ids: tuple[int, ...] | None = None
    method: str | None = None
    threads: int | None = None


@dataclass(frozen=True)
class VideoPredictions:
    """What a model predicted on one video: ``n_segments`` proposals written, the saved
    prediction at ``plans_path`` (relative to the data dir), or why it was ``skipped``."""

    n_segments: int
    plans_path: str | None
    skipped: str | None = None


@dataclass(frozen=True)
class TrainResult:
    model_path: str
    artifact_id: int
    method: str
    labels: tuple[str, ...]
    n_train_videos: int
    n_segments: int
    train_seconds: float
    history: tuple[dict[str, float], ...]
    final_loss: float | None
    predictions: dict[int, VideoPredictions] | None = None


@dataclass(frozen=True)
class PredictResult:
    model_path: str
    method: str
    predictions: dict[int, VideoPredictions]


def select_proposals(segments: list[Segment], min_score: float, max_per_label: int) -> list[Segment]:
    """The proposals worth a person's review: score ≥ ``min_score``, at most ``max_per_label``
    best per label, in time order."""
    by_label: dict[str, list[Segment]] = {}
    for seg in segments:
        if seg.score is None or seg.score >= min_score:
            by_label.setdefault(seg.label, []).append(seg)
    kept = [
        s
        for segs in by_label.values()
        for s in sorted(segs, key=lambda s: -(s.score if s.score is not None else 1.0))[:max_per_label]
    ]
    return sorted(kept, key=lambda s: (s.start, s.label))


_TRAIN_SOURCES = ("manual", "corrected")


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` torch intra-op threads (restored afterwards); ``None`` keeps torch's default
    (all cores). On a CPU shared with other busy processes one thread can be much faster for the
    small tensors of few-shot training: ``request.threads`` or ``OTSTUDIO_TRAIN_THREADS`` set it."""
    import torch

    if not n or n <= 0:
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(int(n))
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _project_id(ctx: JobContext, pid: int | None) -> int:
    if pid is None:
        pid = ctx.job.project_id
    if pid is None:
        raise ValueError("few-shot jobs need a project_id (or a job submitted with a project)")
    return int(pid)


def _config(request: TrainRequest) -> PlotTALConfig:
    from otcore.methods.plot_tal import PlotTALConfig, with_method

    over = {
        "epochs": request.epochs,
        "eps": request.eps,
        "n_prompts": request.n_prompts,
        "levels": request.levels,
        "ot_weight": request.ot_weight,
        "seed": request.seed,
    }
    return with_method(PlotTALConfig(), request.method, **{k: v for k, v in over.items() if v is not None})


def _thread_count(ctx: JobContext, threads: int | None) -> int | None:
    return threads if threads is not None else ctx.job_settings.train_threads


def train(ctx: JobContext, request: TrainRequest) -> TrainResult:
    """The ``train_fewshot`` job (see the module docstring)."""
    with _threads(_thread_count(ctx, request.threads)):
        return _train(ctx, request)


def _train(ctx: JobContext, request: TrainRequest) -> TrainResult:
    from otcore.methods.plot_tal import TrainVideo, fit, save_model
    from otcore.store.edits import EditLog
    from otcore.types import Segment
    from otcore.video.cache import load_video_features

    store, settings = ctx.store, ctx.job_settings
    project_id = _project_id(ctx, request.project_id)
    method = request.method
    config = _config(request)
    log = EditLog(store)
    videos = store.list_videos(project_id)
    marks = {v.id: log.segments(v.id, sources=_TRAIN_SOURCES) for v in videos}
    labels = sorted(set(request.labels or {s.label for segs in marks.values() for s in segs}))
    wanted = None if request.video_ids is None else set(request.video_ids)
    chosen = [v for v in videos if (wanted is None or v.id in wanted)]
    ctx.progress(0.0, "loading features")
    train_videos: list[TrainVideo] = []
    for v in chosen:
        segs = [s for s in marks.get(v.id, []) if s.label in labels]
        if not segs:
            continue
        feats = load_video_features(store, store.data_dir or settings.data_dir, v.id)
        if feats is None:
            continue
        train_videos.append(
            TrainVideo(
                feats.features.float(),
                float(feats.fps),
                [Segment(s.label, float(s.start), float(s.end)) for s in segs],
                name=str(v.id),
            )
        )
    if not train_videos:
        raise ValueError(
            "no video with features and marked segments of the chosen labels: mark some segments "
            "and extract features first"
        )
    labels = [c for c in labels if any(s.label == c for tv in train_videos for s in tv.segments)]
    history: list[dict[str, float]] = []

    def progress(step: int, n: int, losses: dict[str, float]) -> None:
        history.append({"epoch": step, **{k: round(v, 5) for k, v in losses.items()}})
        ctx.progress(0.8 * step / n, f"epoch {step}/{n} loss {losses['loss']:.4f}")
        ctx.check_cancelled()

    t0 = time.perf_counter()
    model = fit(train_videos, labels, config, progress=progress)
    train_seconds = time.perf_counter() - t0
    key = hashlib.sha256(
        json.dumps({"job": ctx.job_id, "labels": labels, "method": method, "t": time.time()}).encode()
    ).hexdigest()[:16]
    path = Path(settings.models_dir) / f"fewshot_{method}_job{ctx.job_id}_{key}.pt"
    save_model(model, path, meta={"project_id": project_id, "labels": labels, "method": method})
    model_path = data_relative(settings.data_dir, path)
    art = store.add_artifact(
        MODEL_KIND,
        key,
        model_path,
        {"project_id": project_id, "labels": labels, "method": method, "job_id": ctx.job_id},
    )
    n_segments = sum(len(tv.segments) for tv in train_videos)
    predictions = (
        _predict_videos(ctx, model, method, project_id, None, start=0.8) if request.predict else None
    )
    ctx.progress(1.0, f"done: {len(labels)} labels, {n_segments} marks")
    return TrainResult(
        model_path=model_path,
        artifact_id=art.id,
        method=method,
        labels=tuple(labels),
        n_train_videos=len(train_videos),
        n_segments=n_segments,
        train_seconds=round(train_seconds, 2),
        history=tuple(history),
        final_loss=history[-1]["loss"] if history else None,
        predictions=predictions,
    )


def _predict_videos(
    ctx: JobContext,
    model: FewShotTAL,
    method: str,
    project_id: int,
    video_ids: tuple[int, ...] | None,
    start: float = 0.0,
) -> dict[int, VideoPredictions]:
    from otcore.methods.plot_tal import predict as run_model
    from otcore.store.edits import EditLog
    from otcore.store.predictions import SavedPrediction, save_prediction
    from otcore.video.cache import load_video_features

    store, settings = ctx.store, ctx.job_settings
    log = EditLog(store)
    min_score, max_per_label = PROPOSAL_MIN_SCORE, PROPOSALS_PER_LABEL
    videos = store.list_videos(project_id)
    if video_ids is not None:
        wanted = set(video_ids)
        videos = [v for v in videos if v.id in wanted]
    out: dict[int, VideoPredictions] = {}
    for i, v in enumerate(videos):
        ctx.check_cancelled()
        ctx.progress(start + (1 - start) * i / max(1, len(videos)), f"predicting video {i + 1}/{len(videos)}")
        feats = load_video_features(store, store.data_dir or settings.data_dir, v.id)
        if feats is None:
            out[v.id] = VideoPredictions(n_segments=0, plans_path=None, skipped="no features")
            continue
        pred = run_model(model, feats.features.float(), float(feats.fps))
        ids = log.replace_predictions(
            v.id, select_proposals(pred.segments, min_score, max_per_label), method=method
        )
        saved = SavedPrediction.of(
            pred,
            float(feats.fps),
            class_names=list(model.class_names),
            meta={"method": method, "levels": int(model.config.levels)},
        )
        path = save_prediction(settings.results_dir / f"fewshot_job{ctx.job_id}_video{v.id}.npz", saved)
        out[v.id] = VideoPredictions(n_segments=len(ids), plans_path=data_relative(settings.data_dir, path))
    return out


def predict(ctx: JobContext, request: PredictRequest) -> PredictResult:
    """The ``predict_fewshot`` job: run a saved model on the project's videos (see the module docstring)."""
    with _threads(_thread_count(ctx, request.threads)):
        return _predict(ctx, request)


def _predict(ctx: JobContext, request: PredictRequest) -> PredictResult:
    from otcore.methods.plot_tal import load_model

    store, settings = ctx.store, ctx.job_settings
    path = request.model_path
    if path is None and request.artifact_id is not None:
        art = store.get_artifact(request.artifact_id)
        path = art.path if art is not None else None
    if path is None:
        raise ValueError("predict_fewshot needs a model_path or an artifact_id")
    model = load_model(data_path(settings.data_dir, path))
    method = request.method or ("sot-glp" if model.glp is not None else model.config.method)
    project_id = _project_id(ctx, request.project_id)
    preds = _predict_videos(ctx, model, method, project_id, request.video_ids)
    ctx.progress(1.0, f"done: {len(preds)} videos")
    return PredictResult(model_path=str(path), method=method, predictions=preds)
