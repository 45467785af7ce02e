"""Shared machinery of the format readers: raw records, validation into an annotation set.

Every reader turns its file into a :class:`RawData` (videos with what the file says about them,
raw segments in seconds, malformed rows); :func:`assemble` then applies the same rules to all
formats: video names are resolved against the known videos (exact name, else same basename
without extension), labels checked against the known labels, times checked against the video
duration (the known one, else the file's), and every dropped item is reported with its reason.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

from otcore.formats.model import (
    MALFORMED,
    OUTSIDE_VIDEO,
    UNKNOWN_LABEL,
    UNKNOWN_VIDEO,
    AnnotationSet,
    FpsRequiredError,
    ImportReport,
    SkippedItem,
    VideoAnnotations,
    VideoMeta,
    video_stem,
)
from otcore.types import Segment

__all__ = [
    "RawSegment",
    "RawData",
    "ReadContext",
    "assemble",
    "normalize_known_videos",
    "match_video",
    "fmt_seconds",
    "parse_float",
]

OutsidePolicy = Literal["skip", "clip", "keep"]


@dataclass
class RawSegment:
    """A segment as read from a file, not yet validated (seconds)."""

    video: str
    label: str
    start: float
    end: float
    score: float | None = None
    source: str | None = None
    where: str = ""


@dataclass
class RawData:
    """Everything a reader found: videos (in file order), segments and malformed rows."""

    videos: dict[str, VideoMeta] = field(default_factory=dict)
    segments: list[RawSegment] = field(default_factory=list)
    skipped: list[SkippedItem] = field(default_factory=list)

    def add_video(self, name: str, duration: float | None = None, fps: float | None = None) -> None:
        """Register a video (keeps the first non-None duration/fps seen)."""
        old = self.videos.get(name)
        if old is None:
            self.videos[name] = VideoMeta(duration, fps)
        elif (old.duration is None and duration is not None) or (old.fps is None and fps is not None):
            self.videos[name] = VideoMeta(
                old.duration if old.duration is not None else duration,
                old.fps if old.fps is not None else fps,
            )

    def add(self, seg: RawSegment) -> None:
        """Add a raw segment (and its video)."""
        self.add_video(seg.video)
        self.segments.append(seg)

    def bad(self, where: str, detail: str, video: str | None = None, label: str | None = None) -> None:
        """Record a malformed row."""
        self.skipped.append(SkippedItem(MALFORMED, video=video, label=label, where=where, detail=detail))


def _as_meta(v: object) -> VideoMeta:
    if isinstance(v, VideoMeta):
        return v
    # anything with duration/fps attributes (e.g. the store's VideoInfo)
    return VideoMeta(getattr(v, "duration", None), getattr(v, "fps", None))


def normalize_known_videos(
    known_videos: Mapping[str, VideoMeta | None] | Iterable[str] | None,
) -> dict[str, VideoMeta] | None:
    """``None`` (anything goes), or name -> :class:`VideoMeta`.

    Accepts names alone (empty metadata) or a mapping whose values are :class:`VideoMeta` or any
    object with ``duration``/``fps`` attributes (such as the store's ``VideoInfo``).
    """
    if known_videos is None:
        return None
    if isinstance(known_videos, Mapping):
        return {str(k): _as_meta(v) for k, v in known_videos.items()}
    return {str(k): VideoMeta() for k in known_videos}


def match_video(name: str, known: Mapping[str, VideoMeta] | None) -> str | None:
    """The known video ``name`` refers to: exact match, else unique match of basename stems."""
    if known is None:
        return name
    if name in known:
        return name
    stem = video_stem(name)
    hits = [k for k in known if video_stem(k) == stem]
    return hits[0] if len(hits) == 1 else None


@dataclass
class ReadContext:
    """Options every reader sees: an explicit fps and the known videos (for their real fps)."""

    fps: float | None = None
    known: dict[str, VideoMeta] | None = None

    def fps_for(self, video: str, file_fps: float | None = None, fmt: str = "") -> float | None:
        """The fps to convert ``video``'s frames: explicit > the file's > the known video's.

        Returns ``None`` when the video is not among the known videos (its rows will be
        reported as unknown); raises :class:`FpsRequiredError` when the fps is needed and unknown.
        """
        if self.fps is not None:
            return float(self.fps)
        if file_fps is not None and file_fps > 0:
            return float(file_fps)
        target = match_video(video, self.known)
        if target is None:
            return None
        meta = self.known.get(target) if self.known is not None else None
        if meta is not None and meta.fps:
            return float(meta.fps)
        raise FpsRequiredError(
            f"{fmt or 'this format'} stores frames: the real fps of video {video!r} is needed "
            "(pass fps=..., or known videos with their fps)"
        )


def assemble(
    raw: RawData,
    fmt: str,
    known_videos: Mapping[str, VideoMeta] | None = None,
    known_labels: Iterable[str] | None = None,
    on_outside: OutsidePolicy = "skip",
    tolerance: float | None = None,
) -> tuple[AnnotationSet, ImportReport]:
    """Validate raw records into an :data:`AnnotationSet` and an :class:`ImportReport`.

    * a video not among ``known_videos`` (when given) is skipped with all its segments;
    * a label not in ``known_labels`` (when given) is skipped;
    * ``start < end`` and finite times are required (else "malformed row");
    * against the duration (the known video's, else the file's, if any): with ``on_outside``
      ``"skip"`` a segment reaching beyond ``[0, duration]`` by at most ``tolerance`` seconds
      (default: one frame at the video's fps, else 0.1 s) is clipped, further is skipped;
      ``"clip"`` clips anything overlapping the video; ``"keep"`` does not check.
    """
    if on_outside not in ("skip", "clip", "keep"):
        raise ValueError(f"on_outside must be 'skip', 'clip' or 'keep', got {on_outside!r}")
    labels = None if known_labels is None else set(known_labels)
    report = ImportReport(fmt=fmt)
    report.skipped.extend(raw.skipped)
    out: AnnotationSet = {}
    target_of: dict[str, str | None] = {}
    for name, meta in raw.videos.items():
        target = match_video(name, known_videos)
        target_of[name] = target
        if target is None:
            continue
        if target != name:
            report.renamed[name] = target
        known_meta = known_videos.get(target) if known_videos is not None else None
        duration = known_meta.duration if known_meta is not None and known_meta.duration else meta.duration
        fps = known_meta.fps if known_meta is not None and known_meta.fps else meta.fps
        if target not in out:
            out[target] = VideoAnnotations(duration=duration, fps=fps, segments=[], sources=[])
    unknown_with_segments = set()
    for seg in raw.segments:
        target = target_of.get(seg.video, match_video(seg.video, known_videos))
        item = dict(video=seg.video, label=seg.label, start=seg.start, end=seg.end, where=seg.where)
        if target is None:
            unknown_with_segments.add(seg.video)
            report.skipped.append(SkippedItem(UNKNOWN_VIDEO, **item))
            continue
        if labels is not None and seg.label not in labels:
            report.skipped.append(SkippedItem(UNKNOWN_LABEL, **item))
            continue
        if not (math.isfinite(seg.start) and math.isfinite(seg.end)) or not seg.start < seg.end:
            report.skipped.append(SkippedItem(MALFORMED, **item, detail="start must be before end"))
            continue
        va = out[target]
        start, end = seg.start, seg.end
        if on_outside != "keep" and va.duration is not None:
            tol = tolerance if tolerance is not None else (1.0 / va.fps if va.fps else 0.1)
            lim = 0.0 if on_outside == "skip" else math.inf
            beyond = max(0.0, -start, end - va.duration)
            if beyond > tol + lim or start >= va.duration or end <= 0:
                report.skipped.append(
                    SkippedItem(OUTSIDE_VIDEO, **item, detail=f"video duration is {va.duration:.3f} s")
                )
                continue
            if beyond > 0:
                start, end = max(0.0, start), min(va.duration, end)
                report.clipped += 1
        va.segments.append(Segment(seg.label, float(start), float(end), seg.score))
        assert va.sources is not None
        va.sources.append(seg.source)
        report.imported += 1
    for name, target in target_of.items():
        if target is None and name not in unknown_with_segments:
            report.skipped.append(SkippedItem(UNKNOWN_VIDEO, video=name, detail="no segments"))
    for va in out.values():
        if va.sources is not None and all(s is None for s in va.sources):
            va.sources = None
    report.videos = len(out)
    return out, report


def fmt_seconds(t: float) -> str:
    """Seconds as short text, exact to the microsecond (``14.0``, ``6.195295``)."""
    return repr(round(float(t), 6))


def parse_float(text: str) -> float:
    """``float(text)`` that rejects NaN/inf (raises ``ValueError``)."""
    v = float(text)
    if not math.isfinite(v):
        raise ValueError(f"not a finite number: {text!r}")
    return v
