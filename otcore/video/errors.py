"""Errors raised for bad video input, each with a message a person can act on.

Every error derives from :class:`VideoError`, so callers (the pages, the CLI, the
jobs) can catch one class and show ``str(err)``.
"""

from __future__ import annotations

__all__ = [
    "VideoError",
    "CorruptVideo",
    "EmptyFile",
    "NotAVideo",
    "NoFrames",
    "TooLarge",
    "UnsafeName",
]


class VideoError(Exception):
    """Base class: the input could not be used as a video. ``str(err)`` is user-facing."""


class CorruptVideo(VideoError):
    """The file looks like a video container but cannot be decoded (damaged or truncated)."""


class EmptyFile(VideoError):
    """The file has zero bytes."""


class NotAVideo(VideoError):
    """The file is not a video container at all (e.g. a text file renamed ``.mp4``)."""


class NoFrames(VideoError):
    """The container opened but holds no decodable video frames (e.g. audio only)."""


class TooLarge(VideoError):
    """The file is over the configured size limit."""


class UnsafeName(VideoError):
    """The file name leaves nothing usable after removing path tricks and control characters."""
