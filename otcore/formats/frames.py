"""Per-frame label files as used by Breakfast / 50Salads ground truth.

One file per video (``<video>.txt``, or no extension), one label per line; frames of the
background label (default ``"background"``; Breakfast uses ``SIL``) carry no segment.
Sample lines::

    SIL
    take_cup
    take_cup

One frame truth: line ``i`` is frame ``i`` of the video, at the timestamp ``t_i`` the video
decoder gives it when the real video is known (``frame_times``), else ``t_i = i / fps`` for the
file's (or a chosen) ``fps``, which is never assumed. Line ``i`` is labelled by the segment
``[s, e)`` holding its own timestamp, ``s <= t_i < e`` (half-open); reading turns a run of
lines ``a..b-1`` back into ``[t_a, t_b)``, so a file read and written again is the same file.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from otcore.formats.base import RawData, RawSegment, ReadContext
from otcore.formats.model import (
    UNKNOWN_VIDEO,
    AnnotationSet,
    FormatError,
    FpsRequiredError,
    SkippedItem,
    VideoAnnotations,
)
from otcore.formats.names import NameAllocator, WrittenFiles, inside
from otcore.formats.text import read_text

__all__ = ["read_frames", "write_frames", "DEFAULT_BACKGROUND", "frame_grid", "frame_span"]

FMT = "frames"
DEFAULT_BACKGROUND = "background"
_SKIP_NAMES = {"readme", "readme.txt", "readme.md", "mapping.txt", "license", "license.txt"}
#: Times closer than this to a frame timestamp count as on it (float noise of ``i / fps``).
_EPS = 1e-9
#: Most lines written for one video (10 hours at 1000 fps would be 36 million).
MAX_FRAMES = 5_000_000


def frame_grid(
    duration: float | None, fps: float | None, frame_times: Sequence[float] | None, end_hint: float = 0.0
) -> np.ndarray:
    """The frame timestamps of a video: its decoded ``frame_times`` when given, else
    ``i / fps`` for ``i < round(duration · fps)`` (``duration`` unknown: up to ``end_hint``)."""
    if frame_times is not None and len(frame_times):
        return np.asarray(frame_times, dtype=np.float64)
    if not fps:
        raise FpsRequiredError("per-frame labels need an fps")
    end = duration if duration is not None else end_hint
    n = int(round(end * fps))
    if n > MAX_FRAMES:
        raise FormatError(f"{n} frames at {fps:g} fps is more than {MAX_FRAMES:,} lines per video")
    return np.arange(n, dtype=np.float64) / fps


def frame_span(times: np.ndarray, start: float, end: float) -> tuple[int, int]:
    """``(first, stop)``: the frames whose own timestamp lies in ``[start, end)``."""
    lo = int(np.searchsorted(times, start - _EPS, side="left"))
    hi = int(np.searchsorted(times, end - _EPS, side="left"))
    return lo, max(lo, hi)


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(
            p
            for p in path.iterdir()
            if p.is_file() and not p.name.startswith(".") and p.name.lower() not in _SKIP_NAMES
        )
    return [path]


def read_frames(path: Path, ctx: ReadContext, *, background: str = DEFAULT_BACKGROUND, **_: Any) -> RawData:
    """Read per-frame label files (a folder, or one file) into raw segments (seconds)."""
    path = Path(path)
    files = _files(path)
    if not files and not Path(path).is_dir():  # an empty folder is an empty set
        raise FormatError(f"no per-frame label files in {path}")
    raw = RawData()
    for f in files:
        video = f.stem if f.suffix.lower() == ".txt" else f.name
        labels = [ln.strip() for ln in read_text(f, ctx.encoding).splitlines()]
        while labels and not labels[-1]:
            labels.pop()
        known_times = ctx.frame_times_for(video)
        if known_times is not None:
            times = np.asarray(known_times, dtype=np.float64)
            meta = ctx.known_meta(video)
            step = float(np.median(np.diff(times))) if len(times) > 1 else 1.0 / float(meta.fps or 25.0)
            last = float(meta.duration) if meta is not None and meta.duration else float(times[-1]) + step

            def t_of(i: int, times: np.ndarray = times, last: float = last, step: float = step) -> float:
                return float(times[i]) if i < len(times) else last + (i - len(times)) * step

            raw.add_video(video, meta={FMT: {"extension": f.suffix}})
        else:
            fps = ctx.fps_for(video, fmt="frames")
            if fps is None:
                raw.skipped.append(
                    SkippedItem(UNKNOWN_VIDEO, video=video, where=f.name, detail="per-frame file")
                )
                continue

            def t_of(i: int, fps: float = fps) -> float:
                return i / fps

            raw.add_video(
                video,
                duration=len(labels) / fps if labels else None,
                fps=None if ctx.fps is not None else fps,
                meta={FMT: {"extension": f.suffix}},
            )
        start = 0
        for i in range(1, len(labels) + 1):
            if i < len(labels) and labels[i] == labels[start]:
                continue
            lab = labels[start]
            if not lab:
                raw.bad(f"{f.name}:{start + 1}", "empty label line", video=video)
            elif lab != background:
                where = f"{f.name}:{start + 1}-{i}"
                raw.add(RawSegment(video, lab, t_of(start), t_of(i), where=where))
            start = i
    return raw


def _labels(va: VideoAnnotations, times: np.ndarray, background: str, video: str) -> list[str]:
    frames = [background] * len(times)
    owner = [-1] * len(times)
    overlaps = 0
    for k, s in enumerate(va.segments):
        if any(c in s.label for c in "\r\n"):
            raise FormatError(f"label {s.label!r} contains a line break")
        lo, hi = frame_span(times, s.start, s.end)
        for i in range(lo, hi):
            if owner[i] >= 0 and owner[i] != k:
                overlaps += 1
            frames[i] = s.label
            owner[i] = k
    if overlaps:
        warnings.warn(
            f"{video}: {overlaps} frames covered by several segments, the later one kept", stacklevel=3
        )
    return frames


def write_frames(
    annotations: AnnotationSet,
    path: Path,
    *,
    fps: float | None = None,
    background: str = DEFAULT_BACKGROUND,
    extension: str | None = None,
    **_: Any,
) -> WrittenFiles:
    """Write one per-frame label file per video into the folder ``path``.

    Without ``fps``: one line per decoded frame of the video (``frame_times``), else per
    ``1/fps`` of the video's fps over its duration. With ``fps``: one line per ``1/fps`` (a
    chosen rate, e.g. the feature rate). Where segments overlap, the later one wins (a warning
    says so). File names come from the one sanitiser (collisions made unique, in ``renamed``).
    """
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    names = NameAllocator()
    out = WrittenFiles()
    for video, va in annotations.items():
        rate = fps if fps is not None else va.fps
        ft = None if fps is not None else va.frame_times
        if not rate and not (ft is not None and len(ft)):
            raise FpsRequiredError(f"per-frame labels need an fps for video {video!r}: pass fps=...")
        end_hint = max((s.end for s in va.segments), default=0.0)
        try:
            times = frame_grid(va.duration, rate, ft, end_hint)
        except FormatError as exc:
            raise FormatError(f"video {video!r}: {exc}") from exc
        frames = _labels(va, times, background, video)
        ext = extension if extension is not None else str(va.video_meta(FMT).get("extension", ".txt"))
        p = inside(folder, names.name(video, ext, fallback="video"))
        p.write_text("".join(f"{lab}\n" for lab in frames), encoding="utf-8")
        out.append(p)
    out.renamed = dict(names.renamed)
    return out
