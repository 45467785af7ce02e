"""Atomic bulk import: a validated plan applied in one transaction, with bulk inserts.

:func:`apply_import` writes an :class:`ImportPlan` (made and validated beforehand, e.g. by
:mod:`otcore.service.transfer`) in a single write transaction: the project (created if missing), the
labels it lacks, the label descriptions it carries (on new and existing labels), placeholder
videos, the segments, and one ``import`` entry of the edit log per
video (so each video's import is one undo step). Either all of it is stored or, on any error,
none of it. Rows go in with multi-row ``INSERT ... RETURNING`` statements, so the cost is linear
in the size of the file (ActivityNet-1.3, 19,228 videos: a few seconds).

Times are stored exactly as planned: no snapping to frames and no merging of overlapping
same-label segments (those rules belong to edits made on the timeline, :mod:`otcore.store.edits`).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Table, bindparam, insert, select, update

from otcore.store.api import LABEL_PALETTE, Store, StoreError
from otcore.store.models import SEGMENT_SOURCES, Edit, Label, Project, SegmentRow, Video, utcnow

__all__ = ["PlannedVideo", "PlannedSegment", "ImportPlan", "AppliedImport", "apply_import"]

Progress = Callable[[float, str], None]
_CHUNK = 5000
_SNAP = ("label_id", "start", "end", "source", "score", "method", "status")


@dataclass(frozen=True)
class PlannedVideo:
    """A placeholder video to create (no media file): known by name, duration and fps only."""

    filename: str
    sha256: str
    duration: float | None = None
    fps: float | None = None
    status: str = "absent"
    meta: dict[str, Any] | None = None


@dataclass(frozen=True)
class PlannedSegment:
    """A segment to insert on ``video`` (an existing video id, or the filename of a planned video)."""

    video: int | str
    label: str
    start: float
    end: float
    source: str = "manual"
    score: float | None = None
    meta: dict[str, Any] | None = None


@dataclass(frozen=True)
class ImportPlan:
    """Everything one import writes. ``video_meta`` merges format meta into existing videos."""

    project: str
    project_meta: dict[str, Any] = field(default_factory=dict)
    labels: Sequence[str] = ()
    videos: Sequence[PlannedVideo] = ()
    video_meta: dict[int, dict[str, Any]] = field(default_factory=dict)
    segments: Sequence[PlannedSegment] = ()
    user: str = "import"
    method: str = "import"
    #: label name -> description (checked beforehand) for labels of the plan or of the project
    descriptions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class AppliedImport:
    """What :func:`apply_import` stored."""

    project_id: int
    project_created: bool
    labels_created: int
    videos_created: int
    segments_added: int
    edits: int


def _table(model: type[Any]) -> Table:
    table = model.__table__
    assert isinstance(table, Table)
    return table


def _insert_returning(
    s: Any, table: Any, rows: list[dict[str, Any]], progress: Progress | None, what: str
) -> list[int]:
    ids: list[int] = []
    stmt = insert(table).returning(table.c.id, sort_by_parameter_order=True)
    for i in range(0, len(rows), _CHUNK):
        chunk = rows[i : i + _CHUNK]
        ids.extend(int(r[0]) for r in s.execute(stmt, chunk))
        if progress is not None:
            progress(
                min(1.0, (i + len(chunk)) / max(1, len(rows))), f"{what}: {i + len(chunk):,}/{len(rows):,}"
            )
    return ids


def apply_import(store: Store, plan: ImportPlan, progress: Progress | None = None) -> AppliedImport:
    """Store ``plan`` in one transaction (all or nothing); see the module doc."""
    for seg in plan.segments:
        if seg.source not in SEGMENT_SOURCES:
            raise StoreError(f"source must be one of {SEGMENT_SOURCES}, got {seg.source!r}")
    now = utcnow()
    with store.write() as s:
        proj = s.scalar(select(Project).where(Project.name == plan.project))
        created = proj is None
        if proj is None:
            proj = Project(name=plan.project, created_at=now, meta=dict(plan.project_meta) or None)
            s.add(proj)
            s.flush()
        elif plan.project_meta:
            proj.meta = {**(proj.meta or {}), **plan.project_meta}
        pid = proj.id
        labels = {
            name: lid for lid, name in s.execute(select(Label.id, Label.name).where(Label.project_id == pid))
        }
        n_before = len(labels)
        new_labels = [n for n in dict.fromkeys(plan.labels) if n not in labels]
        rows = [
            {
                "project_id": pid,
                "name": n,
                "color": LABEL_PALETTE[(n_before + k) % len(LABEL_PALETTE)],
                "created_at": now,
                "description": plan.descriptions.get(n) or None,
            }
            for k, n in enumerate(new_labels)
        ]
        described = [n for n in plan.descriptions if n in labels and plan.descriptions[n]]
        if described:
            s.execute(
                update(_table(Label))
                .where(_table(Label).c.id == bindparam("lid"))
                .values(description=bindparam("d")),
                [{"lid": labels[n], "d": plan.descriptions[n]} for n in described],
                execution_options={"synchronize_session": False},
            )
        if rows:
            for name, lid in zip(
                new_labels, _insert_returning(s, _table(Label), rows, None, "labels"), strict=True
            ):
                labels[name] = lid
        vrows = [
            {
                "project_id": pid,
                "filename": v.filename,
                "path": "",
                "sha256": v.sha256,
                "duration": v.duration,
                "fps": v.fps,
                "n_frames": int(round(v.duration * v.fps)) if v.duration and v.fps else None,
                "width": None,
                "height": None,
                "frame_times_path": None,
                "status": v.status,
                "error": None,
                "created_at": now,
                "meta": v.meta or None,
            }
            for v in plan.videos
        ]
        video_ids: dict[int | str, int] = {}
        if vrows:
            got = _insert_returning(s, _table(Video), vrows, progress, "videos")
            video_ids.update({v.filename: vid for v, vid in zip(plan.videos, got, strict=True)})
        if plan.video_meta:
            current: dict[int, Any] = dict(
                s.execute(select(Video.id, Video.meta).where(Video.id.in_(list(plan.video_meta)))).all()
            )
            s.execute(
                update(_table(Video))
                .where(_table(Video).c.id == bindparam("vid"))
                .values(meta=bindparam("m")),
                [{"vid": vid, "m": {**(current.get(vid) or {}), **m}} for vid, m in plan.video_meta.items()],
                execution_options={"synchronize_session": False},
            )
        srows: list[dict[str, Any]] = []
        for seg in plan.segments:
            vid = seg.video if isinstance(seg.video, int) else video_ids[seg.video]
            srows.append(
                {
                    "video_id": vid,
                    "label_id": labels[seg.label],
                    "start": float(seg.start),
                    "end": float(seg.end),
                    "source": seg.source,
                    "score": None if seg.score is None else float(seg.score),
                    "method": plan.method,
                    "status": "active",
                    "created_at": now,
                    "updated_at": now,
                    "meta": seg.meta or None,
                }
            )
        seg_ids = _insert_returning(s, _table(SegmentRow), srows, progress, "segments") if srows else []
        per_video: dict[int, dict[str, dict[str, Any]]] = {}
        for sid, row in zip(seg_ids, srows, strict=True):
            per_video.setdefault(int(row["video_id"]), {})[str(sid)] = {k: row[k] for k in _SNAP}
        created_ids = set(video_ids.values())
        existing = [v for v in per_video if v not in created_ids]
        if existing:
            s.execute(
                update(Edit)
                .where(Edit.video_id.in_(existing), Edit.state == "undone")
                .values(state="discarded", state_changed_at=now),
                execution_options={"synchronize_session": False},
            )
        erows = [
            {
                "video_id": vid,
                "user": plan.user,
                "op": "import",
                "before": {k: {**snap, "status": "void"} for k, snap in after.items()},
                "after": after,
                "state": "applied",
                "created_at": now,
                "state_changed_at": None,
            }
            for vid, after in per_video.items()
        ]
        if erows:
            s.execute(insert(_table(Edit)), erows)
        return AppliedImport(
            project_id=pid,
            project_created=created,
            labels_created=len(new_labels),
            videos_created=len(vrows),
            segments_added=len(seg_ids),
            edits=len(erows),
        )
