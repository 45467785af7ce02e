"""The neutral in-memory annotation model shared by every format, and the import report.

Times are seconds everywhere (``otcore.types.Segment`` is ``[start, end)``); a format that
stores frames converts with the video's real fps, which must be known (never assumed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import PurePosixPath

from otcore.types import Segment

__all__ = [
    "VideoAnnotations",
    "AnnotationSet",
    "VideoMeta",
    "SkippedItem",
    "ImportReport",
    "FormatError",
    "FpsRequiredError",
    "UNKNOWN_VIDEO",
    "UNKNOWN_LABEL",
    "OUTSIDE_VIDEO",
    "MALFORMED",
    "SOURCES",
    "video_stem",
    "segment_key",
    "segment_multiset",
]

#: Skip reasons reported by :class:`ImportReport`.
UNKNOWN_VIDEO = "unknown video"
UNKNOWN_LABEL = "label not in project"
OUTSIDE_VIDEO = "times outside the video"
MALFORMED = "malformed row"

#: Segment provenance values understood by the store.
SOURCES = ("manual", "predicted", "corrected")


class FormatError(ValueError):
    """A file cannot be read or written in the requested format."""


class FpsRequiredError(FormatError):
    """A frame-based format needs the real fps of a video and none was given."""


@dataclass
class VideoAnnotations:
    """The segments of one video, with what the file says about the video itself.

    ``sources`` is ``None`` or one provenance string per segment (``manual``/``predicted``/
    ``corrected``), aligned with ``segments``; formats that have no such field ignore it.
    """

    duration: float | None = None
    fps: float | None = None
    segments: list[Segment] = field(default_factory=list)
    sources: list[str | None] | None = None

    def __post_init__(self) -> None:
        if self.sources is not None and len(self.sources) != len(self.segments):
            raise ValueError(f"{len(self.sources)} sources for {len(self.segments)} segments")

    def source_of(self, i: int) -> str | None:
        """Provenance of segment ``i`` (``None`` if the annotations carry none)."""
        return None if self.sources is None else self.sources[i]


#: Video name -> its annotations. The name is how the file refers to the video.
AnnotationSet = dict[str, VideoAnnotations]


@dataclass(frozen=True)
class VideoMeta:
    """What is known about a target video (e.g. from the project store) when importing."""

    duration: float | None = None
    fps: float | None = None


@dataclass(frozen=True)
class SkippedItem:
    """One thing that was not imported, and why (``reason`` is one of the module constants)."""

    reason: str
    video: str | None = None
    label: str | None = None
    start: float | None = None
    end: float | None = None
    where: str = ""
    detail: str = ""

    def describe(self) -> str:
        """One human-readable line."""
        parts = [self.reason]
        if self.video is not None:
            parts.append(f"video {self.video!r}")
        if self.label is not None:
            parts.append(f"label {self.label!r}")
        if self.start is not None and self.end is not None:
            parts.append(f"[{self.start:.3f}, {self.end:.3f}] s")
        if self.where:
            parts.append(f"at {self.where}")
        text = ", ".join(parts)
        return f"{text}: {self.detail}" if self.detail else text


@dataclass
class ImportReport:
    """What an import did: segments imported, items skipped (with reasons), segments clipped."""

    fmt: str = ""
    imported: int = 0
    videos: int = 0
    clipped: int = 0
    skipped: list[SkippedItem] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Number of skipped items per reason."""
        return dict(Counter(s.reason for s in self.skipped))

    def summary(self, max_items: int = 20) -> str:
        """Multi-line text: totals, counts per reason, and the first ``max_items`` skipped items."""
        lines = [
            f"format {self.fmt}: imported {self.imported} segments in {self.videos} videos"
            + (f", clipped {self.clipped} to the video bounds" if self.clipped else "")
            + f", skipped {len(self.skipped)}"
        ]
        for reason, n in sorted(self.counts().items()):
            lines.append(f"  {reason}: {n}")
        for item in self.skipped[:max_items]:
            lines.append(f"  - {item.describe()}")
        if len(self.skipped) > max_items:
            lines.append(f"  ... and {len(self.skipped) - max_items} more")
        return "\n".join(lines)


def video_stem(name: str) -> str:
    """Basename of a video reference without its extension (``a/b/v_x.mp4`` -> ``v_x``)."""
    base = PurePosixPath(name.replace("\\", "/")).name
    stem = PurePosixPath(base).stem if "." in base else base
    return stem or base


def segment_key(video: str, seg: Segment, ndigits: int = 3) -> tuple[str, str, float, float]:
    """Hashable identity of a segment rounded to ``ndigits`` decimals of a second."""
    return (video, seg.label, round(seg.start, ndigits), round(seg.end, ndigits))


def segment_multiset(
    annotations: Mapping[str, VideoAnnotations] | Iterable[tuple[str, VideoAnnotations]], ndigits: int = 3
) -> Counter:
    """Multiset of :func:`segment_key` over a whole annotation set (for comparisons)."""
    items = annotations.items() if isinstance(annotations, Mapping) else annotations
    return Counter(segment_key(v, s, ndigits) for v, va in items for s in va.segments)
