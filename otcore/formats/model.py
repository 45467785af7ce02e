"""The neutral in-memory annotation model shared by every format, and the import report.

Times are seconds everywhere (``otcore.types.Segment`` is ``[start, end)``); a format that
stores frames converts with the video's real fps, which must be known (never assumed).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any

from otcore.types import Segment

__all__ = [
    "VideoAnnotations",
    "AnnotationSet",
    "VideoMeta",
    "SkippedItem",
    "ImportReport",
    "FormatError",
    "FpsRequiredError",
    "ImportRejected",
    "set_meta",
    "label_descriptions",
    "UNKNOWN_VIDEO",
    "UNKNOWN_LABEL",
    "OUTSIDE_VIDEO",
    "MALFORMED",
    "DUPLICATE",
    "OVERLAP",
    "EMPTY",
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
#: Flags (kept, but reported) and skip reasons for repeated segments in one file.
DUPLICATE = "duplicate of an earlier row"
OVERLAP = "overlaps a same-label segment"
#: A zero-length annotation (start = end): not a segment, kept in the file's meta and written back.
EMPTY = "zero-length annotation, kept as metadata"

#: Segment provenance values understood by the store.
SOURCES = ("manual", "predicted", "corrected")


class FormatError(ValueError):
    """A file cannot be read or written in the requested format."""


class FpsRequiredError(FormatError):
    """A frame-based format needs the real fps of a video and none was given."""


class ImportRejected(FormatError):
    """A file holds invalid rows, so nothing of it was imported; ``report`` lists them."""

    def __init__(self, message: str, report: ImportReport) -> None:
        super().__init__(message)
        self.report = report


@dataclass
class VideoAnnotations:
    """The segments of one video, with what the file says about the video itself.

    ``sources`` is ``None`` or one provenance string per segment (``manual``/``predicted``/
    ``corrected``), aligned with ``segments``; formats that have no such field ignore it.
    ``meta`` holds what a format carries about the video beyond duration/fps, keyed by format
    name (``{"activitynet": {"fields": {"subset": "Test"}}}``); ``seg_meta`` is ``None`` or one
    such dict (or ``None``) per segment. A writer reads back only its own format's key, so
    import then export in the same format returns the same content. ``frame_times`` (sorted
    seconds) are the decoded frame timestamps of the real video when known: frame formats
    then use one frame per timestamp instead of the ``1/fps`` grid.
    """

    duration: float | None = None
    fps: float | None = None
    segments: list[Segment] = field(default_factory=list)
    sources: list[str | None] | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    seg_meta: list[dict[str, Any] | None] | None = None
    frame_times: Sequence[float] | None = None

    def __post_init__(self) -> None:
        if self.sources is not None and len(self.sources) != len(self.segments):
            raise ValueError(f"{len(self.sources)} sources for {len(self.segments)} segments")
        if self.seg_meta is not None and len(self.seg_meta) != len(self.segments):
            raise ValueError(f"{len(self.seg_meta)} segment metas for {len(self.segments)} segments")

    def source_of(self, i: int) -> str | None:
        """Provenance of segment ``i`` (``None`` if the annotations carry none)."""
        return None if self.sources is None else self.sources[i]

    def meta_of(self, i: int, fmt: str) -> dict[str, Any]:
        """What format ``fmt`` recorded about segment ``i`` (empty when nothing)."""
        if self.seg_meta is None or self.seg_meta[i] is None:
            return {}
        got = (self.seg_meta[i] or {}).get(fmt)
        return got if isinstance(got, dict) else {}

    def video_meta(self, fmt: str) -> dict[str, Any]:
        """What format ``fmt`` recorded about the video (empty when nothing)."""
        got = self.meta.get(fmt)
        return got if isinstance(got, dict) else {}


class AnnotationSet(dict[str, VideoAnnotations]):
    """Video name -> its annotations (the name is how the file refers to the video), plus
    ``meta``: what a format carries about the whole file, keyed by format name (ActivityNet's
    ``version`` and other top-level keys, for instance), and ``descriptions``: label name -> what
    the label means, where the format has room for it (ELAN controlled vocabulary entries, Label
    Studio label hints). A plain ``dict`` works wherever an annotation set is read; its file-level
    meta and descriptions are then empty."""

    meta: dict[str, Any]
    descriptions: dict[str, str]

    def __init__(
        self,
        *args: Any,
        meta: dict[str, Any] | None = None,
        descriptions: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.meta = dict(meta or {})
        self.descriptions = dict(descriptions or {})


def label_descriptions(annotations: Mapping[str, VideoAnnotations]) -> dict[str, str]:
    """The label descriptions an annotation set carries (empty for a plain ``dict``)."""
    got = getattr(annotations, "descriptions", None)
    return {str(k): str(v) for k, v in got.items() if v} if isinstance(got, dict) else {}


def set_meta(annotations: Mapping[str, VideoAnnotations], fmt: str) -> dict[str, Any]:
    """File-level meta that format ``fmt`` recorded on ``annotations`` (empty when none)."""
    got = getattr(annotations, "meta", {}).get(fmt)
    return got if isinstance(got, dict) else {}


@dataclass(frozen=True)
class VideoMeta:
    """What is known about a target video (e.g. from the project store) when importing;
    ``frame_times`` are its decoded frame timestamps when the video file is known."""

    duration: float | None = None
    fps: float | None = None
    frame_times: Sequence[float] | None = None


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
    """What an import did: segments and videos imported (apart), items skipped with their reason
    and row, items kept but flagged (overlaps, duplicates, times past the video), clipped ones.

    ``videos`` counts videos with imported annotations, ``videos_created`` the placeholder
    videos an import into the store created; ``renamed`` maps a file's video reference to the
    name it was stored under (matched to a known video, or made safe)."""

    fmt: str = ""
    imported: int = 0
    videos: int = 0
    videos_created: int = 0
    clipped: int = 0
    skipped: list[SkippedItem] = field(default_factory=list)
    flagged: list[SkippedItem] = field(default_factory=list)
    renamed: dict[str, str] = field(default_factory=dict)

    def counts(self) -> dict[str, int]:
        """Number of skipped items per reason."""
        return dict(Counter(s.reason for s in self.skipped))

    def flag_counts(self) -> dict[str, int]:
        """Number of kept-but-flagged items per reason."""
        return dict(Counter(s.reason for s in self.flagged))

    @property
    def invalid(self) -> list[SkippedItem]:
        """The malformed rows (bad numbers, labels, names): an import into the store refuses the
        whole file when there is any, unless asked to skip them."""
        return [s for s in self.skipped if s.reason == MALFORMED]

    def summary(self, max_items: int = 20) -> str:
        """Multi-line text: totals, counts per reason, the first ``max_items`` skipped items and
        the first ``max_items`` flagged ones."""
        lines = [
            f"format {self.fmt}: imported {self.imported} segments in {self.videos} videos"
            + (f" ({self.videos_created} new placeholder videos)" if self.videos_created else "")
            + (f", clipped {self.clipped} to the video bounds" if self.clipped else "")
            + f", skipped {len(self.skipped)}"
            + (f", flagged {len(self.flagged)} (kept)" if self.flagged else "")
        ]
        for reason, n in sorted(self.counts().items()):
            lines.append(f"  {reason}: {n}")
        for item in self.skipped[:max_items]:
            lines.append(f"  - {item.describe()}")
        if len(self.skipped) > max_items:
            lines.append(f"  ... and {len(self.skipped) - max_items} more")
        for reason, n in sorted(self.flag_counts().items()):
            lines.append(f"  kept, {reason}: {n}")
        for item in self.flagged[:max_items]:
            lines.append(f"  ~ {item.describe()}")
        if len(self.flagged) > max_items:
            lines.append(f"  ... and {len(self.flagged) - max_items} more flagged")
        for old, new in list(self.renamed.items())[:max_items]:
            if new != old:
                lines.append(f"  video {old!r} stored as {new!r}")
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
) -> Counter[tuple[str, str, float, float]]:
    """Multiset of :func:`segment_key` over a whole annotation set (for comparisons)."""
    items = list(annotations.items()) if isinstance(annotations, Mapping) else annotations
    return Counter(segment_key(v, s, ndigits) for v, va in items for s in va.segments)
