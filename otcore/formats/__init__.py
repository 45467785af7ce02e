"""Annotation import/export (pure I/O, no store): one neutral model, seven file formats.

``read(path, fmt="auto", known_videos=None, known_labels=None) -> (AnnotationSet, ImportReport)``
and ``write(annotations, path, fmt, fps=None, ...)``; formats ``activitynet``, ``thumos``,
``csv``, ``frames``, ``labelstudio``, ``eaf``, ``vtt``. Times are seconds everywhere; frames are
converted with the video's decoded frame times or a given real fps only. Nothing here knows
the store: the bridge to it (and the ``import``/``export`` commands) is :mod:`otcore.transfer`.
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
    ImportRejected,
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
    "ImportRejected",
    "UNKNOWN_VIDEO",
    "UNKNOWN_LABEL",
    "OUTSIDE_VIDEO",
    "MALFORMED",
    "segment_multiset",
]
