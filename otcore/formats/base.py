"""Shared machinery of the format readers: raw records, validation into an annotation set.

Every reader turns its file into a :class:`RawData` (videos with what the file says about them,
raw segments in seconds, malformed rows); :func:`assemble` then applies the same rules to all
formats, and alters nothing it keeps:

* video names are resolved against the known videos (exact name, else the unique video with
  the same basename without extension); unknown ones are skipped, or, with
  ``accept_unknown``, kept under a safe stored name (:func:`otcore.formats.names.safe_name`);
* every value is validated: labels are non-empty printable text of at most
  :data:`MAX_LABEL` characters, names at most :data:`MAX_VIDEO_NAME`, times finite with
  ``0 <= start < end <= MAX_SECONDS``, durations in ``(0, MAX_SECONDS]``, fps in
  ``(0, MAX_FPS]``, scores finite; anything else is a "malformed row" with its row and reason;
* times are kept exactly as read; overlapping and duplicate segments of one label are kept and
  flagged (duplicates skipped with ``skip_duplicates``); segments past the video's duration
  are kept and flagged (``on_outside="keep"``, the default), or clipped, or skipped.
"""

from __future__ import annotations

import math
import unicodedata
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from otcore.formats.model import (
    DUPLICATE,
    MALFORMED,
    OUTSIDE_VIDEO,
    OVERLAP,
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
from otcore.formats.names import NameAllocator, safe_name
from otcore.types import Segment

__all__ = [
    "RawSegment",
    "RawData",
    "ReadContext",
    "VideoMatcher",
    "assemble",
    "normalize_known_videos",
    "match_video",
    "fmt_seconds",
    "parse_float",
    "check_label",
    "MAX_LABEL",
    "MAX_VIDEO_NAME",
    "MAX_SECONDS",
    "MAX_FPS",
    "OutsidePolicy",
]

OutsidePolicy = Literal["skip", "clip", "keep"]

#: Bounds every imported value is checked against.
MAX_LABEL = 200
MAX_VIDEO_NAME = 500
MAX_STORED_NAME = 200
MAX_SECONDS = 1e7  # about 116 days
MAX_FPS = 1000.0
MAX_SCORE = 1e9


@dataclass
class RawSegment:
    """A segment as read from a file, not yet validated (seconds); ``meta`` is what the format
    carries about it beyond label/times/score/source, keyed by format name."""

    video: str
    label: str
    start: float
    end: float
    score: float | None = None
    source: str | None = None
    where: str = ""
    meta: dict[str, Any] | None = None


@dataclass
class RawData:
    """Everything a reader found: videos (in file order), segments and malformed rows, plus
    the format's meta about each video (``video_meta``) and the whole file (``meta``)."""

    videos: dict[str, VideoMeta] = field(default_factory=dict)
    segments: list[RawSegment] = field(default_factory=list)
    skipped: list[SkippedItem] = field(default_factory=list)
    video_meta: dict[str, dict[str, Any]] = field(default_factory=dict)
    meta: dict[str, Any] = field(default_factory=dict)
    flagged: list[SkippedItem] = field(default_factory=list)
    #: label name -> description, from formats that carry them (checked by the store on import)
    descriptions: dict[str, str] = field(default_factory=dict)

    def add_video(
        self,
        name: str,
        duration: float | None = None,
        fps: float | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        """Register a video (keeps the first non-None duration/fps seen; merges ``meta``)."""
        old = self.videos.get(name)
        if old is None:
            self.videos[name] = VideoMeta(duration, fps)
        elif (old.duration is None and duration is not None) or (old.fps is None and fps is not None):
            self.videos[name] = VideoMeta(
                old.duration if old.duration is not None else duration,
                old.fps if old.fps is not None else fps,
            )
        if meta:
            self.video_meta.setdefault(name, {}).update(meta)

    def add(self, seg: RawSegment) -> None:
        """Add a raw segment (and its video)."""
        if seg.video not in self.videos:
            self.add_video(seg.video)
        self.segments.append(seg)

    def bad(self, where: str, detail: str, video: str | None = None, label: str | None = None) -> None:
        """Record a malformed row."""
        self.skipped.append(SkippedItem(MALFORMED, video=video, label=label, where=where, detail=detail))


def _as_meta(v: object) -> VideoMeta:
    if isinstance(v, VideoMeta):
        return v
    # anything with duration/fps attributes (e.g. the store's VideoInfo)
    return VideoMeta(getattr(v, "duration", None), getattr(v, "fps", None), getattr(v, "frame_times", None))


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


class VideoMatcher:
    """Resolves file references to known videos in O(1): exact name, else unique stem."""

    def __init__(self, known: Mapping[str, VideoMeta] | None) -> None:
        self.known = known
        self._stems: dict[str, list[str]] = defaultdict(list)
        for k in known or {}:
            self._stems[video_stem(k)].append(k)

    def __call__(self, name: str) -> str | None:
        if self.known is None or name in self.known:
            return name
        hits = self._stems.get(video_stem(name), [])
        return hits[0] if len(hits) == 1 else None


def match_video(name: str, known: Mapping[str, VideoMeta] | None) -> str | None:
    """The known video ``name`` refers to: exact match, else unique match of basename stems."""
    return VideoMatcher(known)(name)


@dataclass
class ReadContext:
    """Options every reader sees: an explicit fps, the known videos (for their real fps and
    frame times) and the text encoding (``None``: UTF-8, strictly)."""

    fps: float | None = None
    known: dict[str, VideoMeta] | None = None
    encoding: str | None = None
    accept_unknown: bool = False
    _matcher: VideoMatcher | None = None

    def match(self, video: str) -> str | None:
        """The known video ``video`` refers to (itself when no videos are known)."""
        if self._matcher is None:
            self._matcher = VideoMatcher(self.known)
        return self._matcher(video)

    def known_meta(self, video: str) -> VideoMeta | None:
        """What is known about the video ``video`` refers to."""
        target = self.match(video)
        return None if target is None or self.known is None else self.known.get(target)

    def frame_times_for(self, video: str) -> Sequence[float] | None:
        """The decoded frame times of the known video (``None`` with an explicit fps or none)."""
        if self.fps is not None:
            return None
        meta = self.known_meta(video)
        return (
            None
            if meta is None or meta.frame_times is None or not len(meta.frame_times)
            else meta.frame_times
        )

    def fps_for(self, video: str, file_fps: float | None = None, fmt: str = "") -> float | None:
        """The fps to convert ``video``'s frames: explicit > the file's > the known video's.

        Returns ``None`` when the video is not among the known videos and unknown videos are
        not accepted (its rows will be reported as unknown); raises :class:`FpsRequiredError`
        when the fps is needed and unknown.
        """
        if self.fps is not None:
            return float(self.fps)
        if file_fps is not None and math.isfinite(file_fps) and 0 < file_fps <= MAX_FPS:
            return float(file_fps)
        target = self.match(video)
        if target is None and self.known is not None and not self.accept_unknown:
            return None
        meta = self.known.get(target) if self.known is not None and target is not None else None
        if meta is not None and meta.fps:
            return float(meta.fps)
        raise FpsRequiredError(
            f"{fmt or 'this format'} stores frames: the real fps of video {video!r} is needed "
            "(pass --fps / fps=..., or known videos with their fps)"
        )


def _printable_problem(text: str) -> str | None:
    for ch in text:
        cat = unicodedata.category(ch)
        if cat in ("Cc", "Cs", "Cn") or ch in "\u2028\u2029":
            return f"holds the unprintable character U+{ord(ch):04X}"
    return None


def check_label(label: object) -> str | None:
    """Why ``label`` is not a usable label (``None`` when it is)."""
    if not isinstance(label, str):
        return f"label must be text, got {type(label).__name__} {label!r:.40}"
    if not label.strip():
        return "empty label"
    if len(label) > MAX_LABEL:
        return f"label is {len(label)} characters long (at most {MAX_LABEL})"
    problem = _printable_problem(label)
    return f"label {problem}" if problem else None


def _check_name(name: str) -> str | None:
    if not name.strip():
        return "empty video name"
    if len(name) > MAX_VIDEO_NAME:
        return f"video name is {len(name)} characters long (at most {MAX_VIDEO_NAME})"
    problem = _printable_problem(name)
    return f"video name {problem}" if problem else None


def _check_times(start: float, end: float) -> str | None:
    if not (math.isfinite(start) and math.isfinite(end)):
        return "times must be finite numbers"
    if start < 0:
        return f"negative start time {start!r}"
    if end > MAX_SECONDS:
        return f"end time {end!r} s is beyond {MAX_SECONDS:g} s"
    if not start < end:
        return "start must be before end"
    return None


def _check_video_meta(meta: VideoMeta) -> str | None:
    d, f = meta.duration, meta.fps
    if d is not None and not (math.isfinite(d) and 0 < d <= MAX_SECONDS):
        return f"duration must be in (0, {MAX_SECONDS:g}] s, got {d!r}"
    if f is not None and not (math.isfinite(f) and 0 < f <= MAX_FPS):
        return f"fps must be in (0, {MAX_FPS:g}], got {f!r}"
    return None


def assemble(
    raw: RawData,
    fmt: str,
    known_videos: Mapping[str, VideoMeta] | None = None,
    known_labels: Iterable[str] | None = None,
    on_outside: OutsidePolicy = "keep",
    tolerance: float | None = None,
    *,
    accept_unknown: bool = False,
    skip_duplicates: bool = False,
) -> tuple[AnnotationSet, ImportReport]:
    """Validate raw records into an :data:`AnnotationSet` and an :class:`ImportReport`.

    * a video not among ``known_videos`` (when given) is skipped with all its segments, unless
      ``accept_unknown``: it is then kept under a safe, unique stored name (``report.renamed``);
    * a label not in ``known_labels`` (when given) is skipped;
    * invalid values (see the module doc) are "malformed rows";
    * against the duration (the known video's, else the file's, if any): ``"keep"`` keeps a
      segment reaching past the video and flags it; ``"clip"`` clips anything overlapping the
      video (and skips what lies wholly outside); ``"skip"`` clips an overshoot of at most
      ``tolerance`` seconds (default one frame, else 0.1 s) and skips further ones;
    * overlapping same-label segments are kept and flagged; exact duplicates are flagged, or
      skipped when ``skip_duplicates``.
    """
    if on_outside not in ("skip", "clip", "keep"):
        raise ValueError(f"on_outside must be 'skip', 'clip' or 'keep', got {on_outside!r}")
    labels = None if known_labels is None else set(known_labels)
    report = ImportReport(fmt=fmt)
    report.skipped.extend(raw.skipped)
    report.flagged.extend(raw.flagged)
    out = AnnotationSet(meta=raw.meta, descriptions=raw.descriptions)
    matcher = VideoMatcher(known_videos)
    names = NameAllocator(used={k.lower() for k in known_videos or {}})
    target_of: dict[str, str | None] = {}
    bad_videos: set[str] = set()
    for name, meta in raw.videos.items():
        problem = _check_name(name) or _check_video_meta(meta)
        if problem:
            report.skipped.append(SkippedItem(MALFORMED, video=name[:200], detail=problem))
            bad_videos.add(name)
            target_of[name] = None
            continue
        target = matcher(name)
        if target is None and accept_unknown:
            target = (
                names.name(name, fallback="video")
                if safe_name(name, max_len=MAX_STORED_NAME) != name
                else name
            )
            names.used.add(target.lower())
        target_of[name] = target
        if target is None:
            continue
        if target != name:
            report.renamed[name] = target
        known_meta = known_videos.get(target) if known_videos is not None else None
        duration = known_meta.duration if known_meta is not None and known_meta.duration else meta.duration
        fps = known_meta.fps if known_meta is not None and known_meta.fps else meta.fps
        if target not in out:
            out[target] = VideoAnnotations(
                duration=duration,
                fps=fps,
                segments=[],
                sources=[],
                meta=dict(raw.video_meta.get(name, {})),
                seg_meta=[],
                frame_times=None if known_meta is None else known_meta.frame_times,
            )
            if target != name and not (known_videos and target in known_videos):
                out[target].meta.setdefault("name_in_file", name)
    unknown_with_segments = set()
    seen: dict[str, dict[str, list[tuple[float, float, str]]]] = defaultdict(lambda: defaultdict(list))
    for seg in raw.segments:
        if seg.video not in target_of:
            target_of[seg.video] = matcher(seg.video)
        target = target_of[seg.video]
        item: dict[str, Any] = dict(
            video=seg.video, label=seg.label, start=seg.start, end=seg.end, where=seg.where
        )
        if seg.video in bad_videos:
            report.skipped.append(SkippedItem(MALFORMED, **item, detail="its video entry is invalid"))
            continue
        problem = check_label(seg.label) or _check_times(seg.start, seg.end)
        if (
            problem is None
            and seg.score is not None
            and not (math.isfinite(seg.score) and abs(seg.score) <= MAX_SCORE)
        ):
            problem = f"score must be a finite number, got {seg.score!r}"
        if problem:
            item["label"] = seg.label[:200] if isinstance(seg.label, str) else None
            report.skipped.append(SkippedItem(MALFORMED, **item, detail=problem))
            continue
        if target is None:
            unknown_with_segments.add(seg.video)
            report.skipped.append(SkippedItem(UNKNOWN_VIDEO, **item))
            continue
        label = seg.label.strip()
        if labels is not None and label not in labels:
            report.skipped.append(SkippedItem(UNKNOWN_LABEL, **item))
            continue
        va = out[target]
        start, end = seg.start, seg.end
        if va.duration is not None and end > va.duration + 1e-9:
            dur = va.duration
            detail = f"video duration is {dur:.3f} s"
            if on_outside == "keep":
                report.flagged.append(SkippedItem(OUTSIDE_VIDEO, **item, detail=detail + " (kept)"))
            else:
                tol = tolerance if tolerance is not None else (1.0 / va.fps if va.fps else 0.1)
                lim = 0.0 if on_outside == "skip" else math.inf
                if end - dur > tol + lim or start >= dur:
                    report.skipped.append(SkippedItem(OUTSIDE_VIDEO, **item, detail=detail))
                    continue
                end = dur
                report.clipped += 1
        runs = seen[target][label]
        dup = any(s == start and e == end for s, e, _ in runs)
        if dup:
            if skip_duplicates:
                report.skipped.append(SkippedItem(DUPLICATE, **item))
                continue
            report.flagged.append(SkippedItem(DUPLICATE, **item, detail="kept"))
        runs.append((start, end, seg.where))
        va.segments.append(Segment(label, float(start), float(end), seg.score))
        assert va.sources is not None and va.seg_meta is not None
        va.sources.append(seg.source)
        va.seg_meta.append(seg.meta)
        report.imported += 1
    for target, by_label in seen.items():
        for label, runs in by_label.items():
            reach, prev = -math.inf, None
            for s, e, where in sorted(runs):
                if s < reach and (s, e) != prev:
                    report.flagged.append(
                        SkippedItem(
                            OVERLAP, video=target, label=label, start=s, end=e, where=where, detail="kept"
                        )
                    )
                reach, prev = max(reach, e), (s, e)
    for name, target in target_of.items():
        if target is None and name not in unknown_with_segments and name not in bad_videos:
            report.skipped.append(SkippedItem(UNKNOWN_VIDEO, video=name, detail="no segments"))
    for va in out.values():
        if va.sources is not None and all(s is None for s in va.sources):
            va.sources = None
        if va.seg_meta is not None and all(m is None for m in va.seg_meta):
            va.seg_meta = None
    report.videos = len(out)
    return out, report


def fmt_seconds(t: float) -> str:
    """Seconds as the shortest text that reads back as the same float (``14.0``, ``6.195295``)."""
    return repr(float(t))


def parse_float(text: object) -> float:
    """``float(text)`` that rejects NaN/inf, booleans and non-numbers (raises ``ValueError``)."""
    if isinstance(text, bool) or not isinstance(text, (int, float, str)):
        raise ValueError(f"not a number: {text!r:.40}")
    if isinstance(text, str) and len(text) > 64:
        raise ValueError(f"not a number: {text[:40]!r}... ({len(text)} characters)")
    try:
        v = float(text)
    except OverflowError as exc:
        raise ValueError(f"number too large: {str(text)[:40]}") from exc
    except ValueError:
        raise ValueError(f"not a number: {text!r:.40}") from None
    if not math.isfinite(v):
        raise ValueError(f"not a finite number: {text!r:.40}")
    return v
