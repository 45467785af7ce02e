"""Jobs without labels: ``find_phases`` (:func:`run`), ``align_videos`` (:func:`align`), ``weak_foreground`` (:func:`weak`).

``run(ctx, params)`` — find recurring phases with ASOT or CLOT:
  ``video_id`` (or ``video_ids``; all are trained on together and each is predicted), ``k`` (default:
  number of project labels, else 8), ``method`` (``asot`` default, ``clot``), optional ``epochs``, ``seed``.
  Writes ``results/phases_job<id>_video<vid>.npz`` (``clusters [T]``, ``plan [T, K]``, ``similarity
  [T, K]``, ``fps``, ``k``, ``method``) per video; nothing is written to the segment table until a person
  turns a cluster into a label (:func:`cluster_to_label`). Result: ``{"method", "k", "videos": {vid:
  {"result_path", "n_frames", "n_segments"}}}``.

``align(ctx, params)`` — VAOT alignment of ``video_a`` to ``video_b`` on their features (optional
  ``eps``, ``alpha``, ``radius``, ``zeta``). Writes ``results/align_job<id>.npz`` (``plan [N+1, M+1]``,
  ``match [N]`` (−1 = background), ``match_back [M]``, ``fps_a``, ``fps_b``). Result: ``{"result_path",
  "video_a", "video_b", "matched_fraction"}``.

``weak(ctx, params)`` — CASE foreground probability from video-level labels: the project's videos that
  carry video-level labels (``params["video_labels"] = {video_id: [label, ...]}``, default: the set of
  labels of each video's manual/corrected segments) train CASE; every video with features gets a
  foreground curve. Writes ``results/weak_job<id>_video<vid>.npz`` (``p_fg``, ``p_att``, ``p_clu`` [T],
  ``fps``). Result: ``{"classes", "videos": {vid: {"result_path"}}}``.

All arrays are float32/int64 ``.npz`` files under ``settings.data_dir / "results"``; paths in the
results are relative to the data dir (:func:`load_result` reads them back).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from otcore.jobs.files import data_absolute as _abs
from otcore.jobs.files import data_relative as _rel
from otcore.jobs.files import job_settings as _settings

__all__ = ["run", "align", "weak", "load_result", "cluster_to_label", "default_k", "RESULTS_DIR"]

RESULTS_DIR = "results"


def _out_dir(settings: Any) -> Path:
    d = Path(settings.data_dir) / RESULTS_DIR
    d.mkdir(parents=True, exist_ok=True)
    return d


def default_k(store: Any, project_id: int | None) -> int:
    """Number of clusters to propose: the project's label count (≥ 2), else 8."""
    if project_id is None:
        return 8
    n = len(store.list_labels(project_id))
    return n if n >= 2 else 8


def load_result(settings: Any, path: str | Path) -> dict[str, np.ndarray]:
    """The arrays of a result file written by these jobs (path absolute or relative to the data dir)."""
    with np.load(_abs(settings, str(path)), allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


def _features(ctx: Any, video_id: int) -> Any:
    from otcore.service import load_video_features

    feats = load_video_features(ctx.store, _settings(ctx), int(video_id))
    if feats is None:
        raise ValueError(f"video {video_id} has no features yet: extract features first")
    return feats


def run(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The ``find_phases`` job (see the module docstring)."""
    from dataclasses import replace

    import torch

    from otcore.methods.asot import ASOT, ASOTConfig
    from otcore.methods.clot import CLOT, CLOTConfig

    settings = _settings(ctx)
    ids = [int(v) for v in (params.get("video_ids") or [params["video_id"]])]
    method = str(params.get("method", "asot")).lower()
    first = ctx.store.get_video(ids[0])
    k = int(params.get("k") or default_k(ctx.store, first.project_id if first else None))
    ctx.progress(0.0, f"loading features of {len(ids)} video(s)")
    feats = [_features(ctx, v) for v in ids]
    seed = int(params.get("seed", 0))
    torch.manual_seed(seed)
    if method == "clot":
        cfg: ASOTConfig = CLOTConfig(n_clusters=k, seed=seed)
        cls: type[ASOT] = CLOT
    elif method == "asot":
        cfg, cls = ASOTConfig(n_clusters=k, seed=seed), ASOT
    else:
        raise ValueError(f"unknown method {method!r} (asot or clot)")
    if params.get("epochs") is not None:
        cfg = replace(cfg, epochs=int(params["epochs"]))
    model = cls(feats[0].features.shape[1], cfg)

    def prog(frac: float, msg: str) -> None:
        ctx.check_cancelled()
        ctx.progress(0.05 + 0.85 * frac, msg)

    model.fit([f.features.float() for f in feats], prog)
    out: dict[str, Any] = {}
    for vid, f in zip(ids, feats):
        pred = model.predict(f.features.float(), float(f.fps))
        path = _out_dir(settings) / f"phases_job{ctx.job_id}_video{vid}.npz"
        np.savez_compressed(
            path,
            clusters=pred.clusters.numpy().astype(np.int64),
            plan=pred.plans["frames×clusters"].numpy().astype(np.float32),
            similarity=pred.frame_scores.numpy().astype(np.float32),
            fps=np.float64(f.fps),
            k=np.int64(k),
            method=np.array(method),
        )
        out[str(vid)] = {
            "result_path": _rel(settings, path),
            "n_frames": int(f.features.shape[0]),
            "n_segments": len(pred.segments),
        }
    ctx.progress(1.0, "done")
    return {"method": method, "k": k, "videos": out}


def cluster_to_label(
    store: Any,
    settings: Any,
    video_id: int,
    result_path: str | Path,
    cluster: int,
    label: str,
    min_duration: float = 0.0,
) -> list[int]:
    """Turn the runs of ``cluster`` in a ``find_phases`` result into predicted segments named ``label``.

    The video's other active predicted segments are kept (those already named ``label`` are replaced),
    manual/corrected segments are never touched. Returns the ids of all active predicted segments.
    """
    from otcore.methods._unsup import labels_to_segments
    from otcore.store.edits import EditLog
    from otcore.types import Segment

    res = load_result(settings, result_path)
    fps = float(res["fps"])
    runs = [s for s in labels_to_segments(res["clusters"], fps) if s.label == f"cluster {int(cluster)}"]
    new = [Segment(label, s.start, s.end, 1.0) for s in runs if s.duration >= min_duration]
    log = EditLog(store)
    keep = [
        Segment(s.label, s.start, s.end, s.score)
        for s in log.segments(video_id, sources=("predicted",))
        if s.label != label and s.end > s.start
    ]
    return log.replace_predictions(video_id, keep + new, method="phases")


def align(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The ``align_videos`` job (see the module docstring)."""
    from otcore.methods.align import AlignSettings, align_videos

    settings = _settings(ctx)
    va, vb = int(params["video_a"]), int(params["video_b"])
    ctx.progress(0.0, "loading features")
    fa, fb = _features(ctx, va), _features(ctx, vb)
    st = AlignSettings(
        **{
            k: float(params[k])
            for k in ("eps", "alpha", "radius", "zeta", "rho")
            if params.get(k) is not None
        }
    )
    ctx.check_cancelled()
    ctx.progress(0.2, "aligning")
    res = align_videos(fa.features.float(), fb.features.float(), st)
    path = _out_dir(settings) / f"align_job{ctx.job_id}.npz"
    np.savez_compressed(
        path,
        plan=res.plan.numpy().astype(np.float32),
        match=res.match.numpy().astype(np.int64),
        match_back=res.match_back.numpy().astype(np.int64),
        fps_a=np.float64(fa.fps),
        fps_b=np.float64(fb.fps),
    )
    ctx.progress(1.0, "done")
    return {
        "result_path": _rel(settings, path),
        "video_a": va,
        "video_b": vb,
        "matched_fraction": float((res.match >= 0).float().mean()),
    }


def weak(ctx: Any, params: dict[str, Any]) -> dict[str, Any]:
    """The ``weak_foreground`` job (see the module docstring)."""
    from dataclasses import replace

    from otcore.methods.case import CASE, CASEConfig
    from otcore.store.edits import EditLog

    settings = _settings(ctx)
    store = ctx.store
    project_id = params.get("project_id") or ctx.job.project_id
    if project_id is None:
        raise ValueError("weak_foreground needs params['project_id']")
    videos = store.list_videos(int(project_id))
    given = {int(k): list(v) for k, v in (params.get("video_labels") or {}).items()}
    log = EditLog(store)
    vlabels: dict[int, list[str]] = {}
    for v in videos:
        if v.id in given:
            vlabels[v.id] = given[v.id]
        elif not given:
            names = sorted({s.label for s in log.segments(v.id, sources=("manual", "corrected"))})
            if names:
                vlabels[v.id] = names
    from otcore.service import load_video_features

    feats = {v.id: load_video_features(store, settings, v.id) for v in videos}
    feats = {k: f for k, f in feats.items() if f is not None}
    train_ids = [vid for vid in vlabels if vid in feats and vlabels[vid]]
    if not train_ids:
        raise ValueError("no video with features has video-level labels (mark at least one segment)")
    classes = sorted({c for vid in train_ids for c in vlabels[vid]})
    cfg = CASEConfig(seed=int(params.get("seed", 0)), n_clusters=int(params.get("k", 16)))
    if params.get("epochs") is not None:
        cfg = replace(cfg, epochs=int(params["epochs"]))
    import torch

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
    out: dict[str, Any] = {}
    for vid, f in feats.items():
        o = model.infer(f.features.float())
        path = _out_dir(settings) / f"weak_job{ctx.job_id}_video{vid}.npz"
        np.savez_compressed(
            path,
            p_fg=o.p_fg.numpy().astype(np.float32),
            p_att=o.p_att.numpy().astype(np.float32),
            p_clu=o.p_clu.numpy().astype(np.float32),
            fps=np.float64(f.fps),
        )
        out[str(vid)] = {"result_path": _rel(settings, path)}
    ctx.progress(1.0, "done")
    return {"classes": classes, "videos": out}
