"""Few-shot localization jobs: ``train_fewshot`` (``train``) and ``predict_fewshot`` (``predict``).

``train(ctx, request: TrainRequest) -> TrainResult`` steps:

1. project = ``request.project_id`` (else the job's project); labels = ``request.labels`` (default:
   every label with at least one manual/corrected segment in the project); training videos =
   ``request.video_ids`` (default: every project video holding a marked segment of those labels).
2. Features per video via :func:`otcore.video.cache.load_video_features`; marks via
   ``EditLog(store).segments(video_id, sources=("manual", "corrected"))``.
3. The text tower: the CLIP model that produced the features (:mod:`otcore.jobs.clip_pair`); features
   from two encoders, or from a model other than the configured one, are refused. Its identity
   (model id + weights sha) goes on the model file and its artifact.
4. Fit ``request.method`` (``plot-tal`` default, ``coop``, ``prototype``, ``sot-glp``) with optional
   ``epochs``, ``eps``, ``n_prompts``, ``levels``; progress ``"epoch i/n loss x"`` and a cancel check every
   step. The prompts encode a label's description instead of its name when it has one
   (``request.descriptions``, default: the descriptions stored with the labels; PLOT-TAL's verbose
   class text); the labels named this way are ``described`` on the result and the model file.
5. Save the model under ``settings.models_dir`` (recorded as a ``fewshot_model`` artifact).
6. Unless ``request.predict`` is False, run inference on every video of the project that has
   features (``_predict_videos``), then write every video's proposals at once (a cancel before that
   leaves the previous proposals in place): predicted segments with scores via
   ``EditLog.replace_predictions`` (manual/corrected rows are never touched), the prediction
   (segments, transport plans, frame scores) saved with
   :func:`otcore.store.predictions.save_prediction` under ``settings.results_dir``.

7. Unless ``request.unknown`` is False (and with ``predict``), the unknown-action scores of
   :mod:`otcore.jobs.unknown` (SOT-GLP's local-global OOD score per video, a threshold chosen on
   the marks), written with the predictions; ``TrainResult.unknown`` holds their summary.

Proposals shown to a person: each boundary first snapped to the strongest feature change within
``refine_steps`` feature steps (:func:`otcore.methods.refine.refine_segments`, default
``REFINE_STEPS``; 0 leaves the decoder's boundaries), then (:func:`select_proposals`): score ≥ ``min_score``, same-label overlaps
suppressed (greedy NMS at tIoU ``nms_iou``), none that lies mostly (``marked_overlap``) over time the
person already marked, at most ``max_per_label`` per label.

``predict(ctx, request: PredictRequest) -> PredictResult``: ``model_path`` (or ``artifact_id``),
``project_id``, optional ``video_ids``; step 5 alone. :func:`predict_video` is step 5 for one video,
inferred and written at once (the bulk command's per-video step, :mod:`otcore.jobs.ray_predict`).

:class:`TrainResult` holds ``model_path`` (relative to the data dir), ``method``, ``labels``,
``history`` (loss per epoch), and ``predictions`` = ``{video_id: VideoPredictions}``, ``text_tower`` (the model id of the tower that
trained the prompts) and ``names_meaningful`` (False when that tower has no pretrained text).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from otcore.jobs.unknown import UnknownResult
from otcore.storage import local_file, stored_key

if TYPE_CHECKING:
    from otcore.jobs.context import JobContext
    from otcore.methods.plot_tal import FewShotTAL, PlotTALConfig
    from otcore.types import Segment

__all__ = [
    "train",
    "predict",
    "predict_video",
    "model_path_of",
    "method_of",
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
PROPOSAL_NMS_IOU = 0.5
MARKED_OVERLAP = 0.5
# Boundary refinement is off by default: on gym_i3d seeds 0-9 (`eval loop`'s choice step) no method
# chose a radius above 0 (snapping ~2.5-step segments moves more hits below tIoU 0.5 than it makes exact).
REFINE_STEPS = 0


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
    min_score: float | None = None
    nms_iou: float | None = None
    marked_overlap: float | None = None
    refine_steps: int | None = None
    text_init: bool | None = None
    #: class name → text the prompts encode instead of the name (None: the labels' stored descriptions)
    descriptions: dict[str, str] | None = None
    unknown: bool | None = None  # None: on (the unknown-action scores, step 7)


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
    min_score: float | None = None
    nms_iou: float | None = None
    marked_overlap: float | None = None
    refine_steps: int | None = None


@dataclass(frozen=True)
class VideoPredictions:
    """What a model predicted on one video: ``n_segments`` proposals written, the saved
    prediction at ``plans_path`` (relative to the data dir), or why it was ``skipped``."""

    n_segments: int
    plans_path: str | None = None  # None is left out of the row: the default reads it back
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
    text_tower: str = ""
    text_weights_id: str | None = None
    names_meaningful: bool = False
    described: tuple[str, ...] = ()
    unknown: UnknownResult | None = None


@dataclass(frozen=True)
class PredictResult:
    model_path: str
    method: str
    predictions: dict[int, VideoPredictions]


def _tiou(a: Segment, b: Segment) -> float:
    inter = max(0.0, min(a.end, b.end) - max(a.start, b.start))
    union = (a.end - a.start) + (b.end - b.start) - inter
    return inter / union if union > 0 else 0.0


def _covered(seg: Segment, marked: Sequence[Any]) -> float:
    """Fraction of ``seg``'s duration that lies over the ``marked`` segments (any label)."""
    length = seg.end - seg.start
    if length <= 0 or not marked:
        return 0.0
    spans = sorted((max(seg.start, m.start), min(seg.end, m.end)) for m in marked)
    total, cur_s, cur_e = 0.0, None, None
    for s, e in spans:
        if e <= s:
            continue
        if cur_e is None or s > cur_e:
            if cur_e is not None and cur_s is not None:
                total += cur_e - cur_s
            cur_s, cur_e = s, e
        else:
            cur_e = max(cur_e, e)
    if cur_e is not None and cur_s is not None:
        total += cur_e - cur_s
    return total / length


def select_proposals(
    segments: list[Segment],
    min_score: float,
    max_per_label: int,
    *,
    nms_iou: float | None = None,
    marked: Sequence[Any] | None = None,
    marked_overlap: float = MARKED_OVERLAP,
) -> list[Segment]:
    """The proposals worth a person's review, in time order: score ≥ ``min_score``; per label,
    greedy non-maximum suppression (a proposal whose tIoU with a better one of the same label is
    above ``nms_iou`` is dropped; ``None`` keeps all); none with more than ``marked_overlap`` of its
    duration over ``marked`` time; then at most ``max_per_label`` best per label."""
    by_label: dict[str, list[Segment]] = {}
    for seg in segments:
        if seg.score is None or seg.score >= min_score:
            if marked and _covered(seg, marked) > marked_overlap:
                continue
            by_label.setdefault(seg.label, []).append(seg)
    kept: list[Segment] = []
    for segs in by_label.values():
        chosen: list[Segment] = []
        for s in sorted(segs, key=lambda s: -(s.score if s.score is not None else 1.0)):
            if nms_iou is not None and any(_tiou(s, c) > nms_iou for c in chosen):
                continue
            chosen.append(s)
            if len(chosen) >= max_per_label:
                break
        kept += chosen
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


CTX_INIT_TEMPLATE = "a photo of a"


def _config(request: TrainRequest, names_meaningful: bool = False) -> PlotTALConfig:
    from otcore.methods.plot_tal import PlotTALConfig, with_method

    over: dict[str, object] = {
        "epochs": request.epochs,
        "eps": request.eps,
        "n_prompts": request.n_prompts,
        "levels": request.levels,
        "ot_weight": request.ot_weight,
        "seed": request.seed,
    }
    text_init = names_meaningful if request.text_init is None else request.text_init
    if text_init and request.method in ("plot-tal", "coop", "sot-glp"):
        over["ctx_init"] = CTX_INIT_TEMPLATE
    return with_method(PlotTALConfig(), request.method, **{k: v for k, v in over.items() if v is not None})


def _thread_count(ctx: JobContext, threads: int | None) -> int | None:
    return threads if threads is not None else ctx.job_settings.train_threads


def train(ctx: JobContext, request: TrainRequest) -> TrainResult:
    """The ``train_fewshot`` job (see the module docstring)."""
    with _threads(_thread_count(ctx, request.threads)):
        return _train(ctx, request)


def _train(ctx: JobContext, request: TrainRequest) -> TrainResult:
    from otcore.jobs.clip_pair import features_identity, one_encoder, text_tower_for
    from otcore.methods.plot_tal import METHODS, TrainVideo, fit, save_model
    from otcore.store.edits import EditLog
    from otcore.types import Segment
    from otcore.video.cache import load_video_features

    store, settings = ctx.store, ctx.job_settings
    project_id = _project_id(ctx, request.project_id)
    method = request.method
    if method not in (*METHODS, "sot-glp"):
        raise ValueError(f"unknown method {method!r}: choose one of {', '.join((*METHODS, 'sot-glp'))}")
    log = EditLog(store)
    videos = store.list_videos(project_id)
    marks = {v.id: log.segments(v.id, sources=_TRAIN_SOURCES) for v in videos}
    if not any(marks.values()):
        raise ValueError("no marked segments in this project: mark a few segments of each label, then train")
    labels = sorted(set(request.labels or {s.label for segs in marks.values() for s in segs}))
    wanted = None if request.video_ids is None else set(request.video_ids)
    chosen = [v for v in videos if (wanted is None or v.id in wanted)]
    ctx.progress(0.0, "loading features")
    train_videos: list[TrainVideo] = []
    identities = []
    marked_without_features = 0
    for v in chosen:
        segs = [s for s in marks.get(v.id, []) if s.label in labels]
        if not segs:
            continue
        feats = load_video_features(store, store.data_dir or settings.data_dir, v.id)
        if feats is None:
            marked_without_features += 1
            continue
        identities.append((v.filename, features_identity(store, v.id)))
        train_videos.append(
            TrainVideo(
                feats.features.float(),
                float(feats.fps),
                [Segment(s.label, float(s.start), float(s.end)) for s in segs],
                name=str(v.id),
            )
        )
    if not train_videos:
        if marked_without_features:
            raise ValueError(
                f"the marked videos ({marked_without_features}) have no features yet: extract their "
                "features (Videos page or otstudio add) before training"
            )
        raise ValueError(
            "no video with features and marked segments of the chosen labels "
            f"({', '.join(labels) or 'none'}): mark some segments of those labels first"
        )
    identity = one_encoder(identities)
    paired = None
    if method != "prototype" or identity is not None:
        ctx.progress(0.0, "loading the text tower")
        paired = text_tower_for(settings, identity)
    names_meaningful = bool(paired and paired.names_meaningful)
    config = _config(request, names_meaningful)
    labels = [c for c in labels if any(s.label == c for tv in train_videos for s in tv.segments)]
    history: list[dict[str, float]] = []

    def progress(step: int, n: int, losses: dict[str, float]) -> None:
        history.append({"epoch": step, **{k: round(v, 5) for k, v in losses.items()}})
        ctx.progress(0.8 * step / n, f"epoch {step}/{n} loss {losses['loss']:.4f}")
        ctx.check_cancelled()

    t0 = time.perf_counter()
    descriptions = (
        store.label_descriptions(project_id) if request.descriptions is None else request.descriptions
    )
    described = [c for c in labels if str(descriptions.get(c) or "").strip()]
    model = fit(
        train_videos,
        labels,
        config,
        tower=paired.tower if paired else None,
        progress=progress,
        descriptions={c: descriptions[c] for c in described},
    )
    train_seconds = time.perf_counter() - t0
    ctx.check_cancelled()
    tower_id = paired.tower_id if paired else "none (prototypes)"
    text_weights = paired.identity.weights_id if paired and paired.identity else None
    identity_meta = {
        "text_tower": tower_id,
        "text_weights_id": text_weights,
        "names_meaningful": names_meaningful,
        "features_model_id": identity.model_id if identity else None,
        "features_weights_id": identity.weights_id if identity else None,
    }
    key = hashlib.sha256(
        json.dumps({"job": ctx.job_id, "labels": labels, "method": method, "t": time.time()}).encode()
    ).hexdigest()[:16]
    path = Path(settings.models_dir) / f"fewshot_{method}_job{ctx.job_id}_{key}.pt"
    meta = {
        "project_id": project_id,
        "labels": labels,
        "method": method,
        "described": described,
        **identity_meta,
    }
    predictions = None
    pending: list[_Pending] = []
    unknown_pending = None
    if request.predict:
        pending = _infer_videos(ctx, model, method, project_id, None, start=0.8, refine=_refine(request))
        if request.unknown is not False:
            unknown_pending = _unknown_scores(ctx, project_id, train_videos, labels, paired, request)
    ctx.check_cancelled()  # nothing stored changes before this point
    save_model(model, path, meta=meta)
    model_path = stored_key(settings, path)
    art = store.add_artifact(MODEL_KIND, key, model_path, {**meta, "job_id": ctx.job_id})
    n_segments = sum(len(tv.segments) for tv in train_videos)
    if request.predict:
        predictions = _write_predictions(ctx, pending, method, _proposal_settings(request))
    unknown = None
    if unknown_pending is not None:
        from otcore.jobs.unknown import write_scores

        unknown = write_scores(ctx, unknown_pending)
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
        text_tower=tower_id,
        text_weights_id=text_weights,
        names_meaningful=names_meaningful,
        described=tuple(described),
        unknown=unknown,
    )


def _unknown_scores(
    ctx: JobContext,
    project_id: int,
    train_videos: Sequence[Any],
    labels: Sequence[str],
    paired: Any,
    request: TrainRequest,
) -> Any:
    """The unknown-action scores of :mod:`otcore.jobs.unknown` for the training marks (not written)."""
    from otcore.jobs.unknown import MarkedVideo, compute_scores

    marked = [
        MarkedVideo(int(tv.name), tv.features, tv.fps, tuple((s.label, s.start, s.end) for s in tv.segments))
        for tv in train_videos
    ]
    return compute_scores(
        ctx, project_id, marked, labels, paired.tower if paired else None, seed=request.seed, start=0.9
    )


@dataclass(frozen=True)
class _Pending:
    video_id: int
    fps: float
    prediction: object | None  # otcore.types.Prediction; None when the video has no features
    class_names: tuple[str, ...]
    levels: int


@dataclass(frozen=True)
class _ProposalSettings:
    min_score: float
    nms_iou: float | None
    marked_overlap: float


def _proposal_settings(request: TrainRequest | PredictRequest) -> _ProposalSettings:
    return _ProposalSettings(
        PROPOSAL_MIN_SCORE if request.min_score is None else float(request.min_score),
        PROPOSAL_NMS_IOU if request.nms_iou is None else (float(request.nms_iou) or None),
        MARKED_OVERLAP if request.marked_overlap is None else float(request.marked_overlap),
    )


def _refine(request: TrainRequest | PredictRequest) -> int:
    steps = REFINE_STEPS if request.refine_steps is None else int(request.refine_steps)
    if steps < 0:
        raise ValueError(f"refine_steps must be a non-negative number of feature steps, got {steps}")
    return steps


def _infer_videos(
    ctx: JobContext,
    model: FewShotTAL,
    method: str,
    project_id: int,
    video_ids: tuple[int, ...] | None,
    start: float = 0.0,
    refine: int = 0,
) -> list[_Pending]:
    """Run the model on the project's videos (nothing is written); proposal boundaries snapped to
    the features' strongest change within ``refine`` steps."""
    store = ctx.store
    videos = store.list_videos(project_id)
    if video_ids is not None:
        wanted = set(video_ids)
        videos = [v for v in videos if v.id in wanted]
    out: list[_Pending] = []
    for i, v in enumerate(videos):
        ctx.check_cancelled()
        ctx.progress(start + (1 - start) * i / max(1, len(videos)), f"predicting video {i + 1}/{len(videos)}")
        out.append(_infer_one(ctx, model, v.id, refine))
    return out


def _infer_one(ctx: JobContext, model: FewShotTAL, video_id: int, refine: int = 0) -> _Pending:
    """Run the model on one video (nothing is written); proposal boundaries snapped to the features'
    strongest change within ``refine`` steps (0: the decoder's boundaries)."""
    from dataclasses import replace

    from otcore.methods.plot_tal import predict as run_model
    from otcore.methods.refine import refine_segments
    from otcore.video.cache import load_video_features

    store = ctx.store
    feats = load_video_features(store, store.data_dir or ctx.job_settings.data_dir, video_id)
    if feats is None:
        return _Pending(video_id, 0.0, None, (), 0)
    pred = run_model(model, feats.features.float(), float(feats.fps))
    if refine:
        pred = replace(
            pred, segments=refine_segments(pred.segments, feats.features, float(feats.fps), radius=refine)
        )
    return _Pending(video_id, float(feats.fps), pred, tuple(model.class_names), int(model.config.levels))


def predict_video(
    ctx: JobContext, model: FewShotTAL, method: str, video_id: int, request: PredictRequest
) -> VideoPredictions:
    """One video of the ``predict_fewshot`` job, inferred and written at once (its proposals and
    its prediction file, named for ``ctx.job_id``): what the job does for each video, for callers
    that spread the videos over several processes (:mod:`otcore.jobs.ray_predict`)."""
    pending = [_infer_one(ctx, model, int(video_id), _refine(request))]
    return _write_predictions(ctx, pending, method, _proposal_settings(request))[int(video_id)]


def model_path_of(ctx: JobContext, request: PredictRequest) -> str:
    """The model file a ``predict_fewshot`` request names (``model_path``, else its artifact's)."""
    path = request.model_path
    if path is None and request.artifact_id is not None:
        art = ctx.store.get_artifact(request.artifact_id)
        path = art.path if art is not None else None
    if path is None:
        raise ValueError("predict_fewshot needs a model_path or an artifact_id")
    return path


def method_of(model: FewShotTAL, request: PredictRequest) -> str:
    """The method name a ``predict_fewshot`` run records for ``model``."""
    return request.method or ("sot-glp" if model.glp is not None else model.config.method)


def _write_predictions(
    ctx: JobContext, pending: list[_Pending], method: str, chosen: _ProposalSettings
) -> dict[int, VideoPredictions]:
    """Replace each video's proposals by the new model's and save its prediction file."""
    from otcore.store.edits import EditLog
    from otcore.store.predictions import SavedPrediction, save_prediction
    from otcore.types import Prediction

    store, settings = ctx.store, ctx.job_settings
    log = EditLog(store)
    out: dict[int, VideoPredictions] = {}
    for item in pending:
        if item.prediction is None:
            out[item.video_id] = VideoPredictions(n_segments=0, plans_path=None, skipped="no features")
            continue
        pred = item.prediction
        assert isinstance(pred, Prediction)
        marked = log.segments(item.video_id, sources=_TRAIN_SOURCES)
        proposals = select_proposals(
            pred.segments,
            chosen.min_score,
            PROPOSALS_PER_LABEL,
            nms_iou=chosen.nms_iou,
            marked=marked,
            marked_overlap=chosen.marked_overlap,
        )
        ids = log.replace_predictions(item.video_id, proposals, method=method)
        saved = SavedPrediction.of(
            pred, item.fps, class_names=list(item.class_names), meta={"method": method, "levels": item.levels}
        )
        path = save_prediction(
            settings.results_dir / f"fewshot_job{ctx.job_id}_video{item.video_id}.npz", saved
        )
        out[item.video_id] = VideoPredictions(n_segments=len(ids), plans_path=stored_key(settings, path))
    return out


def predict(ctx: JobContext, request: PredictRequest) -> PredictResult:
    """The ``predict_fewshot`` job: run a saved model on the project's videos (see the module docstring)."""
    with _threads(_thread_count(ctx, request.threads)):
        return _predict(ctx, request)


def _predict(ctx: JobContext, request: PredictRequest) -> PredictResult:
    from otcore.methods.plot_tal import load_model

    settings = ctx.job_settings
    path = model_path_of(ctx, request)
    model = load_model(local_file(settings, path))
    method = method_of(model, request)
    project_id = _project_id(ctx, request.project_id)
    pending = _infer_videos(ctx, model, method, project_id, request.video_ids, refine=_refine(request))
    ctx.check_cancelled()
    preds = _write_predictions(ctx, pending, method, _proposal_settings(request))
    ctx.progress(1.0, f"done: {len(preds)} videos")
    return PredictResult(model_path=str(path), method=method, predictions=preds)
