"""One CLIP model per process: the full open_clip model (image and text towers), loaded once and
reused by every job of a worker (and by a foreground command).

:func:`get_clip` loads ``(model, pretrained, weights_file)`` through
:func:`otcore.video.encoders.load_clip` (explicit file, Hugging Face cache, download: the same
resolution as feature extraction) and keeps the last one in memory, keyed by the resolved weights
file's path, size and mtime, so a replaced file is loaded again. :class:`ClipIdentity` names a model
as the features artifact records it: ``model_id`` (open_clip config + tag or weights sha prefix) and
``weights_id`` (sha256 of the weights file).
"""

from __future__ import annotations

import os
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ClipIdentity", "get_clip", "clear_clip_cache", "weights_sha"]

_LOCK = threading.Lock()
_CACHE: dict[tuple[Any, ...], Any] = {}


@dataclass(frozen=True)
class ClipIdentity:
    """Which CLIP produced something: open_clip ``model_id`` and the weights file's ``weights_id``."""

    model_id: str
    weights_id: str

    @property
    def label(self) -> str:
        """``model_id`` plus the first 12 hex digits of the weights (``"ViT-B-32-quickgelu/openai@1a2b…"``)."""
        return f"{self.model_id}@{self.weights_id[:12]}"


def weights_sha(path: str | os.PathLike[str]) -> str:
    """sha256 of a weights file (memoised per path, size and mtime)."""
    from otcore.video.encoders import file_sha256

    return file_sha256(path)


def _key(model: str, pretrained: str | None, weights_file: str | None, device: str | None) -> tuple[Any, ...]:
    key: tuple[Any, ...] = (model, pretrained, weights_file, device)
    if weights_file:
        try:
            st = Path(weights_file).stat()
            key += (st.st_size, st.st_mtime_ns)
        except OSError:
            pass
    return key


def get_clip(
    model: str,
    pretrained: str | None,
    weights_file: str | None = None,
    device: str | None = None,
) -> Any:
    """The :class:`otcore.video.encoders.ClipEncoder` (text tower kept) for these weights, loaded
    once per process; raises :class:`otcore.video.encoders.WeightsNotFound` when none resolve."""
    from otcore.video.encoders import load_clip

    key = _key(model, pretrained, weights_file, device)
    with _LOCK:
        enc = _CACHE.get(key)
        if enc is None:
            enc = load_clip(model, pretrained, weights_file=weights_file, device=device or "cpu")
            for p in enc.model.parameters():
                p.requires_grad_(False)
            _CACHE.clear()  # keep one model in memory
            _CACHE[key] = enc
        return enc


def clear_clip_cache() -> None:
    """Forget the model kept in memory."""
    with _LOCK:
        _CACHE.clear()
