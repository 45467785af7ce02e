"""The rules every edit of :class:`otcore.store.edits.EditLog` follows, and the helpers that
apply them inside one edit's transaction.

Rules (the same for every operation):

* **Times** are seconds, half-open ``[start, end)``, snapped to the video's real frame
  times: ``start`` to the nearest frame start, ``end`` to the nearest frame start or the
  video's end. Without a frame-times file, to the ``1/fps`` grid; without fps, unchanged.
  A segment must satisfy ``0 <= start < end <= duration`` after snapping; times outside the
  video by more than half a frame are refused (:class:`EditError`), smaller overshoots are
  clamped. Predictions (:meth:`EditLog.replace_predictions`) are clamped to the video.
* **Overlaps within a label**: segments a person owns (``manual`` and ``corrected``) of the
  same label never overlap. An add/update/accept/merge whose result overlaps such segments
  absorbs them: the edited segment grows to the union and the others get status
  ``merged`` (undo brings them back). Segments that merely touch (``a.end == b.start``)
  stay separate instances. Predicted segments may overlap anything: they are proposals.
  Different labels may overlap freely (one lane per label).
* **Sources**: ``manual`` (drawn by a person), ``predicted`` (proposed by a method, with a
  ``score``), ``corrected`` (a proposal a person edited or accepted). Editing a predicted
  segment (move, relabel, split, merge) makes it ``corrected``; :meth:`EditLog.accept`
  turns a predicted segment into ``corrected`` (score and method kept), :meth:`EditLog.reject`
  hides it (status ``rejected``). :meth:`EditLog.replace_predictions` swaps the active
  ``predicted`` rows of a video for new ones and never touches manual/corrected rows.
* **Undo/redo** are per video and LIFO over the log: undo reverts the newest ``applied``
  edit, redo re-applies the oldest ``undone`` one, a new edit marks every ``undone`` edit
  of the video ``discarded`` (the redo stack is cleared, persistently).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from otcore.store.models import SEGMENT_SOURCES, Edit, SegmentRow, Video, utcnow
from otcore.store.records import EditInfo, NotFoundError, StoreError

__all__ = [
    "OWNED_SOURCES",
    "SNAP_FIELDS",
    "EditError",
    "TimeBase",
    "snap_time",
    "EditTx",
    "snapshot",
    "restore",
    "same_snapshot",
    "edit_info",
    "lock_video",
    "active_row",
    "check_source",
    "clean_times",
    "absorb_overlaps",
]

#: Sources a person owns; the overlap rule applies among these (per label).
OWNED_SOURCES: tuple[str, ...] = ("manual", "corrected")

#: The fields of a segment row an edit snapshots (before/after).
SNAP_FIELDS = ("label_id", "start", "end", "source", "score", "method", "status")


class EditError(StoreError, ValueError):
    """An edit that cannot be applied (bad times, wrong segment state, nothing to undo ...)."""


# ---------------------------------------------------------------------------- snapping


@dataclass(frozen=True)
class TimeBase:
    """What snapping needs to know about a video."""

    duration: float | None
    fps: float | None
    frame_times: Any  # sorted numpy float64 array or None

    @property
    def frame(self) -> float | None:
        """A typical frame length in seconds."""
        ft = self.frame_times
        if ft is not None and len(ft) > 1:
            import numpy as np

            return float(np.median(np.diff(ft)))
        if self.fps:
            return 1.0 / self.fps
        return None


def snap_time(
    t: float,
    *,
    frame_times: Any = None,
    fps: float | None = None,
    duration: float | None = None,
    is_end: bool = False,
) -> float:
    """Snap ``t`` (seconds) to the nearest frame start (``frame_times``, sorted seconds), else
    to the nearest multiple of ``1/fps``; an end time may also snap to ``duration``. The
    result is clamped to ``[0, duration]``."""
    import numpy as np

    t = float(t)
    if frame_times is not None and len(frame_times) > 0:
        grid = np.asarray(frame_times, dtype=np.float64)
        if is_end and duration is not None and duration > grid[-1]:
            grid = np.append(grid, float(duration))
        i = int(np.searchsorted(grid, t))
        cands = [float(grid[j]) for j in (i - 1, i) if 0 <= j < len(grid)]
        t = min(cands, key=lambda g: (abs(g - t), g))
    elif fps:
        g = math.floor(t * fps + 0.5) / fps  # nearest, ties up (not banker's rounding)
        if is_end and duration is not None and abs(float(duration) - t) < abs(g - t):
            g = float(duration)
        t = g
    if duration is not None:
        t = min(max(t, 0.0), float(duration))
    else:
        t = max(t, 0.0)
    return t


# ---------------------------------------------------------------------------- transaction helper


@dataclass
class EditTx:
    """The rows one edit touches, with their state before the edit."""

    session: Session
    video: Video
    base: TimeBase
    before: dict[int, dict[str, Any]] = field(default_factory=dict)
    created: set[int] = field(default_factory=set)
    rows: dict[int, SegmentRow] = field(default_factory=dict)

    def touch(self, row: SegmentRow) -> SegmentRow:
        """Remember ``row``'s state before it is changed (first touch only)."""
        if row.id not in self.before and row.id not in self.created:
            self.before[row.id] = snapshot(row)
        self.rows[row.id] = row
        return row

    def new(self, **values: Any) -> SegmentRow:
        """Insert a new segment row."""
        now = utcnow()
        row = SegmentRow(video_id=self.video.id, status="active", created_at=now, updated_at=now, **values)
        self.session.add(row)
        self.session.flush()
        self.created.add(row.id)
        self.rows[row.id] = row
        return row


def snapshot(row: SegmentRow) -> dict[str, Any]:
    """The fields of ``row`` an edit records (:data:`SNAP_FIELDS`)."""
    return {k: getattr(row, k) for k in SNAP_FIELDS}


def restore(row: SegmentRow, snap: dict[str, Any]) -> None:
    """Put ``row`` back to a snapshot (undo/redo)."""
    for k in SNAP_FIELDS:
        setattr(row, k, snap[k])
    row.updated_at = utcnow()


def same_snapshot(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Whether two snapshots are equal (times to within 1e-9 s)."""
    for k in SNAP_FIELDS:
        x, y = a.get(k), b.get(k)
        if isinstance(x, float) and isinstance(y, float):
            if not math.isclose(x, y, rel_tol=0, abs_tol=1e-9):
                return False
        elif x != y:
            return False
    return True


def edit_info(e: Edit) -> EditInfo:
    """The frozen record of an edit row."""
    ids = tuple(sorted(int(k) for k in (e.after or {})))
    return EditInfo(
        id=e.id,
        video_id=e.video_id,
        user=e.user,
        op=e.op,
        state=e.state,
        created_at=e.created_at,
        segment_ids=ids,
    )


def lock_video(s: Session, video_id: int) -> Video:
    """The video row, locked for the rest of the transaction; :class:`NotFoundError` if absent."""
    video = s.scalars(select(Video).where(Video.id == video_id).with_for_update()).first()
    if video is None:
        raise NotFoundError(f"no video with id {video_id}")
    return video


def active_row(tx: EditTx, seg_id: int) -> SegmentRow:
    """An active segment row of the edited video (remembered by ``tx``): :class:`NotFoundError` when it
    is not one of its rows, :class:`EditError` when it is not active."""
    row = tx.rows.get(seg_id) or tx.session.get(SegmentRow, seg_id)
    if row is None or row.video_id != tx.video.id:
        raise NotFoundError(f"no segment with id {seg_id}")
    if row.status != "active":
        raise EditError(f"segment {seg_id} is {row.status}, not active")
    return row


def check_source(source: str) -> None:
    """Refuse an unknown segment source (:class:`EditError`)."""
    if source not in SEGMENT_SOURCES:
        raise EditError(f"source must be one of {SEGMENT_SOURCES}, got {source!r}")


def clean_times(base: TimeBase, start: float, end: float, strict: bool) -> tuple[float, float]:
    """Validate, clamp and snap ``[start, end)`` to the video (see module docstring)."""
    start, end = float(start), float(end)
    if not (math.isfinite(start) and math.isfinite(end)):
        raise EditError(f"segment times must be finite, got [{start}, {end})")
    if not end > start:
        raise EditError(f"a segment must have start < end, got [{start:.3f}, {end:.3f})")
    tol = 0.5 * (base.frame or 0.0) + 1e-6
    if strict:
        if start < -tol:
            raise EditError(f"segment starts before the video ({start:.3f}s < 0)")
        if base.duration is not None and end > base.duration + tol:
            raise EditError(f"segment ends after the video ({end:.3f}s > {base.duration:.3f}s)")
    if base.duration is not None and (start >= base.duration or end <= 0):
        raise EditError(f"segment [{start:.3f}, {end:.3f}) lies outside the video [0, {base.duration:.3f}]")
    s = snap_time(start, frame_times=base.frame_times, fps=base.fps, duration=base.duration)
    e = snap_time(end, frame_times=base.frame_times, fps=base.fps, duration=base.duration, is_end=True)
    if not e > s:
        raise EditError(
            f"segment [{start:.3f}, {end:.3f}) is shorter than one frame once snapped to frames ({s:.3f}s)"
        )
    return s, e


def absorb_overlaps(tx: EditTx, row: SegmentRow) -> None:
    """Apply the overlap rule: ``row`` (manual/corrected) absorbs active same-label
    manual/corrected segments that overlap it (touching ones stay separate)."""
    if row.source not in OWNED_SOURCES or row.status != "active":
        return
    while True:
        others = tx.session.scalars(
            select(SegmentRow).where(
                SegmentRow.video_id == row.video_id,
                SegmentRow.label_id == row.label_id,
                SegmentRow.status == "active",
                SegmentRow.source.in_(OWNED_SOURCES),
                SegmentRow.id != row.id,
                SegmentRow.start < row.end,
                SegmentRow.end > row.start,
            )
        ).all()
        if not others:
            return
        for other in others:
            tx.touch(other)
            row.start = min(row.start, other.start)
            row.end = max(row.end, other.end)
            other.status = "merged"
            other.updated_at = utcnow()
        row.updated_at = utcnow()
