"""Few-shot localization jobs: ``train_fewshot`` (``train``) and ``predict_fewshot`` (``predict``).

``train(ctx, params)`` steps:

1. project = ``params["project_id"]`` (else the job's project); labels = ``params["labels"]`` (default:
   every label with at least one manual/corrected segment in the project); training videos =
   ``params["video_ids"]`` (default: every project video holding a marked segment of those labels).
2. Features per video via ``otcore.service.load_video_features``; marks via
   ``EditLog(store).segments(video_id, sources=("manual", "corrected"))``.
3. Fit ``params["method"]`` (``plot-tal`` default, ``coop``, ``prototype``, ``sot-glp``) with optional
   ``epochs``, ``eps``, ``n_prompts``, ``levels``; progress ``"epoch i/n loss x"`` and a cancel check every
   step.
4. Save the model under ``settings.models_dir`` (recorded as a ``fewshot_model`` artifact).
5. Unless ``params["predict"] is False``, run inference on every video of the project that has
   features (``_predict_videos``): predicted segments with scores via ``EditLog.replace_predictions``
   (manual/corrected rows are never touched), transport plans + frame scores saved as ``.npz`` files
   under ``settings.data_dir / "results"`` and referenced in the result.

``predict(ctx, params)``: ``model_path`` (or ``artifact_id``), ``project_id``, optional ``video_ids``;
step 5 alone.

The result (JSON) holds ``model_path`` (relative to the data dir), ``method``, ``labels``, ``history``
(loss per epoch), and ``predictions`` = ``{video_id: {"n_segments", "plans_path"}}``.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from otcore.jobs.files import data_absolute as _abs
from otcore.jobs.files import data_relative as _rel
from otcore.jobs.files import job_settings as _settings

__all__ = ["train", "predict", "select_proposals", "MODEL_KIND", "RESULTS_DIR", "load_plans"]

MODEL_KIND = "fewshot_model"
RESULTS_DIR = "results"
# What a person is shown per video: detections decoded for mAP keep every low-score
# candidate, proposals to review keep the confident ones.
PROPOSAL_MIN_SCORE = 0.05
PROPOSALS_PER_LABEL = 20


def select_proposals(segments: list[Any], min_score: float, max_per_label: int) -> list[Any]:
    """The proposals worth a person's review: score ≥ ``min_score``, at most ``max_per_label``
    best per label, in time order."""
    by_label: dict[str, list[Any]] = {}
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


def _default_threads() -> int | None:
    value = os.environ.get("OTSTUDIO_TRAIN_THREADS", "").strip()
    return int(value) if value else None


@contextlib.contextmanager
def _threads(n: int | None) -> Iterator[None]:
    """Run with ``n`` torch intra-op threads (restored afterwards); ``None`` keeps torch's default
    (all cores). On a CPU shared with other busy processes one thread can be much faster for the
    small tensors of few-shot training: ``params["threads"]`` or ``OTSTUDIO_TRAIN_THREADS`` set it."""
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


def _project_id(ctx: Any, params: dict[str, Any]) -> int:
    pid = params.get("project_id")
    if pid is None:
        pid = ctx.job.project_id
    if pid is None:
        raise ValueError("few-shot jobs need params['project_id'] (or a job submitted with a project)")
    return int(pid)


def _config(params: dict[str, Any]) -> Any:
    from otcore.methods.plot_tal import PlotTALConfig, with_method

    over = {
        k: params[k]
        for k in ("epochs", "eps", "n_prompts", "levels", "ot_weight", "seed")
        if params.get(k) is not None
    }
    return with_method(PlotTALConfig(), str(params.get("method", "plot-tal")), **over)


def train(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The ``train_fewshot`` job (see the module docstring)."""
    with _threads(params.get("threads", _default_threads())):
        return _train(ctx, params)


def _train(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
    from otcore.jobs.context import JobCancelled
    from otcore.methods.plot_tal import TrainVideo, fit, save_model
    from otcore.service import load_video_features
    from otcore.store.edits import EditLog
    from otcore.types import Segment

    store, settings = ctx.store, _settings(ctx)
    project_id = _project_id(ctx, params)
    method = str(params.get("method", "plot-tal"))
    config = _config(params)
    log = EditLog(store)
    videos = store.list_videos(project_id)
    marks = {v.id: log.segments(v.id, sources=_TRAIN_SOURCES) for v in videos}
    labels = params.get("labels") or sorted({s.label for segs in marks.values() for s in segs})
    labels = sorted(set(labels))
    wanted = params.get("video_ids")
    chosen = [v for v in videos if (wanted is None or v.id in set(int(i) for i in wanted))]
    ctx.progress(0.0, "loading features")
    train_videos: list[Any] = []
    for v in chosen:
        segs = [s for s in marks.get(v.id, []) if s.label in labels]
        if not segs:
            continue
        feats = load_video_features(store, settings, v.id)
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
    art = store.add_artifact(
        MODEL_KIND,
        key,
        _rel(settings, path),
        {"project_id": project_id, "labels": labels, "method": method, "job_id": ctx.job_id},
    )
    result: dict[str, Any] = {
        "model_path": _rel(settings, path),
        "artifact_id": art.id,
        "method": method,
        "labels": labels,
        "n_train_videos": len(train_videos),
        "n_segments": sum(len(tv.segments) for tv in train_videos),
        "train_seconds": round(train_seconds, 2),
        "history": history,
        "final_loss": history[-1]["loss"] if history else None,
    }
    if params.get("predict", True):
        try:
            result["predictions"] = _predict_videos(ctx, model, method, project_id, None, start=0.8)
        except JobCancelled:
            raise
    ctx.progress(1.0, f"done: {len(labels)} labels, {result['n_segments']} marks")
    return result


def _predict_videos(
    ctx: Any, model: Any, method: str, project_id: int, video_ids: list[int] | None, start: float = 0.0
) -> dict[str, Any]:
    import numpy as np

    from otcore.methods.plot_tal import predict as run_model
    from otcore.service import load_video_features
    from otcore.store.edits import EditLog

    store, settings = ctx.store, _settings(ctx)
    log = EditLog(store)
    min_score, max_per_label = PROPOSAL_MIN_SCORE, PROPOSALS_PER_LABEL
    videos = store.list_videos(project_id)
    if video_ids is not None:
        videos = [v for v in videos if v.id in set(int(i) for i in video_ids)]
    out_dir = Path(settings.data_dir) / RESULTS_DIR
    out_dir.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {}
    for i, v in enumerate(videos):
        ctx.check_cancelled()
        ctx.progress(start + (1 - start) * i / max(1, len(videos)), f"predicting video {i + 1}/{len(videos)}")
        feats = load_video_features(store, settings, v.id)
        if feats is None:
            out[str(v.id)] = {"n_segments": 0, "plans_path": None, "skipped": "no features"}
            continue
        pred = run_model(model, feats.features.float(), float(feats.fps))
        ids = log.replace_predictions(
            v.id, select_proposals(pred.segments, min_score, max_per_label), method=method
        )
        path = out_dir / f"fewshot_job{ctx.job_id}_video{v.id}.npz"
        arrays = {f"plan::{k}": t.numpy().astype(np.float32) for k, t in pred.plans.items()}
        if pred.frame_scores is not None:
            arrays["frame_scores"] = pred.frame_scores.numpy().astype(np.float32)
        np.savez_compressed(
            path,
            class_names=np.array(model.class_names),
            fps=np.float64(feats.fps),
            levels=np.int64(model.config.levels),
            **arrays,
        )
        out[str(v.id)] = {"n_segments": len(ids), "plans_path": _rel(settings, path)}
    return out


def load_plans(path: str | Path) -> dict[str, Any]:
    """Read a plans file written by the jobs: ``{"class_names", "fps", "levels", "plans": {name: array},
    "frame_scores": array | None}``."""
    import numpy as np

    with np.load(Path(path), allow_pickle=False) as z:
        plans = {k.split("::", 1)[1]: z[k] for k in z.files if k.startswith("plan::")}
        return {
            "class_names": [str(c) for c in z["class_names"]],
            "fps": float(z["fps"]),
            "levels": int(z["levels"]),
            "plans": plans,
            "frame_scores": z["frame_scores"] if "frame_scores" in z.files else None,
        }


def predict(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The ``predict_fewshot`` job: run a saved model on the project's videos (see the module docstring)."""
    with _threads(params.get("threads", _default_threads())):
        return _predict(ctx, params)


def _predict(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
    from otcore.methods.plot_tal import load_model

    store, settings = ctx.store, _settings(ctx)
    path = params.get("model_path")
    if path is None and params.get("artifact_id") is not None:
        art = store.get_artifact(int(params["artifact_id"]))
        path = art.path if art is not None else None
    if path is None:
        raise ValueError("predict_fewshot needs params['model_path'] or params['artifact_id']")
    model = load_model(_abs(settings, str(path)))
    method = str(params.get("method") or ("sot-glp" if model.glp is not None else model.config.method))
    project_id = _project_id(ctx, params)
    preds = _predict_videos(ctx, model, method, project_id, params.get("video_ids"))
    ctx.progress(1.0, f"done: {len(preds)} videos")
    return {"model_path": str(path), "method": method, "predictions": preds}
