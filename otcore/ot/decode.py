"""Decoding transport plans into per-frame labels and time segments."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from otcore.types import Segment

__all__ = ["plan_to_labels", "plan_to_segments"]


def plan_to_labels(plan: torch.Tensor) -> torch.Tensor:
    """Per-frame label = argmax over the last dim: ``[..., N, K] -> LongTensor [..., N]``."""
    return plan.argmax(dim=-1)


def plan_to_segments(
    labels: torch.Tensor | np.ndarray | Sequence[int],
    fps: float,
    names: Sequence[str] | None = None,
) -> list[Segment]:
    """Maximal runs of one label as :class:`otcore.types.Segment` in seconds.

    Frame ``i`` covers ``[i/fps, (i+1)/fps)``; a run ``i..j`` becomes ``Segment(name, i/fps, (j+1)/fps)``.
    Labels ``< 0`` (background / ignored) produce no segment. ``names[k]`` names label ``k``
    (default ``str(k)``); ``score`` is left ``None``.

    Example:
        >>> plan_to_segments([0, 0, 1], fps=2.0, names=["a", "b"])
        [Segment(label='a', start=0.0, end=1.0, score=None), Segment(label='b', start=1.0, end=1.5,
        score=None)]
    """
    if fps <= 0:
        raise ValueError(f"fps must be positive, got {fps}")
    if isinstance(labels, torch.Tensor):
        arr = labels.detach().cpu().numpy()
    else:
        arr = np.asarray(labels)
    arr = arr.reshape(-1).astype(np.int64)
    if arr.size == 0:
        return []
    change = np.flatnonzero(np.diff(arr)) + 1
    starts = np.concatenate([[0], change])
    ends = np.concatenate([change, [arr.size]])
    out: list[Segment] = []
    for s, e in zip(starts.tolist(), ends.tolist()):
        k = int(arr[s])
        if k < 0:
            continue
        name = names[k] if names is not None else str(k)
        out.append(Segment(label=name, start=s / fps, end=e / fps))
    return out
