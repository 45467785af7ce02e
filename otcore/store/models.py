"""SQLAlchemy 2 models of the otstudio store (typed declarative, ``Mapped[...]``).

Tables: ``project``, ``video``, ``label``, ``segment``, ``edit`` (append-only edit log),
``job``, ``artifact`` and ``video_feature`` (which features artifact belongs to which video,
per model id and sampling fps).

Everything here is portable SQL: the same schema runs on SQLite (the embedded default)
and PostgreSQL. Timestamps are stored as naive UTC and read back as aware UTC datetimes.
The schema is created by the Alembic migrations in ``otcore/store/migrations``; these
classes must match them (a test compares the two).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "Base",
    "UTCDateTime",
    "utcnow",
    "Project",
    "Video",
    "Label",
    "SegmentRow",
    "Edit",
    "Job",
    "Artifact",
    "VideoFeature",
    "SEGMENT_SOURCES",
    "SEGMENT_STATUSES",
    "JOB_STATUSES",
    "EDIT_STATES",
]

#: Where a segment came from: drawn by a person, proposed by a method, or a proposal a person edited/accepted.
SEGMENT_SOURCES: tuple[str, ...] = ("manual", "predicted", "corrected")
#: Row states. Only ``active`` rows are shown; rows are never physically deleted by edits.
SEGMENT_STATUSES: tuple[str, ...] = ("active", "deleted", "merged", "rejected", "replaced", "void")
#: Job life cycle.
JOB_STATUSES: tuple[str, ...] = ("queued", "running", "done", "failed", "cancelled")
#: Edit-log row states: ``applied`` (on the undo stack), ``undone`` (on the redo stack),
#: ``discarded`` (undone, then a new edit cleared the redo stack).
EDIT_STATES: tuple[str, ...] = ("applied", "undone", "discarded")

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


def utcnow() -> datetime:
    """The current time, timezone-aware UTC."""
    return datetime.now(UTC)


class UTCDateTime(TypeDecorator[datetime]):
    """A datetime stored as naive UTC (portable) and returned timezone-aware (UTC)."""

    impl = DateTime
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Convert an aware datetime to naive UTC before storing it."""
        if value is None:
            return None
        if value.tzinfo is not None:
            value = value.astimezone(UTC).replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Any) -> datetime | None:
        """Attach UTC to the stored naive datetime."""
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Declarative base with a constraint naming convention (stable names for migrations)."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Project(Base):
    """A named collection of videos and labels."""

    __tablename__ = "project"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: What imported annotation files carried about the whole file, keyed by format name.
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class Video(Base):
    """A video file inside the data dir, with what probing it found."""

    __tablename__ = "video"
    __table_args__ = (
        UniqueConstraint("project_id", "sha256", name="uq_video_project_sha256"),
        Index("ix_video_project_id", "project_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    filename: Mapped[str] = mapped_column(String(500))
    path: Mapped[str] = mapped_column(String(1000))
    sha256: Mapped[str] = mapped_column(String(64))
    duration: Mapped[float | None] = mapped_column(Float, nullable=True)
    fps: Mapped[float | None] = mapped_column(Float, nullable=True)
    n_frames: Mapped[int | None] = mapped_column(Integer, nullable=True)
    width: Mapped[int | None] = mapped_column(Integer, nullable=True)
    height: Mapped[int | None] = mapped_column(Integer, nullable=True)
    frame_times_path: Mapped[str | None] = mapped_column(String(1000), nullable=True)
    status: Mapped[str] = mapped_column(String(32), default="new")
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: What imported annotation files carried about the video, keyed by format name.
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: Set when the video was deleted in the app (files moved to the data dir's trash; undoable).
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Label(Base):
    """An action class of a project, with its display colour."""

    __tablename__ = "label"
    __table_args__ = (UniqueConstraint("project_id", "name", name="uq_label_project_name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    color: Mapped[str] = mapped_column(String(32))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    #: Display order within the project (the order sets the timeline's 1-9 keys); None: by id.
    position: Mapped[int | None] = mapped_column(Integer, nullable=True)
    #: Set when the label was deleted in the app (its segments stay in the edit log; undoable).
    deleted_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: What the label means, in words (encoded by the text towers instead of the name); None: none.
    description: Mapped[str | None] = mapped_column(Text, nullable=True)


class SegmentRow(Base):
    """A labelled time span ``[start, end)`` in seconds on one video.

    Rows are never deleted by edits: ``status`` hides them (``deleted``, ``rejected``,
    ``replaced``, ``void``), so every edit can be undone and nothing is lost silently.
    """

    __tablename__ = "segment"
    __table_args__ = (Index("ix_segment_video_status", "video_id", "status"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("video.id", ondelete="CASCADE"))
    label_id: Mapped[int] = mapped_column(ForeignKey("label.id", ondelete="CASCADE"))
    start: Mapped[float] = mapped_column(Float)
    end: Mapped[float] = mapped_column(Float)
    source: Mapped[str] = mapped_column(String(16), default="manual")
    score: Mapped[float | None] = mapped_column(Float, nullable=True)
    method: Mapped[str | None] = mapped_column(String(100), nullable=True)
    status: Mapped[str] = mapped_column(String(16), default="active")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    #: What an imported annotation file carried about the segment, keyed by format name.
    meta: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)


class Edit(Base):
    """One entry of the append-only edit log of a video.

    ``before``/``after`` map segment ids (as strings) to full row snapshots; undo writes the
    ``before`` snapshots back, redo the ``after`` ones. The snapshots are never modified;
    only ``state`` moves between ``applied``, ``undone`` and ``discarded``.
    """

    __tablename__ = "edit"
    __table_args__ = (Index("ix_edit_video_state", "video_id", "state"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("video.id", ondelete="CASCADE"))
    user: Mapped[str] = mapped_column(String(200), default="local")
    op: Mapped[str] = mapped_column(String(64))
    before: Mapped[dict[str, Any]] = mapped_column(JSON)
    after: Mapped[dict[str, Any]] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16), default="applied")
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    state_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)


class Job(Base):
    """A background job: a row claimed and executed by a worker process."""

    __tablename__ = "job"
    __table_args__ = (
        Index("ix_job_status", "status"),
        Index("ix_job_project_id", "project_id"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    project_id: Mapped[int | None] = mapped_column(
        ForeignKey("project.id", ondelete="SET NULL"), nullable=True
    )
    kind: Mapped[str] = mapped_column(String(100))
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16), default="queued")
    progress: Mapped[float] = mapped_column(Float, default=0.0)
    message: Mapped[str] = mapped_column(Text, default="")
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text, nullable=True)
    worker_id: Mapped[str | None] = mapped_column(String(200), nullable=True)
    worker_pid: Mapped[int | None] = mapped_column(Integer, nullable=True)
    worker_host: Mapped[str | None] = mapped_column(String(255), nullable=True)
    heartbeat_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime(), nullable=True)
    #: claims so far (a job whose worker died is queued again while ``attempts < max_attempts``)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    max_attempts: Mapped[int] = mapped_column(Integer, default=3, server_default="3")


class Artifact(Base):
    """A file produced by the engine (features, trained model), found by ``(kind, key)``."""

    __tablename__ = "artifact"
    __table_args__ = (UniqueConstraint("kind", "key", name="uq_artifact_kind_key"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    kind: Mapped[str] = mapped_column(String(64))
    key: Mapped[str] = mapped_column(String(500))
    path: Mapped[str] = mapped_column(String(1000))
    meta: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)


class VideoFeature(Base):
    """Link from a video to a features artifact, one per ``(video, model_id, fps)``."""

    __tablename__ = "video_feature"
    __table_args__ = (
        UniqueConstraint("video_id", "model_id", "fps", name="uq_video_feature_video_model_fps"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    video_id: Mapped[int] = mapped_column(ForeignKey("video.id", ondelete="CASCADE"))
    artifact_id: Mapped[int] = mapped_column(ForeignKey("artifact.id", ondelete="CASCADE"))
    model_id: Mapped[str] = mapped_column(String(200))
    fps: Mapped[float] = mapped_column(Float)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), default=utcnow)
