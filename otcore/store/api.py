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
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine, create_engine, event, select, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from otcore.paths import data_path, data_relative
from otcore.store.models import Artifact, Label, Project, SegmentRow, Video, VideoFeature, utcnow

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

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

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

_PG_MIGRATION_LOCK = 7_357_001  # arbitrary constant key of the advisory lock around migrations
_SQLITE_BUSY_MS = 30_000


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
    """A label (action class) of a project."""

    id: int
    project_id: int
    name: str
    color: str


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


def _project(row: Project) -> ProjectInfo:
    return ProjectInfo(id=row.id, name=row.name, created_at=row.created_at)


def _video(row: Video) -> VideoInfo:
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


def _label(row: Label) -> LabelInfo:
    return LabelInfo(id=row.id, project_id=row.project_id, name=row.name, color=row.color)


def _artifact(row: Artifact) -> ArtifactInfo:
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


# ---------------------------------------------------------------------------- engine + migrations


def _enable_wal(cur: Any) -> None:
    """Switch a SQLite database to WAL. The switch needs an exclusive lock and SQLite does not wait on
    the busy timeout for it, so two processes opening a new database together see "database is
    locked": retry until the busy timeout has passed, and skip when the file is already in WAL."""
    import sqlite3

    deadline = time.monotonic() + _SQLITE_BUSY_MS / 1000
    while True:
        try:
            if str(cur.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal":
                return
            cur.execute("PRAGMA journal_mode=WAL")
            return
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc) or time.monotonic() > deadline:
                raise
            time.sleep(0.02)


def _make_engine(url: str) -> Engine:
    u = make_url(url)
    if u.get_backend_name() == "sqlite":
        if u.database and u.database != ":memory:" and not u.database.startswith("file:"):
            Path(u.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
        engine = create_engine(
            url, connect_args={"timeout": _SQLITE_BUSY_MS / 1000, "check_same_thread": False}
        )

        @event.listens_for(engine, "connect")
        def _sqlite_connect(dbapi_conn: Any, _record: Any) -> None:
            # Let SQLAlchemy's "begin" event emit BEGIN itself (pysqlite's implicit BEGIN is lazy
            # and deferred, which turns read->write upgrades into immediate "database is locked").
            dbapi_conn.isolation_level = None
            cur = dbapi_conn.cursor()
            cur.execute(f"PRAGMA busy_timeout={_SQLITE_BUSY_MS}")
            _enable_wal(cur)
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            cur.close()

        @event.listens_for(engine, "begin")
        def _sqlite_begin(conn: Connection) -> None:
            mode = conn.get_execution_options().get("sqlite_begin", "DEFERRED")
            conn.exec_driver_sql(f"BEGIN {mode}")

        return engine
    return create_engine(url, pool_pre_ping=True)


def upgrade_database(engine: Engine, revision: str = "head") -> None:
    """Run the Alembic migrations on ``engine`` up to ``revision``, holding a lock so that
    two processes opening the same database at once do not both create the schema."""
    from alembic import command
    from alembic.config import Config

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    cfg.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False).replace("%", "%%"))
    backend = engine.dialect.name
    eng = engine.execution_options(sqlite_begin="IMMEDIATE") if backend == "sqlite" else engine
    with eng.begin() as conn:
        if backend == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATION_LOCK})
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, revision)


def _current_revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as conn:
        return MigrationContext.configure(conn).get_current_revision()


def _head_revision() -> str | None:
    from alembic.config import Config
    from alembic.script import ScriptDirectory

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return ScriptDirectory.from_config(cfg).get_current_head()


def _known_revision(rev: str) -> bool:
    from alembic.config import Config
    from alembic.script import ScriptDirectory
    from alembic.util import CommandError

    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    try:
        return ScriptDirectory.from_config(cfg).get_revision(rev) is not None
    except CommandError:
        return False


# ---------------------------------------------------------------------------- the store


class Store:
    """The otstudio database: ``Store(url, data_dir=None)``.

    ``url`` is any SQLAlchemy URL (``sqlite:///path/otstudio.db`` by default through
    :meth:`from_settings`, ``postgresql+psycopg2://...`` works the same). ``data_dir`` is
    the root that relative paths in the store (videos, frame times, artifacts) are resolved
    against. Opening upgrades the schema to the newest migration unless ``migrate=False``.
    Safe to share between threads; each method is its own transaction.
    """

    def __init__(self, url: str, data_dir: str | Path | None = None, *, migrate: bool = True) -> None:
        self.url = url
        self.data_dir = Path(data_dir) if data_dir is not None else None
        self.engine = _make_engine(url)
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
            current, head = _current_revision(self.engine), _head_revision()
            if current != head:
                if current is not None and not _known_revision(current):
                    self.engine.dispose()
                    raise StoreError(
                        f"the database at {self!r} has schema revision {current!r}, which this version of "
                        f"otstudio does not know (newest here: {head!r}); upgrade otstudio or use another "
                        "OTSTUDIO_DATABASE_URL / data dir"
                    )
                upgrade_database(self.engine)

    @classmethod
    def from_settings(cls, settings: Settings) -> Store:
        """Open the store of ``settings`` (``database_url``, relative paths under ``data_dir``)."""
        settings.data_dir.mkdir(parents=True, exist_ok=True)
        return cls(settings.database_url, data_dir=settings.data_dir)

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
        """An absolute path for a path stored relative to the data dir."""
        return data_path(self.data_dir, path)

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
        return _current_revision(self.engine)

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
                return _project(row)
        except IntegrityError as exc:
            raise DuplicateError(f"a project named {name!r} exists already", self.get_project(name)) from exc

    def get_project(self, name_or_id: str | int) -> ProjectInfo | None:
        """The project with this id (int) or name (str), or None."""
        with self.read() as s:
            if isinstance(name_or_id, int):
                row = s.get(Project, name_or_id)
            else:
                row = s.scalar(select(Project).where(Project.name == name_or_id))
            return None if row is None else _project(row)

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
            return [_project(r) for r in s.scalars(select(Project).order_by(Project.id))]

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
                return _video(row)
        except IntegrityError as exc:
            existing = self.find_video(project_id, sha256=sha256)
            raise DuplicateError(f"{filename!r} is already in this project (same content)", existing) from exc

    def get_video(self, video_id: int) -> VideoInfo | None:
        """The video with this id, or None."""
        with self.read() as s:
            row = s.get(Video, video_id)
            return None if row is None else _video(row)

    def list_videos(self, project_id: int) -> list[VideoInfo]:
        """The videos of a project, in the order they were added."""
        with self.read() as s:
            rows = s.scalars(select(Video).where(Video.project_id == project_id).order_by(Video.id))
            return [_video(r) for r in rows]

    def find_video(
        self, project_id: int, sha256: str | None = None, filename: str | None = None
    ) -> VideoInfo | None:
        """The video of the project with this content hash and/or file name (first match)."""
        if sha256 is None and filename is None:
            raise StoreError("find_video needs sha256 or filename")
        with self.read() as s:
            q = select(Video).where(Video.project_id == project_id)
            if sha256 is not None:
                q = q.where(Video.sha256 == sha256)
            if filename is not None:
                q = q.where(Video.filename == filename)
            row = s.scalars(q.order_by(Video.id).limit(1)).first()
            return None if row is None else _video(row)

    def set_video_status(self, video_id: int, status: str, error: str | None = None) -> VideoInfo:
        """Set a video's status (e.g. ``new``, ``extracting``, ``ready``, ``failed``) and error text."""
        with self.write() as s:
            row = s.get(Video, video_id)
            if row is None:
                raise NotFoundError(f"no video with id {video_id}")
            row.status = status
            row.error = error
            s.flush()
            return _video(row)

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
            return _video(row)

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

    # -- labels -------------------------------------------------------------------------------

    def ensure_label(self, project_id: int, name: str, color: str | None = None) -> LabelInfo:
        """The project's label ``name``, created if missing. New labels without ``color`` get
        the next colour of :data:`LABEL_PALETTE` (by creation order). An existing label
        keeps its colour unless ``color`` is given."""
        name = name.strip()
        if not name:
            raise StoreError("label name must not be empty")
        for _ in range(3):
            try:
                with self.write() as s:
                    return _label(self.ensure_label_row(s, project_id, name, color))
            except IntegrityError:  # created concurrently: read it back
                continue
        raise StoreError(f"could not create label {name!r}")

    def ensure_label_row(self, s: Session, project_id: int, name: str, color: str | None = None) -> Label:
        row = s.scalar(select(Label).where(Label.project_id == project_id, Label.name == name))
        if row is not None:
            if color is not None and color != row.color:
                row.color = color
            return row
        if s.get(Project, project_id) is None:
            raise NotFoundError(f"no project with id {project_id}")
        if color is None:
            n = len(s.scalars(select(Label.id).where(Label.project_id == project_id)).all())
            color = LABEL_PALETTE[n % len(LABEL_PALETTE)]
        row = Label(project_id=project_id, name=name, color=color)
        s.add(row)
        s.flush()
        return row

    def list_labels(self, project_id: int) -> list[LabelInfo]:
        """The labels of a project in creation order."""
        with self.read() as s:
            rows = s.scalars(select(Label).where(Label.project_id == project_id).order_by(Label.id))
            return [_label(r) for r in rows]

    def get_label(self, label_id: int) -> LabelInfo | None:
        """The label with this id, or None."""
        with self.read() as s:
            row = s.get(Label, label_id)
            return None if row is None else _label(row)

    def set_label_color(self, label_id: int, color: str) -> LabelInfo:
        """Change a label's colour."""
        with self.write() as s:
            row = s.get(Label, label_id)
            if row is None:
                raise NotFoundError(f"no label with id {label_id}")
            row.color = color
            s.flush()
            return _label(row)

    # -- segments (read only; edits go through EditLog) ---------------------------------------

    def project_segments(
        self, project_id: int, sources: tuple[str, ...] | list[str] | None = None
    ) -> list[SegmentInfo]:
        """All active segments of a project (for export), ordered by video, start, label."""
        with self.read() as s:
            q = (
                select(SegmentRow, Label.name)
                .join(Label, Label.id == SegmentRow.label_id)
                .join(Video, Video.id == SegmentRow.video_id)
                .where(Video.project_id == project_id, SegmentRow.status == "active")
            )
            if sources is not None:
                q = q.where(SegmentRow.source.in_(list(sources)))
            q = q.order_by(SegmentRow.video_id, SegmentRow.start, Label.name, SegmentRow.id)
            return [segment_info(row, name) for row, name in s.execute(q)]

    # -- artifacts ----------------------------------------------------------------------------

    def add_artifact(
        self, kind: str, key: str, path: str, meta: dict[str, Any] | None = None
    ) -> ArtifactInfo:
        """Record a file under ``(kind, key)``; if that key exists its path and meta are updated
        (the key is a content hash, so the same key means the same content)."""
        meta = dict(meta or {})
        for _ in range(3):
            try:
                with self.write() as s:
                    row = s.scalar(select(Artifact).where(Artifact.kind == kind, Artifact.key == key))
                    if row is None:
                        row = Artifact(kind=kind, key=key, path=str(path), meta=meta)
                        s.add(row)
                    else:
                        row.path = str(path)
                        row.meta = meta
                    s.flush()
                    return _artifact(row)
            except IntegrityError:
                continue
        raise StoreError(f"could not record artifact {kind}/{key}")

    def find_artifact(self, kind: str, key: str) -> ArtifactInfo | None:
        """The artifact stored under ``(kind, key)``, or None."""
        with self.read() as s:
            row = s.scalar(select(Artifact).where(Artifact.kind == kind, Artifact.key == key))
            return None if row is None else _artifact(row)

    def get_artifact(self, artifact_id: int) -> ArtifactInfo | None:
        """The artifact with this id, or None."""
        with self.read() as s:
            row = s.get(Artifact, artifact_id)
            return None if row is None else _artifact(row)

    def list_artifacts(self, kind: str | None = None) -> list[ArtifactInfo]:
        """All artifacts (of one kind), newest first."""
        with self.read() as s:
            q = select(Artifact)
            if kind is not None:
                q = q.where(Artifact.kind == kind)
            return [_artifact(r) for r in s.scalars(q.order_by(Artifact.id.desc()))]

    def set_video_features(
        self, video_id: int, artifact_id: int, model_id: str | None = None, fps: float | None = None
    ) -> VideoFeatureInfo:
        """Link a features artifact to a video. ``model_id``/``fps`` default to the artifact's
        ``meta["model_id"]``/``meta["fps"]``; an existing link for the same (model, fps) is replaced."""
        with self.write() as s:
            art = s.get(Artifact, artifact_id)
            if art is None:
                raise NotFoundError(f"no artifact with id {artifact_id}")
            if s.get(Video, video_id) is None:
                raise NotFoundError(f"no video with id {video_id}")
            model_id = model_id if model_id is not None else (art.meta or {}).get("model_id")
            fps = fps if fps is not None else (art.meta or {}).get("fps")
            if model_id is None or fps is None:
                raise StoreError("set_video_features needs model_id and fps (arguments or artifact meta)")
            fps = float(fps)
            row = s.scalar(
                select(VideoFeature).where(
                    VideoFeature.video_id == video_id,
                    VideoFeature.model_id == model_id,
                    VideoFeature.fps == fps,
                )
            )
            if row is None:
                row = VideoFeature(video_id=video_id, artifact_id=artifact_id, model_id=model_id, fps=fps)
                s.add(row)
            else:
                row.artifact_id = artifact_id
                row.created_at = utcnow()
            s.flush()
            return VideoFeatureInfo(video_id=video_id, artifact=_artifact(art), model_id=model_id, fps=fps)

    def get_video_features(
        self, video_id: int, model_id: str | None = None, fps: float | None = None
    ) -> ArtifactInfo | None:
        """The features artifact of a video (for this model/fps if given; the newest link otherwise)."""
        feats = self.list_video_features(video_id, model_id=model_id, fps=fps)
        return feats[0].artifact if feats else None

    def list_video_features(
        self, video_id: int, model_id: str | None = None, fps: float | None = None
    ) -> list[VideoFeatureInfo]:
        """All feature links of a video, newest first."""
        with self.read() as s:
            q = (
                select(VideoFeature, Artifact)
                .join(Artifact, Artifact.id == VideoFeature.artifact_id)
                .where(VideoFeature.video_id == video_id)
            )
            if model_id is not None:
                q = q.where(VideoFeature.model_id == model_id)
            if fps is not None:
                q = q.where(VideoFeature.fps == float(fps))
            q = q.order_by(VideoFeature.created_at.desc(), VideoFeature.id.desc())
            return [
                VideoFeatureInfo(
                    video_id=vf.video_id, artifact=_artifact(a), model_id=vf.model_id, fps=vf.fps
                )
                for vf, a in s.execute(q)
            ]
