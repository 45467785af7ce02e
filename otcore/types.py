"""Core types that cross module boundaries (see DESIGN.md, "Core types")."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # torch is imported where tensors are made, so `import otcore` stays light
    import torch

__all__ = ["Segment", "VideoFeatures", "Prediction"]


@dataclass(frozen=True)
class Segment:
    """A labelled time span in seconds, half-open ``[start, end)``."""

    label: str
    start: float
    end: float
    score: float | None = None

    def __post_init__(self) -> None:
        if not (self.end > self.start):
            raise ValueError(f"segment must have start < end, got [{self.start}, {self.end})")

    @property
    def duration(self) -> float:
        return self.end - self.start


@dataclass(frozen=True)
class VideoFeatures:
    """Per-sampled-frame features: row ``i`` is the frame at time ``i / fps`` seconds."""

    features: torch.Tensor  # [T, D]
    fps: float
    model_id: str

    def __post_init__(self) -> None:
        if self.features.ndim != 2:
            raise ValueError(f"features must be [T, D], got shape {tuple(self.features.shape)}")
        if self.fps <= 0:
            raise ValueError(f"fps must be positive, got {self.fps}")

    @property
    def n_frames(self) -> int:
        return int(self.features.shape[0])

    @property
    def duration(self) -> float:
        return self.n_frames / self.fps

    def times(self) -> torch.Tensor:
        """Time in seconds of each row."""
        import torch

        return torch.arange(self.n_frames, dtype=torch.float64) / self.fps


@dataclass(frozen=True)
class Prediction:
    """What every method returns, so the UI can draw it without knowing the method.

    ``frame_scores`` is ``[T, C]`` (per-frame class or cluster scores), ``plans`` maps a
    name (e.g. ``"level0/Jump"``) to a transport plan to draw as a heatmap, ``clusters``
    is ``[T]`` integer cluster ids for unsupervised methods.
    """

    segments: list[Segment]
    frame_scores: torch.Tensor | None = None
    plans: dict[str, torch.Tensor] = field(default_factory=dict)
    clusters: torch.Tensor | None = None
