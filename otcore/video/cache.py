"""Reading a video's cached features back: :func:`load_video_features`.

The features a job extracted are recorded in the store as a ``features`` artifact linked to
the video; this module reads the newest one (for a model/fps if given) through anything that
answers ``get_video_features`` (the store), without importing the store.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Protocol

from otcore.types import VideoFeatures

__all__ = ["FeatureIndex", "StoredFeatures", "load_video_features"]


class StoredFeatures(Protocol):
    """A recorded features file: its stored ``path`` and the ``meta`` written with it."""

    @property
    def path(self) -> str: ...

    @property
    def meta(self) -> Mapping[str, Any]: ...


class FeatureIndex(Protocol):
    """What :func:`load_video_features` needs of the store."""

    def get_video_features(
        self, video_id: int, model_id: str | None = None, fps: float | None = None
    ) -> StoredFeatures | None: ...


def load_video_features(
    index: FeatureIndex,
    data_dir: str | os.PathLike[str] | None,
    video_id: int,
    model_id: str | None = None,
    fps: float | None = None,
) -> VideoFeatures | None:
    """The newest features of a video (for this model/fps if given), or None when it has none
    or the file is gone. Stored paths are relative to ``data_dir``, or resolved by the index's
    ``resolve_path`` when it has one (the store: a key of its storage, see :mod:`otcore.storage`)."""
    from otcore.paths import data_path
    from otcore.video.features import load_features_file

    art = index.get_video_features(video_id, model_id=model_id, fps=fps)
    if art is None:
        return None
    resolve = getattr(index, "resolve_path", None)
    path = resolve(art.path) if callable(resolve) else data_path(data_dir, art.path)
    if not Path(path).is_file():
        return None
    return load_features_file(path, fps=art.meta.get("fps"), model_id=art.meta.get("model_id"))
