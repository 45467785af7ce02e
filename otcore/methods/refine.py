r"""Boundary refinement: snap each proposal boundary to the strongest feature change nearby.

A decoder places a boundary where the transport plan or the frame scores switch class; both are
smoothed, so the boundary often lands one or two feature steps away from where the video itself
changes. The refinement looks at the features alone.

For features :math:`x_0, \dots, x_{T-1}` the **change** at boundary position :math:`b`
(between frame :math:`b-1` and frame :math:`b`, :math:`1 \le b \le T-1`) is the cosine distance

.. math::

    c_b = 1 - \frac{\langle x_{b-1}, x_b \rangle}{\lVert x_{b-1} \rVert \, \lVert x_b \rVert}.

A segment boundary at :math:`t` seconds sits at position :math:`b = \mathrm{round}(t \cdot
\mathrm{fps})`; it moves to

.. math::

    b^\star = \arg\max_{|j - b| \le r,\; 1 \le j \le T-1} c_j

(ties go to the position nearest :math:`b`, then the earlier one). A boundary on the video's edge
(:math:`b \le 0` or :math:`b \ge T`) stays. If the two moved boundaries of a segment would leave it
empty, the segment keeps its original boundaries. Labels and scores are unchanged. ``radius`` 0
returns the segments as they are.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from otcore.types import Segment

__all__ = ["feature_change", "snap_boundary", "refine_segments"]


def feature_change(features: np.ndarray | torch.Tensor) -> np.ndarray:
    """``c`` of the module doc as an array of length ``T + 1``: ``c[b]`` for ``1 <= b <= T-1``,
    0 at the two edges (``b = 0`` and ``b = T``)."""
    x = features.detach().cpu().numpy() if isinstance(features, torch.Tensor) else np.asarray(features)
    x = x.astype(np.float64, copy=False)
    if x.ndim != 2:
        raise ValueError(f"features must be [T, D], got shape {x.shape}")
    t = x.shape[0]
    out = np.zeros(t + 1, dtype=np.float64)
    if t < 2:
        return out
    norm = np.linalg.norm(x, axis=1)
    norm = np.where(norm > 0, norm, 1.0)
    cos = np.sum(x[1:] * x[:-1], axis=1) / (norm[1:] * norm[:-1])
    out[1:t] = 1.0 - cos
    return out


def snap_boundary(b: int, change: np.ndarray, radius: int) -> int:
    """The position within ``radius`` of ``b`` where ``change`` is largest (see the module doc)."""
    t = len(change) - 1
    if radius <= 0 or b <= 0 or b >= t:
        return b
    lo, hi = max(1, b - radius), min(t - 1, b + radius)
    best, best_key = b, (-np.inf, 0, 0)
    for j in range(lo, hi + 1):
        key = (float(change[j]), -abs(j - b), -j)
        if key > best_key:
            best, best_key = j, key
    return best


def refine_segments(
    segments: Sequence[Segment],
    features: np.ndarray | torch.Tensor,
    fps: float,
    *,
    radius: int = 1,
) -> list[Segment]:
    """``segments`` (seconds) with each boundary snapped to the strongest feature change within
    ``radius`` feature steps (see the module doc); same order, labels and scores."""
    if radius < 0:
        raise ValueError(f"radius must be a non-negative number of feature steps, got {radius}")
    if not (fps > 0):
        raise ValueError(f"fps must be positive, got {fps}")
    if radius == 0 or not segments:
        return list(segments)
    change = feature_change(features)
    out: list[Segment] = []
    for s in segments:
        a = snap_boundary(int(round(s.start * fps)), change, radius)
        b = snap_boundary(int(round(s.end * fps)), change, radius)
        moved_a = a != int(round(s.start * fps))
        moved_b = b != int(round(s.end * fps))
        start = a / fps if moved_a else s.start
        end = b / fps if moved_b else s.end
        if not end > start:
            out.append(s)
            continue
        out.append(Segment(s.label, start, end, s.score))
    return out
