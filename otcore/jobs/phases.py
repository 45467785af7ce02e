"""Jobs without labels: ``find_phases`` (:func:`run`), ``align_videos`` (:func:`align`), ``weak_foreground`` (:func:`weak`).

``run(ctx, PhasesRequest) -> PhasesResult`` — find recurring phases with ASOT, CLOT or VASOT:
  ``video_id`` (or ``video_ids``; all are trained on together and each is predicted), ``k`` (default:
  number of project labels, else 8), ``method`` (``asot`` default, ``clot``, ``vasot``: joint
  alignment + segmentation, needs two or more distinct videos in ``video_ids``), optional ``epochs``,
  ``seed``.
  Saves one prediction per video (``results/phases_job<id>_video<vid>.npz``: segments, ``clusters [T]``,
  the plan ``"frames×clusters" [T, K]``, frame scores = similarity ``[T, K]``, meta ``k``, ``method``);
  nothing is written to the segment table until a person turns a cluster into a label
  (:func:`cluster_to_label`).

``align(ctx, AlignRequest) -> AlignResult`` — VAOT alignment of ``video_a`` to ``video_b`` on their
  features (optional ``eps``, ``alpha``, ``radius``, ``zeta``, ``rho``). Saves ``results/align_job<id>.npz``:
  the plan ``"frames×frames" [N+1, M+1]``, arrays ``match [N]`` (−1 = background) and ``match_back [M]``,
  ``fps`` of video a, meta ``fps_b``.

``weak(ctx, WeakRequest) -> WeakResult`` — CASE foreground probability from video-level labels: the
  project's videos that carry video-level labels (``video_labels = {video_id: [label, ...]}``, default:
  the set of labels of each video's manual/corrected segments) train CASE; every video with features
  gets a foreground curve, saved as ``results/weak_job<id>_video<vid>.npz`` (frame scores = ``p_fg [T]``,
  arrays ``p_att``, ``p_clu``).

Every file is written by :func:`otcore.store.predictions.save_prediction`; paths in the results are
relative to the data dir.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, ClassVar

from otcore.storage import local_file, stored_key

if TYPE_CHECKING:
    from otcore.jobs.context import JobContext
    from otcore.settings import Settings
    from otcore.store import Store
    from otcore.types import VideoFeatures

__all__ = [
    "run",
    "align",
    "weak",
    "cluster_to_label",
    "default_k",
    "RESULTS_DIR",
    "PHASE_METHODS",
    "PHASE_PLAN",
    "ALIGN_PLAN",
    "PhasesRequest",
    "PhasesResult",
    "PhasesVideo",
    "AlignRequest",
    "AlignResult",
    "WeakRequest",
    "WeakResult",
    "WeakVideo",
]

RESULTS_DIR = "results"
#: The methods ``find_phases`` accepts (VASOT only on two or more videos).
PHASE_METHODS = ("asot", "clot", "vasot")
#: The name of the plan a phases prediction keeps, and of an alignment's plan.
PHASE_PLAN = "frames×clusters"
ALIGN_PLAN = "frames×frames"


@dataclass(frozen=True)
class PhasesRequest:
    """Find ``k`` recurring phases in one video (``video_id``) or several trained together (``video_ids``)."""

    kind: ClassVar[str] = "find_phases"
    video_id: int | None = None
    video_ids: tuple[int, ...] | None = None
    k: int | None = None
    method: str = "asot"
    epochs: int | None = None
    seed: int | None = None  # None: 0


@dataclass(frozen=True)
class PhasesVideo:
    result_path: str
    n_frames: int
    n_segments: int


@dataclass(frozen=True)
class PhasesResult:
    method: str
    k: int
    videos: dict[int, PhasesVideo]


@dataclass(frozen=True)
class AlignRequest:
    """Align ``video_a`` to ``video_b`` (VAOT); unset settings keep :class:`~otcore.methods.align.AlignSettings`'."""

    kind: ClassVar[str] = "align_videos"
    video_a: int
    video_b: int
    eps: float | None = None
    alpha: float | None = None
    radius: float | None = None
    zeta: float | None = None
    rho: float | None = None


@dataclass(frozen=True)
class AlignResult:
    result_path: str
    video_a: int
    video_b: int
    matched_fraction: float


@dataclass(frozen=True)
class WeakRequest:
    """CASE foreground of every video of a project from video-level labels."""

    kind: ClassVar[str] = "weak_foreground"
    project_id: int | None = None
    video_labels: dict[int, tuple[str, ...]] | None = None
    k: int | None = None  # None: 16 clusters
    epochs: int | None = None
    seed: int | None = None  # None: 0


@dataclass(frozen=True)
class WeakVideo:
    result_path: str


@dataclass(frozen=True)
class WeakResult:
    classes: tuple[str, ...]
    videos: dict[int, WeakVideo]


def default_k(store: Store, project_id: int | None) -> int:
    """Number of clusters to propose: the project's label count (≥ 2), else 8."""
    if project_id is None:
        return 8
    n = len(store.list_labels(project_id))
    return n if n >= 2 else 8


def _features(ctx: JobContext, video_id: int) -> VideoFeatures:
    from otcore.video.cache import load_video_features

    feats = load_video_features(ctx.store, ctx.store.data_dir or ctx.job_settings.data_dir, int(video_id))
    if feats is None:
        raise ValueError(f"video {video_id} has no features yet: extract features first")
    return feats


def run(ctx: JobContext, request: PhasesRequest) -> PhasesResult:
    """The ``find_phases`` job (see the module docstring)."""
    import torch

    from otcore.methods.asot import ASOT, ASOTConfig
    from otcore.methods.clot import CLOT, CLOTConfig
    from otcore.methods.vasot import VASOT, VASOTConfig
    from otcore.store.predictions import SavedPrediction, save_prediction

    settings = ctx.job_settings
    if request.video_ids:
        ids = list(request.video_ids)
    elif request.video_id is not None:
        ids = [request.video_id]
    else:
        raise ValueError("find_phases needs a video_id or video_ids")
    ids = list(dict.fromkeys(int(v) for v in ids))  # a video named twice is trained on once
    method = request.method.lower()
    if method not in PHASE_METHODS:
        raise ValueError(f"unknown method {method!r} (one of: {', '.join(PHASE_METHODS)})")
    if method == "vasot" and len(ids) < 2:
        raise ValueError(
            "VASOT aligns videos with each other: give two or more videos with features "
            f"(got {len(ids)}); for one video use asot or clot"
        )
    first = ctx.store.get_video(ids[0])
    k = int(request.k or default_k(ctx.store, first.project_id if first else None))
    ctx.progress(0.0, f"loading features of {len(ids)} video(s)")
    feats = [_features(ctx, v) for v in ids]
    if len({int(f.features.shape[1]) for f in feats}) > 1:
        raise ValueError(
            "the videos' features come from different encoders (sizes differ): extract them alike"
        )
    seed = request.seed or 0
    torch.manual_seed(seed)
    cfg: ASOTConfig
    cls: type[ASOT]
    if method == "clot":
        cfg, cls = CLOTConfig(n_clusters=k, seed=seed), CLOT
    elif method == "vasot":
        cfg, cls = VASOTConfig(n_clusters=k, seed=seed), VASOT
    else:
        cfg, cls = ASOTConfig(n_clusters=k, seed=seed), ASOT
    if request.epochs is not None:
        cfg = replace(cfg, epochs=int(request.epochs))
    model = cls(feats[0].features.shape[1], cfg)

    def prog(frac: float, msg: str) -> None:
        ctx.check_cancelled()
        ctx.progress(0.05 + 0.85 * frac, msg)

    model.fit([f.features.float() for f in feats], prog)
    out: dict[int, PhasesVideo] = {}
    for vid, f in zip(ids, feats):
        pred = model.predict(f.features.float(), float(f.fps))
        pred = replace(pred, plans={PHASE_PLAN: pred.plans[PHASE_PLAN]})
        saved = SavedPrediction.of(pred, float(f.fps), meta={"k": k, "method": method})
        path = save_prediction(settings.results_dir / f"phases_job{ctx.job_id}_video{vid}.npz", saved)
        out[vid] = PhasesVideo(
            result_path=stored_key(settings, path),
            n_frames=int(f.features.shape[0]),
            n_segments=len(pred.segments),
        )
    ctx.progress(1.0, "done")
    return PhasesResult(method=method, k=k, videos=out)


def cluster_to_label(
    store: Store,
    settings: Settings,
    video_id: int,
    result_path: str,
    cluster: int,
    label: str,
    min_duration: float = 0.0,
) -> list[int]:
    """Turn the runs of ``cluster`` in a ``find_phases`` result into predicted segments named ``label``.

    The video's other active predicted segments are kept (those already named ``label`` are replaced),
    manual/corrected segments are never touched. Returns the ids of all active predicted segments.
    """
    from otcore.store.edits import EditLog
    from otcore.store.predictions import load_prediction
    from otcore.types import Segment

    res = load_prediction(local_file(settings, result_path))
    if res.clusters is None:
        raise ValueError(f"{result_path} holds no clusters (not a find_phases result)")
    # the saved segments are the maximal runs of each cluster, named "cluster k"
    runs = [s for s in res.segments if s.label == f"cluster {int(cluster)}"]
    new = [Segment(label, s.start, s.end, 1.0) for s in runs if s.duration >= min_duration]
    log = EditLog(store)
    keep = [
        Segment(s.label, s.start, s.end, s.score)
        for s in log.segments(video_id, sources=("predicted",))
        if s.label != label and s.end > s.start
    ]
    return log.replace_predictions(video_id, keep + new, method="phases")


def align(ctx: JobContext, request: AlignRequest) -> AlignResult:
    """The ``align_videos`` job (see the module docstring)."""
    from otcore.methods.align import AlignSettings, align_videos
    from otcore.store.predictions import SavedPrediction, save_prediction

    settings = ctx.job_settings
    va, vb = request.video_a, request.video_b
    ctx.progress(0.0, "loading features")
    fa, fb = _features(ctx, va), _features(ctx, vb)
    d = AlignSettings()
    st = AlignSettings(
        eps=d.eps if request.eps is None else float(request.eps),
        alpha=d.alpha if request.alpha is None else float(request.alpha),
        radius=d.radius if request.radius is None else float(request.radius),
        zeta=d.zeta if request.zeta is None else float(request.zeta),
        rho=d.rho if request.rho is None else float(request.rho),
    )
    ctx.check_cancelled()
    ctx.progress(0.2, "aligning")
    res = align_videos(fa.features.float(), fb.features.float(), st)
    import numpy as np

    saved = SavedPrediction(
        fps=float(fa.fps),
        plans={ALIGN_PLAN: res.plan.numpy().astype(np.float32)},
        arrays={
            "match": res.match.numpy().astype(np.int64),
            "match_back": res.match_back.numpy().astype(np.int64),
        },
        meta={"fps_b": float(fb.fps)},
    )
    path = save_prediction(settings.results_dir / f"align_job{ctx.job_id}.npz", saved)
    ctx.progress(1.0, "done")
    return AlignResult(
        result_path=stored_key(settings, path),
        video_a=va,
        video_b=vb,
        matched_fraction=float((res.match >= 0).float().mean()),
    )


def weak(ctx: JobContext, request: WeakRequest) -> WeakResult:
    """The ``weak_foreground`` job (see the module docstring)."""
    import torch

    from otcore.methods.case import CASE, CASEConfig
    from otcore.store.edits import EditLog
    from otcore.store.predictions import SavedPrediction, save_prediction
    from otcore.types import Prediction
    from otcore.video.cache import load_video_features

    settings = ctx.job_settings
    store = ctx.store
    project_id = request.project_id or ctx.job.project_id
    if project_id is None:
        raise ValueError("weak_foreground needs a project_id")
    videos = store.list_videos(int(project_id))
    given = {int(k): list(v) for k, v in (request.video_labels or {}).items()}
    log = EditLog(store)
    vlabels: dict[int, list[str]] = {}
    for v in videos:
        if v.id in given:
            vlabels[v.id] = given[v.id]
        elif not given:
            names = sorted({s.label for s in log.segments(v.id, sources=("manual", "corrected"))})
            if names:
                vlabels[v.id] = names
    data_dir = store.data_dir or settings.data_dir
    loaded = {v.id: load_video_features(store, data_dir, v.id) for v in videos}
    feats = {k: f for k, f in loaded.items() if f is not None}
    train_ids = [vid for vid in vlabels if vid in feats and vlabels[vid]]
    if not train_ids:
        raise ValueError("no video with features has video-level labels (mark at least one segment)")
    classes = sorted({c for vid in train_ids for c in vlabels[vid]})
    cfg = CASEConfig(seed=request.seed or 0, n_clusters=request.k or 16)
    if request.epochs is not None:
        cfg = replace(cfg, epochs=int(request.epochs))
    torch.manual_seed(cfg.seed)
    model = CASE(next(iter(feats.values())).features.shape[1], len(classes), cfg)

    def prog(frac: float, msg: str) -> None:
        ctx.check_cancelled()
        ctx.progress(0.9 * frac, msg)

    model.fit(
        [feats[v].features.float() for v in train_ids],
        [[classes.index(c) for c in vlabels[v]] for v in train_ids],
        prog,
    )
    out: dict[int, WeakVideo] = {}
    for vid, f in feats.items():
        o = model.infer(f.features.float())
        saved = SavedPrediction.of(
            Prediction(segments=[], frame_scores=o.p_fg),
            float(f.fps),
            class_names=classes,
            arrays={"p_att": o.p_att, "p_clu": o.p_clu},
        )
        path = save_prediction(settings.results_dir / f"weak_job{ctx.job_id}_video{vid}.npz", saved)
        out[vid] = WeakVideo(result_path=stored_key(settings, path))
    ctx.progress(1.0, "done")
    return WeakResult(classes=tuple(classes), videos=out)
