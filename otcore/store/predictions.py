"""Predictions as files: one save/load for what a method predicted on one video.

:class:`SavedPrediction` is :class:`otcore.types.Prediction` (segments, frame scores, plans,
clusters) in NumPy form with what is needed to draw it again: the feature rate ``fps``, the
class names, further named per-frame arrays (e.g. CASE's attention) and JSON-able ``meta``
(method, number of clusters, pyramid levels, ...).

File layout (one ``.npz``, nothing pickled): ``header`` holds a JSON object with ``fps``,
``segments``, ``class_names``, ``meta`` and the *names* of the plans and arrays in order;
the arrays themselves are ``plan_0``, ``plan_1``, ... / ``array_0``, ... / ``frame_scores`` /
``clusters``. Names are data, never part of a key.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from otcore.types import Segment

if TYPE_CHECKING:
    from otcore.types import Prediction

__all__ = ["SavedPrediction", "save_prediction", "load_prediction", "FORMAT_VERSION"]

FORMAT_VERSION = 1
MetaValue = str | int | float | bool | None


def _numpy(x: Any, dtype: Any) -> np.ndarray:
    if hasattr(x, "detach"):  # a torch tensor
        x = x.detach().cpu().numpy()
    return np.asarray(x).astype(dtype, copy=False)


@dataclass(frozen=True)
class SavedPrediction:
    """A prediction on one video as stored: arrays in NumPy, rows at ``fps`` per second."""

    fps: float
    segments: tuple[Segment, ...] = ()
    frame_scores: np.ndarray | None = None
    plans: Mapping[str, np.ndarray] = field(default_factory=dict)
    clusters: np.ndarray | None = None
    class_names: tuple[str, ...] = ()
    arrays: Mapping[str, np.ndarray] = field(default_factory=dict)
    meta: Mapping[str, MetaValue] = field(default_factory=dict)

    @classmethod
    def of(
        cls,
        prediction: Prediction,
        fps: float,
        *,
        class_names: tuple[str, ...] | list[str] = (),
        arrays: Mapping[str, Any] | None = None,
        meta: Mapping[str, MetaValue] | None = None,
    ) -> SavedPrediction:
        """A method's :class:`~otcore.types.Prediction` (torch tensors) in stored form."""
        return cls(
            fps=float(fps),
            segments=tuple(prediction.segments),
            frame_scores=None
            if prediction.frame_scores is None
            else _numpy(prediction.frame_scores, np.float32),
            plans={k: _numpy(v, np.float32) for k, v in prediction.plans.items()},
            clusters=None if prediction.clusters is None else _numpy(prediction.clusters, np.int64),
            class_names=tuple(str(c) for c in class_names),
            arrays={k: _numpy(v, np.float32) for k, v in (arrays or {}).items()},
            meta=dict(meta or {}),
        )


def save_prediction(path: str | os.PathLike[str], saved: SavedPrediction) -> Path:
    """Write ``saved`` to ``path`` (a ``.npz``; written to a temporary file, then renamed)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    plan_names = list(saved.plans)
    array_names = list(saved.arrays)
    header = {
        "version": FORMAT_VERSION,
        "fps": float(saved.fps),
        "segments": [[s.label, float(s.start), float(s.end), s.score] for s in saved.segments],
        "class_names": list(saved.class_names),
        "meta": dict(saved.meta),
        "plans": plan_names,
        "arrays": array_names,
    }
    out: dict[str, np.ndarray] = {"header": np.array(json.dumps(header))}
    out.update({f"plan_{i}": np.asarray(saved.plans[n]) for i, n in enumerate(plan_names)})
    out.update({f"array_{i}": np.asarray(saved.arrays[n]) for i, n in enumerate(array_names)})
    if saved.frame_scores is not None:
        out["frame_scores"] = np.asarray(saved.frame_scores)
    if saved.clusters is not None:
        out["clusters"] = np.asarray(saved.clusters)
    tmp = path.with_name(f".{path.stem}.{os.getpid()}.tmp.npz")
    np.savez_compressed(tmp, **out)  # type: ignore[arg-type]
    os.replace(tmp, path)
    return path


def load_prediction(path: str | os.PathLike[str]) -> SavedPrediction:
    """Read a file written by :func:`save_prediction`; ValueError for a file that is not one."""
    with np.load(Path(path), allow_pickle=False) as z:
        if "header" not in z.files:
            raise ValueError(f"{path}: not a saved prediction (no header)")
        header = json.loads(str(z["header"]))
        segments = tuple(
            Segment(str(label), float(start), float(end), None if score is None else float(score))
            for label, start, end, score in header["segments"]
        )
        return SavedPrediction(
            fps=float(header["fps"]),
            segments=segments,
            frame_scores=z["frame_scores"] if "frame_scores" in z.files else None,
            plans={n: z[f"plan_{i}"] for i, n in enumerate(header["plans"])},
            clusters=z["clusters"] if "clusters" in z.files else None,
            class_names=tuple(str(c) for c in header["class_names"]),
            arrays={n: z[f"array_{i}"] for i, n in enumerate(header["arrays"])},
            meta=dict(header["meta"]),
        )
