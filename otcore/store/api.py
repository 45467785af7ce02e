"""The store: one SQLAlchemy engine, migrations on open, and a repository API.

``Store(url)`` (or ``Store.from_settings(settings)``) opens the database, runs the Alembic
migrations up to head (serialised between processes: ``BEGIN IMMEDIATE`` on SQLite, an
advisory lock on PostgreSQL) and exposes repository methods that take plain Python
values and return frozen ``*Info`` dataclasses — never live ORM objects. Every write is
one transaction.

SQLite (the embedded default) runs in WAL mode with foreign keys on and a busy timeout, so
the app and the worker process can use the same file at once. Write transactions start
with ``BEGIN IMMEDIATE`` so two writers queue on the busy timeout instead of failing on a
lock upgrade.

Segments change only through :class:`otcore.store.edits.EditLog`; job rows through
``store.jobs`` (:mod:`otcore.store.jobrows`), which :mod:`otcore.jobs.queue` drives.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from otcore.paths import data_path, data_relative
from otcore.storage import LocalStorage, Storage
from otcore.store.artifacts import ArtifactRows
from otcore.store.engine import (
    MIGRATIONS_DIR,
    current_revision,
    head_revision,
    known_revision,
    make_engine,
    upgrade_database,
)
from otcore.store.labels import LabelRows
from otcore.store.models import Project, Video, utcnow
from otcore.store.records import (
    LABEL_PALETTE,
    ArtifactInfo,
    DuplicateError,
    EditInfo,
    JobInfo,
    LabelInfo,
    NotFoundError,
    ProjectInfo,
    SegmentInfo,
    StoreError,
    VideoFeatureInfo,
    VideoInfo,
    project_info,
    segment_info,
    video_info,
)

if TYPE_CHECKING:
    from otcore.settings import Settings
    from otcore.store.jobrows import JobRows

__all__ = [
    "Store",
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
    "MIGRATIONS_DIR",
    "upgrade_database",
    "segment_info",
]


# ---------------------------------------------------------------------------- the store


class Store(ArtifactRows, LabelRows):
    """The otstudio database: ``Store(url, data_dir=None)``.

    ``url`` is any SQLAlchemy URL (``sqlite:///path/otstudio.db`` by default through
    :meth:`from_settings`, ``postgresql+psycopg2://...`` works the same). ``data_dir`` is
    the root that relative paths in the store (videos, frame times, artifacts) are resolved
    against. Opening upgrades the schema to the newest migration unless ``migrate=False``.
    Safe to share between threads; each method is its own transaction.
    """

    def __init__(
        self,
        url: str,
        data_dir: str | Path | None = None,
        *,
        migrate: bool = True,
        storage: Storage | None = None,
    ) -> None:
        self.url = url
        self.data_dir = Path(data_dir) if data_dir is not None else None
        #: where the files the store's keys name live (default: the data dir itself)
        self.storage: Storage = storage if storage is not None else LocalStorage(self.data_dir)
        self.engine = make_engine(url)
        self.backend = self.engine.dialect.name
        write_engine = (
            self.engine.execution_options(sqlite_begin="IMMEDIATE")
            if self.backend == "sqlite"
            else self.engine
        )
        self._read_sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._write_sessions = sessionmaker(write_engine, expire_on_commit=False)
        self._cache_lock = threading.Lock()
        self._frame_times_cache: dict[int, Any] = {}
        if migrate:
            current, head = current_revision(self.engine), head_revision()
            if current != head:
                if current is not None and not known_revision(current):
                    self.engine.dispose()
                    raise StoreError(
                        f"the database at {self!r} has schema revision {current!r}, which this version of "
                        f"otstudio does not know (newest here: {head!r}); upgrade otstudio or use another "
                        "OTSTUDIO_DATABASE_URL / data dir"
                    )
                upgrade_database(self.engine)

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        """Open the store of ``settings`` (``database_url``; its keys name files of the storage of
        ``settings``: the data dir, or ``storage_url``)."""
        from otcore.storage import storage_of

        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return cls(settings.database_url, data_dir=settings.data_dir, storage=storage_of(settings))

    def __repr__(self) -> str:
        return f"Store({self.engine.url.render_as_string(hide_password=True)!r})"

    def close(self) -> None:
        """Release the engine's connections."""
        self.engine.dispose()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- sessions -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def read(self) -> Iterator[Session]:
        """A session for reading; closed (its transaction rolled back) at the end. Objects
        loaded in it stay readable afterwards (detached, not expired)."""
        with self._read_sessions() as session:
            yield session

    @contextlib.contextmanager
    def write(self) -> Iterator[Session]:
        """A session committed at the end of the block (one transaction), rolled back on error."""
        with self._write_sessions() as session, session.begin():
            yield session

    def resolve_path(self, path: str | Path) -> Path:
        """A local file for a stored key (a path relative to the data dir, or under an object
        store its cached copy: see :meth:`otcore.storage.Storage.local_copy`)."""
        if not self.storage.remote:
            return data_path(self.data_dir, path)
        return self.storage.local_copy(path)

    def relative_path(self, path: str | Path) -> str:
        """``path`` as the store keeps it: relative to the data dir (POSIX form) when inside it."""
        return data_relative(self.data_dir, path)

    @property
    def jobs(self) -> JobRows:
        """The job table's repository (what :mod:`otcore.jobs.queue` writes through)."""
        from otcore.store.jobrows import JobRows

        return JobRows(self)

    def revision(self) -> str | None:
        """The Alembic revision the database is at."""
        return current_revision(self.engine)

    # -- projects -----------------------------------------------------------------------------

    def create_project(self, name: str) -> ProjectInfo:
        """Create a project; :class:`DuplicateError` if the name is taken."""
        name = name.strip()
        if not name:
            raise StoreError("project name must not be empty")
        try:
            with self.write() as s:
                row = Project(name=name)
                s.add(row)
                s.flush()
                return project_info(row)
        except IntegrityError as exc:
            raise DuplicateError(f"a project named {name!r} exists already", self.get_project(name)) from exc

    def get_project(self, name_or_id: str | int) -> ProjectInfo | None:
        """The project with this id (int) or name (str), or None."""
        with self.read() as s:
            if isinstance(name_or_id, int):
                row = s.get(Project, name_or_id)
            else:
                row = s.scalar(select(Project).where(Project.name == name_or_id))
            return None if row is None else project_info(row)

    def ensure_project(self, name: str) -> ProjectInfo:
        """The project named ``name``, created if missing."""
        found = self.get_project(name)
        if found is not None:
            return found
        try:
            return self.create_project(name)
        except DuplicateError as exc:  # created by someone else meanwhile
            existing: ProjectInfo = exc.existing
            return existing

    def list_projects(self) -> list[ProjectInfo]:
        """All projects, oldest first."""
        with self.read() as s:
            return [project_info(r) for r in s.scalars(select(Project).order_by(Project.id))]

    def rename_project(self, project_id: int, name: str) -> ProjectInfo:
        """Rename a project; :class:`DuplicateError` if another project has that name."""
        name = name.strip()
        if not name:
            raise StoreError("project name must not be empty")
        with self.write() as s:
            row = s.get(Project, project_id)
            if row is None:
                raise NotFoundError(f"no project with id {project_id}")
            if row.name == name:
                return project_info(row)
            if s.scalar(select(Project.id).where(Project.name == name)) is not None:
                raise DuplicateError(f"a project named {name!r} exists already", self.get_project(name))
            row.name = name
            s.flush()
            return project_info(row)

    def delete_project(self, project_id: int) -> None:
        """Delete a project with its videos, labels, segments and edit log (files stay on disk)."""
        with self.write() as s:
            row = s.get(Project, project_id)
            if row is None:
                raise NotFoundError(f"no project with id {project_id}")
            s.delete(row)

    # -- videos -------------------------------------------------------------------------------

    def add_video(
        self,
        project_id: int,
        filename: str,
        path: str,
        sha256: str,
        duration: float | None,
        fps: float | None,
        n_frames: int | None,
        width: int | None,
        height: int | None,
        frame_times_path: str | None = None,
        status: str = "new",
    ) -> VideoInfo:
        """Add a video to a project. The same content (sha256) twice in one project raises
        :class:`DuplicateError` with the stored video in ``existing``; nothing is changed."""
        existing = self.find_video(project_id, sha256=sha256)
        if existing is not None:
            raise DuplicateError(
                f"{filename!r} is already in this project as {existing.filename!r} (same content)", existing
            )
        try:
            with self.write() as s:
                if s.get(Project, project_id) is None:
                    raise NotFoundError(f"no project with id {project_id}")
                row = Video(
                    project_id=project_id,
                    filename=filename,
                    path=str(path),
                    sha256=sha256,
                    duration=None if duration is None else float(duration),
                    fps=None if fps is None else float(fps),
                    n_frames=None if n_frames is None else int(n_frames),
                    width=None if width is None else int(width),
                    height=None if height is None else int(height),
                    frame_times_path=None if frame_times_path is None else str(frame_times_path),
                    status=status,
                )
                s.add(row)
                s.flush()
                return video_info(row)
        except IntegrityError as exc:
            existing = self.find_video(project_id, sha256=sha256)
            raise DuplicateError(f"{filename!r} is already in this project (same content)", existing) from exc

    def get_video(self, video_id: int) -> VideoInfo | None:
        """The video with this id, or None."""
        with self.read() as s:
            row = s.get(Video, video_id)
            return None if row is None else video_info(row)

    def list_videos(self, project_id: int, *, include_deleted: bool = False) -> list[VideoInfo]:
        """The videos of a project, in the order they were added (videos deleted in the app only
        with ``include_deleted``)."""
        with self.read() as s:
            q = select(Video).where(Video.project_id == project_id)
            if not include_deleted:
                q = q.where(Video.deleted_at.is_(None))
            return [video_info(r) for r in s.scalars(q.order_by(Video.id))]

    def set_video_deleted(self, video_id: int, deleted: bool) -> VideoInfo:
        """Mark a video deleted in the app (hidden from :meth:`list_videos`) or bring it back;
        :func:`otcore.service.delete_video` moves its files and deletes its segments first."""
        with self.write() as s:
            row = s.get(Video, video_id)
            if row is None:
                raise NotFoundError(f"no video with id {video_id}")
            row.deleted_at = utcnow() if deleted else None
            s.flush()
            return video_info(row)

    def is_video_deleted(self, video_id: int) -> bool:
        """Whether the video was deleted in the app (False for an unknown id)."""
        with self.read() as s:
            row = s.get(Video, video_id)
            return row is not None and row.deleted_at is not None

    def find_video(
        self, project_id: int, sha256: str | None = None, filename: str | None = None
    ) -> VideoInfo | None:
        """The video of the project with this content hash and/or file name (first match)."""
        if sha256 is None and filename is None:
            raise StoreError("find_video needs sha256 or filename")
        with self.read() as s:
            q = select(Video).where(Video.project_id == project_id, Video.deleted_at.is_(None))
            if sha256 is not None:
                q = q.where(Video.sha256 == sha256)
            if filename is not None:
                q = q.where(Video.filename == filename)
            row = s.scalars(q.order_by(Video.id).limit(1)).first()
            return None if row is None else video_info(row)

    def set_video_status(self, video_id: int, status: str, error: str | None = None) -> VideoInfo:
        """Set a video's status (e.g. ``new``, ``extracting``, ``ready``, ``failed``) and error text."""
        with self.write() as s:
            row = s.get(Video, video_id)
            if row is None:
                raise NotFoundError(f"no video with id {video_id}")
            row.status = status
            row.error = error
            s.flush()
            return video_info(row)

    _VIDEO_FIELDS = frozenset(
        {
            "filename",
            "path",
            "duration",
            "fps",
            "n_frames",
            "width",
            "height",
            "frame_times_path",
            "status",
            "error",
        }
    )

    def update_video(self, video_id: int, **fields: Any) -> VideoInfo:
        """Update probe fields of a video (``duration``, ``fps``, ``frame_times_path``, ...)."""
        unknown = set(fields) - self._VIDEO_FIELDS
        if unknown:
            raise StoreError(f"cannot update video fields {sorted(unknown)}")
        with self.write() as s:
            row = s.get(Video, video_id)
            if row is None:
                raise NotFoundError(f"no video with id {video_id}")
            for k, v in fields.items():
                setattr(row, k, v)
            s.flush()
            with self._cache_lock:
                self._frame_times_cache.pop(video_id, None)
            return video_info(row)

    def delete_video(self, video_id: int) -> None:
        """Remove a video with its segments and edit log from the store (its file stays on disk)."""
        with self.write() as s:
            row = s.get(Video, video_id)
            if row is None:
                raise NotFoundError(f"no video with id {video_id}")
            s.delete(row)

    def frame_times(self, video_id: int) -> Any:
        """The video's frame start times in seconds (numpy float64 array), or None when the
        video has no frame-times file (or it cannot be read). Cached per store."""
        with self._cache_lock:
            if video_id in self._frame_times_cache:
                return self._frame_times_cache[video_id]
        video = self.get_video(video_id)
        times = None
        if video is not None and video.frame_times_path:
            import numpy as np

            try:
                arr = np.load(self.resolve_path(video.frame_times_path), allow_pickle=False)
                arr = np.asarray(arr, dtype=np.float64).reshape(-1)
                times = np.unique(arr[np.isfinite(arr)]) if arr.size else None
            except (OSError, ValueError):
                times = None
        with self._cache_lock:
            self._frame_times_cache[video_id] = times
        return times
