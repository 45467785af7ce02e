"""The editing model: every change to a video's segments is an entry of an append-only log.

``EditLog(store)`` is the only way segments change. Each operation runs in one transaction
that (1) locks the video row, (2) changes segment rows, (3) appends an ``edit`` row with the
full before/after snapshot of every row it touched, and (4) clears that video's redo stack.
Rows are never physically deleted: deleting, rejecting, merging away or replacing only
changes a row's ``status``, so :meth:`EditLog.undo` restores exactly the before-state and
:meth:`EditLog.redo` the after-state, in any later process.

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
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from otcore.store.api import EditInfo, NotFoundError, SegmentInfo, Store, StoreError, segment_info
from otcore.store.models import SEGMENT_SOURCES, Edit, Label, SegmentRow, Video, utcnow

if TYPE_CHECKING:  # the store does not need torch at import time
    from otcore.types import Segment

__all__ = ["EditLog", "EditError", "snap_time", "OWNED_SOURCES"]

#: Sources a person owns; the overlap rule applies among these (per label).
OWNED_SOURCES: tuple[str, ...] = ("manual", "corrected")

_R = TypeVar("_R")
_SNAP_FIELDS = ("label_id", "start", "end", "source", "score", "method", "status")


class EditError(StoreError, ValueError):
    """An edit that cannot be applied (bad times, wrong segment state, nothing to undo ...)."""


# ---------------------------------------------------------------------------- snapping


@dataclass(frozen=True)
class _TimeBase:
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
class _Tx:
    """The rows one edit touches, with their state before the edit."""

    session: Session
    video: Video
    base: _TimeBase
    before: dict[int, dict[str, Any]] = field(default_factory=dict)
    created: set[int] = field(default_factory=set)
    rows: dict[int, SegmentRow] = field(default_factory=dict)

    def touch(self, row: SegmentRow) -> SegmentRow:
        """Remember ``row``'s state before it is changed (first touch only)."""
        if row.id not in self.before and row.id not in self.created:
            self.before[row.id] = _snapshot(row)
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


def _snapshot(row: SegmentRow) -> dict[str, Any]:
    return {k: getattr(row, k) for k in _SNAP_FIELDS}


def _restore(row: SegmentRow, snap: dict[str, Any]) -> None:
    for k in _SNAP_FIELDS:
        setattr(row, k, snap[k])
    row.updated_at = utcnow()


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    for k in _SNAP_FIELDS:
        x, y = a.get(k), b.get(k)
        if isinstance(x, float) and isinstance(y, float):
            if not math.isclose(x, y, rel_tol=0, abs_tol=1e-9):
                return False
        elif x != y:
            return False
    return True


# ---------------------------------------------------------------------------- the edit log


class EditLog:
    """Segment editing with a persistent undo/redo log: ``EditLog(store, user="local")``.

    Every method is one transaction and, except the read methods, appends one edit row.
    ``user`` is recorded as the author of each edit (overridable per call).
    """

    def __init__(self, store: Store, user: str = "local") -> None:
        self.store = store
        self.user = user

    # -- reads ---------------------------------------------------------------------------------

    def segments(self, video_id: int, sources: Iterable[str] | None = None) -> list[SegmentInfo]:
        """The active segments of a video (optionally only these sources), by start then label."""
        with self.store.read() as s:
            q = (
                select(SegmentRow, Label.name)
                .join(Label, Label.id == SegmentRow.label_id)
                .where(SegmentRow.video_id == video_id, SegmentRow.status == "active")
            )
            if sources is not None:
                q = q.where(SegmentRow.source.in_(list(sources)))
            q = q.order_by(SegmentRow.start, Label.name, SegmentRow.id)
            return [segment_info(row, name) for row, name in s.execute(q)]

    def get_segment(self, seg_id: int) -> SegmentInfo | None:
        """A segment by id, whatever its status (``status`` tells whether it is shown)."""
        with self.store.read() as s:
            got = s.execute(
                select(SegmentRow, Label.name)
                .join(Label, Label.id == SegmentRow.label_id)
                .where(SegmentRow.id == seg_id)
            ).first()
            return None if got is None else segment_info(got[0], got[1])

    def project_segments(self, project_id: int, sources: Iterable[str] | None = None) -> list[SegmentInfo]:
        """All active segments of a project, ordered by video then start (export-friendly)."""
        return self.store.project_segments(project_id, None if sources is None else tuple(sources))

    def history(self, video_id: int, limit: int | None = None) -> list[EditInfo]:
        """The video's edit log, newest first (all states)."""
        with self.store.read() as s:
            q = select(Edit).where(Edit.video_id == video_id).order_by(Edit.id.desc())
            if limit is not None:
                q = q.limit(limit)
            return [_edit_info(e) for e in s.scalars(q)]

    def can_undo(self, video_id: int) -> bool:
        """True when the video has an applied edit to undo."""
        with self.store.read() as s:
            return (
                s.scalar(select(Edit.id).where(Edit.video_id == video_id, Edit.state == "applied").limit(1))
                is not None
            )

    def can_redo(self, video_id: int) -> bool:
        """True when the video has an undone edit to redo."""
        with self.store.read() as s:
            return (
                s.scalar(select(Edit.id).where(Edit.video_id == video_id, Edit.state == "undone").limit(1))
                is not None
            )

    # -- edits ---------------------------------------------------------------------------------

    def add_segment(
        self,
        video_id: int,
        label: str,
        start: float,
        end: float,
        source: str = "manual",
        score: float | None = None,
        user: str | None = None,
        method: str | None = None,
    ) -> int:
        """Add a segment (times snapped to frames) and return its id. A manual/corrected segment
        overlapping same-label manual/corrected segments absorbs them (the returned id is the
        new, merged segment)."""
        _check_source(source)

        def op(tx: _Tx) -> int:
            start_s, end_s = _clean_times(tx.base, start, end, strict=True)
            lab = self.store.ensure_label_row(tx.session, tx.video.project_id, label)
            row = tx.new(
                label_id=lab.id,
                start=start_s,
                end=end_s,
                source=source,
                score=None if score is None else float(score),
                method=method,
            )
            _absorb_overlaps(tx, row)
            return row.id

        return self._edit(video_id, "add", op, user)

    def add_segments(
        self,
        video_id: int,
        segments: Sequence[Segment],
        source: str = "manual",
        user: str | None = None,
        method: str | None = None,
        merge_overlaps: bool = True,
    ) -> list[int]:
        """Add many segments as one edit (one undo step), all or nothing. ``merge_overlaps=False``
        keeps same-label overlapping instances exactly as given (for importing external files)."""
        _check_source(source)
        segments = list(segments)

        def op(tx: _Tx) -> list[int]:
            ids = []
            for seg in segments:
                start_s, end_s = _clean_times(tx.base, seg.start, seg.end, strict=True)
                lab = self.store.ensure_label_row(tx.session, tx.video.project_id, seg.label)
                row = tx.new(
                    label_id=lab.id,
                    start=start_s,
                    end=end_s,
                    source=source,
                    score=None if seg.score is None else float(seg.score),
                    method=method,
                )
                ids.append(row.id)
            if merge_overlaps and source in OWNED_SOURCES:
                for rid in ids:
                    row = tx.rows[rid]
                    if row.status == "active":
                        _absorb_overlaps(tx, row)
            return [rid for rid in ids if tx.rows[rid].status == "active"]

        return self._edit(video_id, "add_many", op, user)

    def update_segment(
        self,
        seg_id: int,
        start: float | None = None,
        end: float | None = None,
        label: str | None = None,
        user: str | None = None,
    ) -> int:
        """Move a boundary and/or change the label of a segment; a predicted segment becomes
        ``corrected``. Returns the segment id."""

        def op(tx: _Tx) -> int:
            row = tx.touch(_active_row(tx, seg_id))
            new_start = row.start if start is None else start
            new_end = row.end if end is None else end
            row.start, row.end = _clean_times(tx.base, new_start, new_end, strict=True)
            if label is not None:
                row.label_id = self.store.ensure_label_row(tx.session, tx.video.project_id, label).id
            if row.source == "predicted":
                row.source = "corrected"
            row.updated_at = utcnow()
            _absorb_overlaps(tx, row)
            return row.id

        return self._edit(self._video_of(seg_id), "update", op, user)

    def delete_segment(self, seg_id: int, user: str | None = None) -> None:
        """Hide a segment (status ``deleted``); undo brings it back."""

        def op(tx: _Tx) -> None:
            row = tx.touch(_active_row(tx, seg_id))
            row.status = "deleted"
            row.updated_at = utcnow()

        self._edit(self._video_of(seg_id), "delete", op, user)

    def split_segment(self, seg_id: int, t: float, user: str | None = None) -> tuple[int, int]:
        """Split a segment at time ``t`` (snapped to a frame start strictly inside it) into
        ``[start, t)`` (same id) and ``[t, end)`` (new id); returns both ids."""

        def op(tx: _Tx) -> tuple[int, int]:
            row = tx.touch(_active_row(tx, seg_id))
            ts = snap_time(t, frame_times=tx.base.frame_times, fps=tx.base.fps, duration=tx.base.duration)
            if not (row.start < ts < row.end):
                raise EditError(
                    f"split time {t:.3f}s (frame {ts:.3f}s) is not strictly inside the segment "
                    f"[{row.start:.3f}, {row.end:.3f})"
                )
            source = "corrected" if row.source == "predicted" else row.source
            right = tx.new(
                label_id=row.label_id,
                start=ts,
                end=row.end,
                source=source,
                score=row.score,
                method=row.method,
            )
            row.end = ts
            row.source = source
            row.updated_at = utcnow()
            return row.id, right.id

        return self._edit(self._video_of(seg_id), "split", op, user)

    def merge_segments(self, a_id: int, b_id: int, user: str | None = None) -> int:
        """Merge segment ``b`` into ``a``: ``a`` spans both (and the gap between them) with
        ``a``'s label; ``b`` gets status ``merged``. The result is ``manual`` when both were
        manual, ``corrected`` otherwise. Returns ``a_id``."""
        if a_id == b_id:
            raise EditError("cannot merge a segment with itself")
        video_id = self._video_of(a_id)
        if self._video_of(b_id) != video_id:
            raise EditError("cannot merge segments of different videos")

        def op(tx: _Tx) -> int:
            a = tx.touch(_active_row(tx, a_id))
            b = tx.touch(_active_row(tx, b_id))
            a.start, a.end = min(a.start, b.start), max(a.end, b.end)
            a.source = "manual" if a.source == b.source == "manual" else "corrected"
            b.status = "merged"
            a.updated_at = b.updated_at = utcnow()
            _absorb_overlaps(tx, a)
            return a.id

        return self._edit(video_id, "merge", op, user)

    def accept(self, seg_id: int, user: str | None = None) -> int:
        """Accept a proposal: a predicted segment becomes ``corrected`` (score and method kept),
        absorbing overlapping same-label manual/corrected segments. Returns the segment id."""

        def op(tx: _Tx) -> int:
            row = tx.touch(_active_row(tx, seg_id))
            if row.source != "predicted":
                raise EditError(f"segment {seg_id} is {row.source}, only predicted segments can be accepted")
            row.source = "corrected"
            row.updated_at = utcnow()
            _absorb_overlaps(tx, row)
            return row.id

        return self._edit(self._video_of(seg_id), "accept", op, user)

    def reject(self, seg_id: int, user: str | None = None) -> None:
        """Reject a proposal: the predicted segment is hidden (status ``rejected``)."""

        def op(tx: _Tx) -> None:
            row = tx.touch(_active_row(tx, seg_id))
            if row.source != "predicted":
                raise EditError(
                    f"segment {seg_id} is {row.source}; only predicted segments can be rejected "
                    "(delete it instead)"
                )
            row.status = "rejected"
            row.updated_at = utcnow()

        self._edit(self._video_of(seg_id), "reject", op, user)

    def replace_predictions(
        self, video_id: int, segments: Sequence[Segment], method: str, user: str | None = None
    ) -> list[int]:
        """Replace the video's active predicted segments (of any method) by ``segments``
        (source ``predicted``, their scores, ``method``); manual and corrected rows are never
        touched, rejected proposals stay rejected. Times are clamped to the video and snapped;
        segments shorter than a frame after snapping are dropped. Returns the new ids."""
        segments = list(segments)

        def op(tx: _Tx) -> list[int]:
            old = tx.session.scalars(
                select(SegmentRow).where(
                    SegmentRow.video_id == tx.video.id,
                    SegmentRow.status == "active",
                    SegmentRow.source == "predicted",
                )
            ).all()
            for row in old:
                tx.touch(row).status = "replaced"
                row.updated_at = utcnow()
            ids = []
            for seg in segments:
                try:
                    start_s, end_s = _clean_times(tx.base, seg.start, seg.end, strict=False)
                except EditError:
                    continue
                lab = self.store.ensure_label_row(tx.session, tx.video.project_id, seg.label)
                row = tx.new(
                    label_id=lab.id,
                    start=start_s,
                    end=end_s,
                    source="predicted",
                    score=None if seg.score is None else float(seg.score),
                    method=method,
                )
                ids.append(row.id)
            return ids

        return self._edit(video_id, "replace_predictions", op, user or f"method:{method}")

    # -- undo / redo ---------------------------------------------------------------------------

    def undo(self, video_id: int, user: str | None = None) -> EditInfo | None:
        """Revert the newest applied edit of the video exactly to its before-state; returns it
        (now ``undone``) or None when there is nothing to undo."""
        return self._step(video_id, undo=True)

    def redo(self, video_id: int, user: str | None = None) -> EditInfo | None:
        """Re-apply the oldest undone edit of the video; returns it or None when the redo stack is empty."""
        return self._step(video_id, undo=False)

    def _step(self, video_id: int, undo: bool) -> EditInfo | None:
        with self.store.write() as s:
            _lock_video(s, video_id)
            if undo:
                q = (
                    select(Edit)
                    .where(Edit.video_id == video_id, Edit.state == "applied")
                    .order_by(Edit.id.desc())
                )
            else:
                q = (
                    select(Edit)
                    .where(Edit.video_id == video_id, Edit.state == "undone")
                    .order_by(Edit.id.asc())
                )
            edit = s.scalars(q.limit(1)).first()
            if edit is None:
                return None
            expect, target = (edit.after, edit.before) if undo else (edit.before, edit.after)
            ids = sorted(int(k) for k in target)
            rows = {r.id: r for r in s.scalars(select(SegmentRow).where(SegmentRow.id.in_(ids)))}
            for sid in ids:
                row = rows.get(sid)
                if row is None or not _same(_snapshot(row), expect[str(sid)]):
                    raise EditError(
                        f"cannot {'undo' if undo else 'redo'} edit {edit.id} ({edit.op}): segment {sid} "
                        "was changed outside the edit log"
                    )
            for sid in ids:
                _restore(rows[sid], target[str(sid)])
            edit.state = "undone" if undo else "applied"
            edit.state_changed_at = utcnow()
            s.flush()
            return _edit_info(edit)

    # -- machinery -----------------------------------------------------------------------------

    def _video_of(self, seg_id: int) -> int:
        with self.store.read() as s:
            vid = s.scalar(select(SegmentRow.video_id).where(SegmentRow.id == seg_id))
        if vid is None:
            raise NotFoundError(f"no segment with id {seg_id}")
        return int(vid)

    def _edit(self, video_id: int, op_name: str, op: Callable[[_Tx], _R], user: str | None) -> _R:
        times = self.store.frame_times(video_id)
        for attempt in range(2):
            try:
                with self.store.write() as s:
                    video = _lock_video(s, video_id)
                    base = _TimeBase(duration=video.duration, fps=video.fps, frame_times=times)
                    tx = _Tx(session=s, video=video, base=base)
                    result = op(tx)
                    s.flush()
                    after = {str(rid): _snapshot(row) for rid, row in tx.rows.items()}
                    before = {str(rid): snap for rid, snap in tx.before.items()}
                    for rid in tx.created:
                        before[str(rid)] = {**after[str(rid)], "status": "void"}
                    if not after:
                        return result
                    s.execute(
                        update(Edit)
                        .where(Edit.video_id == video_id, Edit.state == "undone")
                        .values(state="discarded", state_changed_at=utcnow())
                    )
                    s.add(
                        Edit(
                            video_id=video_id,
                            user=user or self.user,
                            op=op_name,
                            before=before,
                            after=after,
                            state="applied",
                            created_at=utcnow(),
                        )
                    )
                    return result
            except IntegrityError:  # a label created concurrently: retry once with it in place
                if attempt:
                    raise
        raise AssertionError("unreachable")


def _edit_info(e: Edit) -> EditInfo:
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


def _lock_video(s: Session, video_id: int) -> Video:
    video = s.scalars(select(Video).where(Video.id == video_id).with_for_update()).first()
    if video is None:
        raise NotFoundError(f"no video with id {video_id}")
    return video


def _active_row(tx: _Tx, seg_id: int) -> SegmentRow:
    row = tx.rows.get(seg_id) or tx.session.get(SegmentRow, seg_id)
    if row is None or row.video_id != tx.video.id:
        raise NotFoundError(f"no segment with id {seg_id}")
    if row.status != "active":
        raise EditError(f"segment {seg_id} is {row.status}, not active")
    return row


def _check_source(source: str) -> None:
    if source not in SEGMENT_SOURCES:
        raise EditError(f"source must be one of {SEGMENT_SOURCES}, got {source!r}")


def _clean_times(base: _TimeBase, start: float, end: float, strict: bool) -> tuple[float, float]:
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


def _absorb_overlaps(tx: _Tx, row: SegmentRow) -> None:
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
