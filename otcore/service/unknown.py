"""Unknown actions in the app: the spans SOT-GLP's out-of-distribution score flags, and turning one
into a new label.

The scores come from :mod:`otcore.jobs.unknown` (run after every few-shot training, or as the job
``score_unknown``); the newest ``unknown_scores`` artifact of a project is the one shown
(:func:`latest_unknown`). Spans are found when they are read, from the saved per-row scores, the
threshold (the stored one, or one a person chose) and the marks *as they are now*
(:func:`otcore.methods.unknown.unknown_spans`): a span a person has since marked disappears.

:func:`new_label_from_span` is the one verb that turns a span into a label: it checks the name
(not empty, not a label of the project already, deleted ones included) and the span (inside the
video), then adds the label with the span as its first manual mark in one edit of the edit log
(undo removes the mark; the label stays, empty, as after any first mark). Any bad input raises
:class:`UnknownActionError` with one line and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from otcore.jobs.unknown import UNKNOWN_KIND, UnknownRequest

if TYPE_CHECKING:
    import numpy as np

    from otcore.store import Store

__all__ = [
    "UnknownActionError",
    "UnknownScores",
    "UnknownSpanInfo",
    "NewLabelFromSpan",
    "latest_unknown",
    "video_unknown_scores",
    "video_unknown_spans",
    "strongest_unknown_spans",
    "new_label_from_span",
    "submit_unknown",
]

NO_MODEL = (
    "no unknown-action scores in this project yet: train a few-shot model (Train page) on marks of "
    "two or more labels first"
)


class UnknownActionError(ValueError):
    """A request about unknown actions that cannot be done (the message says why)."""


@dataclass(frozen=True)
class UnknownScores:
    """One scoring run of a project: its ``threshold`` on the unknown score (``2 − S_GL``) and the
    ``rule`` that chose it, the known ``labels``, and the scores file of each video."""

    artifact_id: int
    project_id: int
    threshold: float
    quantile: float
    rule: str
    labels: tuple[str, ...]
    window: int
    stride: int
    videos: dict[int, str]
    job_id: int | None = None


@dataclass(frozen=True)
class UnknownSpanInfo:
    """A span ``[start, end)`` seconds of a video scoring above the threshold (``score``: mean unknown
    score over it, ``peak``: its highest)."""

    video_id: int
    video_name: str
    start: float
    end: float
    score: float
    peak: float


@dataclass(frozen=True)
class NewLabelFromSpan:
    """The label :func:`new_label_from_span` created and the id of its first mark."""

    label: str
    label_id: int
    segment_id: int
    video_id: int
    start: float
    end: float


def latest_unknown(store: Store, project_id: int) -> UnknownScores | None:
    """The newest unknown-action scoring of the project, or None when there is none."""
    for art in store.list_artifacts(UNKNOWN_KIND):
        meta: dict[str, Any] = dict(art.meta or {})
        if meta.get("project_id") != project_id or meta.get("threshold") is None:
            continue
        return UnknownScores(
            artifact_id=art.id,
            project_id=project_id,
            threshold=float(meta["threshold"]),
            quantile=float(meta.get("quantile", 0.0)),
            rule=str(meta.get("rule", "")),
            labels=tuple(str(x) for x in meta.get("labels", [])),
            window=int(meta.get("window", 0)),
            stride=int(meta.get("stride", 0)),
            videos={int(k): str(v) for k, v in dict(meta.get("videos", {})).items()},
            job_id=None if meta.get("job_id") is None else int(meta["job_id"]),
        )
    return None


def video_unknown_scores(
    store: Store, scores: UnknownScores, video_id: int
) -> tuple[float, np.ndarray] | None:
    """``(fps, per-row unknown scores)`` of one video, or None when it was not scored (or its file is gone)."""
    from otcore.store.predictions import load_prediction

    rel = scores.videos.get(int(video_id))
    if rel is None:
        return None
    path = store.resolve_path(rel)
    if not path.is_file():
        return None
    saved = load_prediction(path)
    u = saved.arrays.get("unknown")
    return None if u is None else (float(saved.fps), u)


def _marked_spans(store: Store, video_id: int) -> list[tuple[float, float]]:
    from otcore.store.edits import EditLog

    return [(s.start, s.end) for s in EditLog(store).segments(video_id, sources=("manual", "corrected"))]


def video_unknown_spans(
    store: Store,
    project_id: int,
    video_id: int,
    *,
    threshold: float | None = None,
    scores: UnknownScores | None = None,
) -> list[UnknownSpanInfo]:
    """The unknown spans of one video, in time order, at ``threshold`` (default: the stored one);
    time a person has marked (any label) is never part of one. Empty when nothing was scored."""
    from otcore.methods.unknown import marked_rows, unknown_spans

    scores = scores or latest_unknown(store, project_id)
    video = store.get_video(video_id)
    if scores is None or video is None:
        return []
    got = video_unknown_scores(store, scores, video_id)
    if got is None:
        return []
    fps, u = got
    thr = scores.threshold if threshold is None else float(threshold)
    exclude = marked_rows(int(u.size), fps, _marked_spans(store, video_id))
    spans = unknown_spans(u, fps, thr, exclude=exclude, duration=video.duration)
    return [UnknownSpanInfo(video_id, video.filename, s.start, s.end, s.score, s.peak) for s in spans]


def strongest_unknown_spans(
    store: Store, project_id: int, *, threshold: float | None = None, limit: int = 50
) -> list[UnknownSpanInfo]:
    """The unknown spans of every scored video of the project, highest mean score first (ties:
    longer first), at most ``limit``."""
    scores = latest_unknown(store, project_id)
    if scores is None:
        return []
    out: list[UnknownSpanInfo] = []
    for v in store.list_videos(project_id):
        out += video_unknown_spans(store, project_id, v.id, threshold=threshold, scores=scores)
    out.sort(key=lambda s: (-s.score, -(s.end - s.start), s.video_id, s.start))
    return out[: max(0, int(limit))]


def new_label_from_span(
    store: Store,
    project_id: int,
    video_id: int,
    start: float,
    end: float,
    name: str,
    *,
    user: str = "local",
) -> NewLabelFromSpan:
    """Create label ``name`` in the project with ``[start, end)`` of the video as its first manual
    mark (one edit of the edit log); :class:`UnknownActionError` for an empty or taken name, a span
    outside the video, a video of another project, or a project without unknown-action scores."""
    from otcore.store.edits import EditLog

    clean = (name or "").strip()
    if not clean:
        raise UnknownActionError("type a name for the new label")
    if latest_unknown(store, project_id) is None:
        raise UnknownActionError(NO_MODEL)
    video = store.get_video(video_id)
    if video is None or video.project_id != project_id or store.is_video_deleted(video_id):
        raise UnknownActionError(f"video #{video_id} is not in this project")
    for lab in store.list_labels(project_id, include_deleted=True):
        if lab.name.casefold() == clean.casefold():
            live = any(x.id == lab.id for x in store.list_labels(project_id))
            raise UnknownActionError(
                f"the project has a label named {lab.name!r} already: choose another name"
                if live
                else f"a deleted label is named {lab.name!r}: restore it on the Annotate page or choose another name"
            )
    duration = float(video.duration or 0.0)
    s, e = float(start), float(end)
    if not (s == s and e == e) or s < 0 or e <= s or (duration > 0 and e > duration + 1e-6):
        raise UnknownActionError(
            f"the span [{s:.3f}, {e:.3f}) s lies outside {video.filename} (0 – {duration:.3f} s)"
        )
    log = EditLog(store, user=user)
    try:
        seg_id = log.add_segment(video_id, clean, s, e, source="manual")
    except (ValueError, LookupError) as exc:  # e.g. a span shorter than one frame
        raise UnknownActionError(str(exc)) from exc
    seg = log.get_segment(seg_id)
    label = next(x for x in store.list_labels(project_id) if x.name == clean)
    snapped = (s, e) if seg is None else (float(seg.start), float(seg.end))
    return NewLabelFromSpan(clean, label.id, seg_id, video_id, *snapped)


def submit_unknown(store: Store, request: UnknownRequest, project_id: int | None = None) -> int:
    """Queue ``score_unknown`` (the unknown-action scores without training again); returns the job id."""
    from otcore.jobs.queue import submit_request

    return submit_request(
        store, request, project_id=project_id if project_id is not None else request.project_id
    )
