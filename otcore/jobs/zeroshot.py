"""Zero-shot proposals from label names: the ``propose_zeroshot`` job (``run``).

``run(ctx, request: ZeroShotRequest) -> ZeroShotResult`` steps:

1. project = ``request.project_id`` (else the job's); labels = ``request.labels`` (default: the
   project's labels); videos = ``request.video_ids`` (default: every project video with features).
2. The CLIP model that produced those features (:mod:`otcore.jobs.clip_pair`; features of two
   encoders are refused). Zero-shot needs a text tower whose words mean something: with the offline
   encoder (random weights) or features not made by CLIP the job fails with what to do instead.
3. Per label, CLIP's prompt-ensemble text embedding (:func:`otcore.methods.zeroshot.class_text_features`)
   of the label's description when it has one (``request.descriptions``, default: the descriptions
   stored with the project's labels), else of its name, against every frame feature, decoded by the
   ASOT temporal decoder with a background column (:func:`otcore.methods.zeroshot.propose_segments`).
4. After every video is decoded (a cancel before leaves the previous proposals), the proposals with
   their scores replace the video's predicted segments (method ``zeroshot``; marked time is skipped,
   same-label overlaps suppressed: :func:`otcore.jobs.fewshot.select_proposals`), and the prediction
   (segments, frame scores) is saved with :func:`otcore.store.predictions.save_prediction`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, ClassVar

from otcore.jobs.fewshot import VideoPredictions

if TYPE_CHECKING:
    from otcore.jobs.context import JobContext

__all__ = ["ZeroShotRequest", "ZeroShotResult", "run", "METHOD", "NEEDS_WEIGHTS"]

METHOD = "zeroshot"
NEEDS_WEIGHTS = (
    "proposals from label names need CLIP weights: these features come from {what}, whose text "
    "tower has no pretrained text, so label names carry no meaning. Put CLIP weights in place "
    "(OTSTUDIO_CLIP_WEIGHTS=/path, or the Hugging Face cache), extract the features again, or mark "
    "a few segments and train instead"
)


@dataclass(frozen=True)
class ZeroShotRequest:
    """Propose segments of the project's labels from their names or descriptions (``None``: see the
    module doc; ``descriptions={}`` encodes the names only)."""

    kind: ClassVar[str] = "propose_zeroshot"
    project_id: int | None = None
    labels: tuple[str, ...] | None = None
    video_ids: tuple[int, ...] | None = None
    descriptions: dict[str, str] | None = None
    min_score: float = 0.0
    nms_iou: float | None = 0.5


@dataclass(frozen=True)
class ZeroShotResult:
    """``described``: the labels whose description (not their name) was encoded."""

    labels: tuple[str, ...]
    text_tower: str
    n_proposals: int
    predictions: dict[int, VideoPredictions]
    described: tuple[str, ...] = ()


def run(ctx: JobContext, request: ZeroShotRequest) -> ZeroShotResult:
    """The ``propose_zeroshot`` job (see the module docstring)."""
    import torch

    from otcore.jobs.clip_pair import features_identity, one_encoder, text_tower_for
    from otcore.jobs.fewshot import PROPOSALS_PER_LABEL, select_proposals
    from otcore.methods.zeroshot import class_text_features, propose_segments
    from otcore.storage import stored_key
    from otcore.store.edits import EditLog
    from otcore.store.predictions import SavedPrediction, save_prediction
    from otcore.video.cache import load_video_features

    store, settings = ctx.store, ctx.job_settings
    pid = request.project_id if request.project_id is not None else ctx.job.project_id
    if pid is None:
        raise ValueError("propose_zeroshot needs a project_id (or a job submitted with a project)")
    labels = list(request.labels or [lab.name for lab in store.list_labels(int(pid))])
    if not labels:
        raise ValueError("the project has no labels: add the label names to propose first")
    videos = store.list_videos(int(pid))
    if request.video_ids is not None:
        wanted = set(request.video_ids)
        videos = [v for v in videos if v.id in wanted]
    ctx.progress(0.0, "loading features")
    data_dir = store.data_dir or settings.data_dir
    loaded = []
    for v in videos:
        feats = load_video_features(store, data_dir, v.id)
        if feats is not None:
            loaded.append((v, feats))
    if not loaded:
        raise ValueError("no video of the project has features: extract features first")
    identity = one_encoder((v.filename, features_identity(store, v.id)) for v, _ in loaded)
    if identity is None:
        raise ValueError(NEEDS_WEIGHTS.format(what="precomputed features not made by a CLIP model"))
    ctx.progress(0.02, "loading the text tower")
    paired = text_tower_for(settings, identity)
    if not paired.names_meaningful or paired.encoder is None:
        raise ValueError(NEEDS_WEIGHTS.format(what=f"the offline encoder ({identity.model_id})"))
    enc = paired.encoder
    descriptions = (
        store.label_descriptions(int(pid)) if request.descriptions is None else dict(request.descriptions)
    )
    described = tuple(n for n in labels if str(descriptions.get(n) or "").strip())
    with torch.no_grad():
        text = class_text_features(enc.encode_text, labels, descriptions=descriptions)
        scale = float(enc.model.logit_scale.exp())
    decoded = []
    for i, (v, feats) in enumerate(loaded):
        ctx.check_cancelled()
        ctx.progress(0.05 + 0.85 * i / len(loaded), f"proposing video {i + 1}/{len(loaded)}")
        decoded.append(
            (v, feats, propose_segments(feats.features.float(), float(feats.fps), labels, text, scale))
        )
    ctx.check_cancelled()  # nothing stored changes before this point
    log = EditLog(store)
    out: dict[int, VideoPredictions] = {}
    total = 0
    for v, feats, pred in decoded:
        marked = log.segments(v.id, sources=("manual", "corrected"))
        proposals = select_proposals(
            pred.segments, request.min_score, PROPOSALS_PER_LABEL, nms_iou=request.nms_iou, marked=marked
        )
        ids = log.replace_predictions(v.id, proposals, method=METHOD)
        total += len(ids)
        saved = SavedPrediction.of(
            pred, float(feats.fps), class_names=labels, meta={"method": METHOD, "text_tower": paired.tower_id}
        )
        path = save_prediction(settings.results_dir / f"zeroshot_job{ctx.job_id}_video{v.id}.npz", saved)
        out[v.id] = VideoPredictions(n_segments=len(ids), plans_path=stored_key(settings, path))
    ctx.progress(1.0, f"done: {total} proposals on {len(out)} videos")
    return ZeroShotResult(
        labels=tuple(labels),
        text_tower=paired.tower_id,
        n_proposals=total,
        predictions=out,
        described=described,
    )
