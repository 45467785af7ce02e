"""Annotation import/export (pure I/O, no store): one neutral model, seven file formats.

``read(path, fmt="auto", known_videos=None, known_labels=None) -> (AnnotationSet, ImportReport)``
and ``write(annotations, path, fmt, fps=None, ...)``; formats ``activitynet``, ``thumos``,
``csv``, ``frames``, ``labelstudio``, ``eaf``, ``vtt``. Times are seconds everywhere; frames are
converted with a given real fps only. The store-aware command line lives in
:mod:`otcore.formats.cli`.
"""

from otcore.formats.io import FORMATS, detect_format, read, write
from otcore.formats.model import (
    MALFORMED,
    OUTSIDE_VIDEO,
    UNKNOWN_LABEL,
    UNKNOWN_VIDEO,
    AnnotationSet,
    FormatError,
    FpsRequiredError,
    ImportReport,
    SkippedItem,
    VideoAnnotations,
    VideoMeta,
    segment_multiset,
)

__all__ = [
    "read",
    "write",
    "detect_format",
    "FORMATS",
    "AnnotationSet",
    "VideoAnnotations",
    "VideoMeta",
    "ImportReport",
    "SkippedItem",
    "FormatError",
    "FpsRequiredError",
    "UNKNOWN_VIDEO",
    "UNKNOWN_LABEL",
    "OUTSIDE_VIDEO",
    "MALFORMED",
    "segment_multiset",
]
