"""The store's records: frozen ``*Info`` dataclasses (what every repository method returns,
never live ORM objects), the errors it raises, and the converters from ORM rows."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from otcore.store.models import Artifact, Label, Project, SegmentRow, Video

__all__ = [
    "StoreError",
    "DuplicateError",
    "NotFoundError",
    "ProjectInfo",
    "VideoInfo",
    "LabelInfo",
    "SegmentInfo",
    "EditInfo",
    "JobInfo",
    "ArtifactInfo",
    "VideoFeatureInfo",
    "LABEL_PALETTE",
    "project_info",
    "video_info",
    "label_info",
    "artifact_info",
    "segment_info",
]

#: Label colours, assigned in order of creation within a project when none is given
#: (Okabe–Ito colour-blind-safe set first, then Tableau 10).
LABEL_PALETTE: tuple[str, ...] = (
    "#E69F00",
    "#56B4E9",
    "#009E73",
    "#F0E442",
    "#0072B2",
    "#D55E00",
    "#CC79A7",
    "#4E79A7",
    "#F28E2B",
    "#59A14F",
    "#B07AA1",
    "#9C755F",
    "#76B7B2",
    "#EDC948",
    "#FF9DA7",
    "#BAB0AC",
)


class StoreError(Exception):
    """Base class of store errors (bad input, missing rows, constraint violations)."""


class DuplicateError(StoreError, ValueError):
    """The row exists already (same project name, same video content, ...).

    ``existing`` holds the Info of the row that is already stored, when known.
    """

    def __init__(self, message: str, existing: Any = None) -> None:
        super().__init__(message)
        self.existing = existing


class NotFoundError(StoreError, LookupError):
    """No row with that id/name."""


# ---------------------------------------------------------------------------- Info dataclasses


@dataclass(frozen=True)
class ProjectInfo:
    """A project."""

    id: int
    name: str
    created_at: datetime


@dataclass(frozen=True)
class VideoInfo:
    """A stored video; ``path`` and ``frame_times_path`` are relative to the data dir."""

    id: int
    project_id: int
    filename: str
    path: str
    sha256: str
    duration: float | None
    fps: float | None
    n_frames: int | None
    width: int | None
    height: int | None
    frame_times_path: str | None
    status: str
    error: str | None
    created_at: datetime


@dataclass(frozen=True)
class LabelInfo:
    """A label (action class) of a project; ``description`` says what it means ("" when none)."""

    id: int
    project_id: int
    name: str
    color: str
    position: int = 0
    description: str = ""


@dataclass(frozen=True)
class SegmentInfo:
    """An active segment: seconds, half-open ``[start, end)``.

    ``source`` is ``manual``, ``predicted`` or ``corrected``; ``method`` names the method
    that proposed it (predicted/corrected rows).
    """

    id: int
    video_id: int
    label: str
    start: float
    end: float
    source: str
    score: float | None
    label_id: int | None = None
    method: str | None = None
    status: str = "active"

    @property
    def duration(self) -> float:
        """``end - start`` in seconds."""
        return self.end - self.start


@dataclass(frozen=True)
class EditInfo:
    """One entry of the edit log."""

    id: int
    video_id: int
    user: str
    op: str
    state: str
    created_at: datetime
    segment_ids: tuple[int, ...] = ()


@dataclass(frozen=True)
class JobInfo:
    """A background job as last written by its worker."""

    id: int
    kind: str
    params: dict[str, Any]
    status: str
    progress: float
    message: str
    project_id: int | None
    cancel_requested: bool
    result: dict[str, Any] | None
    error: str | None
    worker_id: str | None
    worker_pid: int | None
    worker_host: str | None
    heartbeat_at: datetime | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    attempts: int = 0
    max_attempts: int = 1

    @property
    def finished(self) -> bool:
        """True once the job is done, failed or cancelled."""
        return self.status in ("done", "failed", "cancelled")

    @property
    def active(self) -> bool:
        """True while the job is queued or running."""
        return self.status in ("queued", "running")


@dataclass(frozen=True)
class ArtifactInfo:
    """A stored file (features, model, ...) identified by ``(kind, key)``."""

    id: int
    kind: str
    key: str
    path: str
    meta: dict[str, Any] = field(default_factory=dict)
    created_at: datetime | None = None


@dataclass(frozen=True)
class VideoFeatureInfo:
    """A video's link to a features artifact."""

    video_id: int
    artifact: ArtifactInfo
    model_id: str
    fps: float


# ---------------------------------------------------------------------------- converters


def project_info(row: Project) -> ProjectInfo:
    """The frozen record of a project row."""
    return ProjectInfo(id=row.id, name=row.name, created_at=row.created_at)


def video_info(row: Video) -> VideoInfo:
    """The frozen record of a video row."""
    return VideoInfo(
        id=row.id,
        project_id=row.project_id,
        filename=row.filename,
        path=row.path,
        sha256=row.sha256,
        duration=row.duration,
        fps=row.fps,
        n_frames=row.n_frames,
        width=row.width,
        height=row.height,
        frame_times_path=row.frame_times_path,
        status=row.status,
        error=row.error,
        created_at=row.created_at,
    )


def label_info(row: Label) -> LabelInfo:
    """The frozen record of a label row."""
    position = row.position if row.position is not None else row.id
    return LabelInfo(
        id=row.id,
        project_id=row.project_id,
        name=row.name,
        color=row.color,
        position=position,
        description=row.description or "",
    )


def artifact_info(row: Artifact) -> ArtifactInfo:
    """The frozen record of an artifact row."""
    return ArtifactInfo(
        id=row.id,
        kind=row.kind,
        key=row.key,
        path=row.path,
        meta=dict(row.meta or {}),
        created_at=row.created_at,
    )


def segment_info(row: SegmentRow, label: str) -> SegmentInfo:
    """The frozen record of a segment row named ``label``."""
    return SegmentInfo(
        id=row.id,
        video_id=row.video_id,
        label=label,
        start=row.start,
        end=row.end,
        source=row.source,
        score=row.score,
        label_id=row.label_id,
        method=row.method,
        status=row.status,
    )
