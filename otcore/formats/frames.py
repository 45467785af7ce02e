"""Per-frame label files as used by Breakfast / 50Salads ground truth.

One file per video (``<video>.txt``, or no extension), one label per line, line ``i`` being
the frame at time ``i / fps`` for a *chosen* ``fps`` (e.g. the feature rate); frames of the
background label (default ``"background"``; Breakfast uses ``SIL``) carry no segment.
Sample lines::

    SIL
    take_cup
    take_cup

The fps is never assumed: pass ``fps=`` (or known videos with their fps) to read, and ``fps=``
or per-video fps to write. A segment ``[s, e)`` covers the frames whose centre
``(i + 0.5) / fps`` lies inside it, so times round-trip to one frame.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

from otcore.formats.base import RawData, RawSegment, ReadContext
from otcore.formats.model import UNKNOWN_VIDEO, AnnotationSet, FormatError, FpsRequiredError, SkippedItem

__all__ = ["read_frames", "write_frames", "DEFAULT_BACKGROUND"]

DEFAULT_BACKGROUND = "background"
_SKIP_NAMES = {"readme", "readme.txt", "readme.md", "mapping.txt", "license", "license.txt"}


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
        labels = [ln.strip() for ln in f.read_text(encoding="utf-8", errors="replace").splitlines()]
        while labels and not labels[-1]:
            labels.pop()
        fps = ctx.fps_for(video, fmt="frames")
        if fps is None:
            raw.skipped.append(SkippedItem(UNKNOWN_VIDEO, video=video, where=f.name, detail="per-frame file"))
            continue
        raw.add_video(video, duration=len(labels) / fps, fps=None if ctx.fps is not None else fps)
        start = 0
        for i in range(1, len(labels) + 1):
            if i < len(labels) and labels[i] == labels[start]:
                continue
            lab = labels[start]
            if not lab:
                raw.bad(f"{f.name}:{start + 1}", "empty label line", video=video)
            elif lab != background:
                where = f"{f.name}:{start + 1}-{i}"
                raw.add(RawSegment(video, lab, start / fps, i / fps, where=where))
            start = i
    return raw


def write_frames(
    annotations: AnnotationSet,
    path: Path,
    *,
    fps: float | None = None,
    background: str = DEFAULT_BACKGROUND,
    extension: str = ".txt",
    **_: Any,
) -> list[Path]:
    """Write one per-frame label file per video into the folder ``path`` at ``fps`` frames/s.

    The number of lines is ``round(duration · fps)`` (or up to the last segment end when the
    duration is unknown). Where segments overlap, the later one wins (a warning says so).
    """
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for video, va in annotations.items():
        rate = fps if fps is not None else va.fps
        if not rate:
            raise FpsRequiredError(f"per-frame labels need an fps for video {video!r}: pass fps=...")
        end = va.duration if va.duration is not None else max((s.end for s in va.segments), default=0.0)
        n = int(round(end * rate))
        frames = [background] * n
        owner = [-1] * n
        overlaps = 0
        for k, s in enumerate(va.segments):
            if any(c in s.label for c in "\r\n"):
                raise FormatError(f"label {s.label!r} contains a line break")
            lo = max(0, math.ceil(s.start * rate - 0.5))
            hi = min(n, math.ceil(s.end * rate - 0.5))
            for i in range(lo, hi):
                if owner[i] >= 0 and owner[i] != k:
                    overlaps += 1
                frames[i] = s.label
                owner[i] = k
        if overlaps:
            warnings.warn(
                f"{video}: {overlaps} frames covered by several segments, the later one kept", stacklevel=2
            )
        p = folder / f"{video}{extension}"
        p.write_text("".join(f"{lab}\n" for lab in frames), encoding="utf-8")
        out.append(p)
    return out
