"""The editing model: every change to a video's segments is an entry of an append-only log.

``EditLog(store)`` is the only way segments change. Each operation runs in one transaction
that (1) locks the video row, (2) changes segment rows, (3) appends an ``edit`` row with the
full before/after snapshot of every row it touched, and (4) clears that video's redo stack.
Rows are never physically deleted: deleting, rejecting, merging away or replacing only
changes a row's ``status``, so :meth:`EditLog.undo` restores exactly the before-state and
:meth:`EditLog.redo` the after-state, in any later process.

The rules every operation follows (snapping, overlaps, sources, undo/redo) are written
out in :mod:`otcore.store.edit_rules`, which also holds the helpers that apply them.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, TypeVar

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from otcore.store.edit_reads import EditReads
from otcore.store.edit_rules import (
    OWNED_SOURCES,
    EditError,
    EditTx,
    TimeBase,
    absorb_overlaps,
    active_row,
    check_source,
    clean_times,
    edit_info,
    lock_video,
    restore,
    same_snapshot,
    snap_time,
    snapshot,
)
from otcore.store.models import Edit, SegmentRow, utcnow
from otcore.store.records import EditInfo, NotFoundError

if TYPE_CHECKING:  # the store does not need torch at import time
    from otcore.types import Segment

__all__ = ["EditLog", "EditError", "snap_time", "OWNED_SOURCES"]

_R = TypeVar("_R")


# ---------------------------------------------------------------------------- the edit log


class EditLog(EditReads):
    """Segment editing with a persistent undo/redo log: ``EditLog(store, user="local")``.

    Every method is one transaction and, except the read methods (:class:`EditReads`), appends
    one edit row. ``user`` is recorded as the author of each edit (overridable per call).
    """

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
        check_source(source)

        def op(tx: EditTx) -> int:
            start_s, end_s = clean_times(tx.base, start, end, strict=True)
            lab = self.store.ensure_label_row(tx.session, tx.video.project_id, label)
            row = tx.new(
                label_id=lab.id,
                start=start_s,
                end=end_s,
                source=source,
                score=None if score is None else float(score),
                method=method,
            )
            absorb_overlaps(tx, row)
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
        check_source(source)
        segments = list(segments)

        def op(tx: EditTx) -> list[int]:
            ids = []
            for seg in segments:
                start_s, end_s = clean_times(tx.base, seg.start, seg.end, strict=True)
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
                        absorb_overlaps(tx, row)
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

        def op(tx: EditTx) -> int:
            row = tx.touch(active_row(tx, seg_id))
            new_start = row.start if start is None else start
            new_end = row.end if end is None else end
            row.start, row.end = clean_times(tx.base, new_start, new_end, strict=True)
            if label is not None:
                row.label_id = self.store.ensure_label_row(tx.session, tx.video.project_id, label).id
            if row.source == "predicted":
                row.source = "corrected"
            row.updated_at = utcnow()
            absorb_overlaps(tx, row)
            return row.id

        return self._edit(self._video_of(seg_id), "update", op, user)

    def delete_segment(self, seg_id: int, user: str | None = None) -> None:
        """Hide a segment (status ``deleted``); undo brings it back."""

        def op(tx: EditTx) -> None:
            row = tx.touch(active_row(tx, seg_id))
            row.status = "deleted"
            row.updated_at = utcnow()

        self._edit(self._video_of(seg_id), "delete", op, user)

    def split_segment(self, seg_id: int, t: float, user: str | None = None) -> tuple[int, int]:
        """Split a segment at time ``t`` (snapped to a frame start strictly inside it) into
        ``[start, t)`` (same id) and ``[t, end)`` (new id); returns both ids."""

        def op(tx: EditTx) -> tuple[int, int]:
            row = tx.touch(active_row(tx, seg_id))
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

        def op(tx: EditTx) -> int:
            a = tx.touch(active_row(tx, a_id))
            b = tx.touch(active_row(tx, b_id))
            a.start, a.end = min(a.start, b.start), max(a.end, b.end)
            a.source = "manual" if a.source == b.source == "manual" else "corrected"
            b.status = "merged"
            a.updated_at = b.updated_at = utcnow()
            absorb_overlaps(tx, a)
            return a.id

        return self._edit(video_id, "merge", op, user)

    def accept(self, seg_id: int, user: str | None = None) -> int:
        """Accept a proposal: a predicted segment becomes ``corrected`` (score and method kept),
        absorbing overlapping same-label manual/corrected segments. Returns the segment id."""

        def op(tx: EditTx) -> int:
            row = tx.touch(active_row(tx, seg_id))
            if row.source != "predicted":
                raise EditError(f"segment {seg_id} is {row.source}, only predicted segments can be accepted")
            row.source = "corrected"
            row.updated_at = utcnow()
            absorb_overlaps(tx, row)
            return row.id

        return self._edit(self._video_of(seg_id), "accept", op, user)

    def reject(self, seg_id: int, user: str | None = None) -> None:
        """Reject a proposal: the predicted segment is hidden (status ``rejected``)."""

        def op(tx: EditTx) -> None:
            row = tx.touch(active_row(tx, seg_id))
            if row.source != "predicted":
                raise EditError(
                    f"segment {seg_id} is {row.source}; only predicted segments can be rejected "
                    "(delete it instead)"
                )
            row.status = "rejected"
            row.updated_at = utcnow()

        self._edit(self._video_of(seg_id), "reject", op, user)

    def review_many(
        self,
        video_id: int,
        accept: Sequence[int] = (),
        reject: Sequence[int] = (),
        user: str | None = None,
    ) -> tuple[list[int], list[int]]:
        """Accept and reject many proposals of one video as ONE edit (one undo step), all or
        nothing: every id must be an active predicted segment of the video. Accepting follows
        :meth:`accept` (absorbing overlapping same-label owned segments). Returns the accepted
        ids still active afterwards and the rejected ids."""
        accept, reject = [int(i) for i in accept], [int(i) for i in reject]
        if set(accept) & set(reject):
            raise EditError("a proposal cannot be accepted and rejected at once")

        def op(tx: EditTx) -> tuple[list[int], list[int]]:
            rows = []
            for sid in [*accept, *reject]:
                row = tx.touch(active_row(tx, sid))
                if row.video_id != tx.video.id:
                    raise EditError(f"segment {sid} is not on video {tx.video.id}")
                if row.source != "predicted":
                    raise EditError(f"segment {sid} is {row.source}, not a proposal")
                rows.append(row)
            now = utcnow()
            for row in rows[len(accept) :]:
                row.status, row.updated_at = "rejected", now
            for row in rows[: len(accept)]:
                if row.status == "active":  # not absorbed by an earlier one of this batch
                    row.source, row.updated_at = "corrected", now
                    absorb_overlaps(tx, row)
            return [sid for sid in accept if tx.rows[sid].status == "active"], reject

        return self._edit(video_id, "review_many", op, user)

    def delete_segments(
        self, video_id: int, seg_ids: Sequence[int], op_name: str = "delete_many", user: str | None = None
    ) -> list[int]:
        """Delete many active segments of one video as one edit (``op_name`` names it in the
        history, e.g. ``delete_label``). Returns the ids deleted."""
        ids = [int(i) for i in seg_ids]

        def op(tx: EditTx) -> list[int]:
            now = utcnow()
            for sid in ids:
                row = tx.touch(active_row(tx, sid))
                if row.video_id != tx.video.id:
                    raise EditError(f"segment {sid} is not on video {tx.video.id}")
                row.status, row.updated_at = "deleted", now
            return ids

        return self._edit(video_id, op_name, op, user)

    def restore_segments(
        self, video_id: int, seg_ids: Sequence[int], op_name: str = "restore_many", user: str | None = None
    ) -> list[int]:
        """Bring deleted segments of one video back (status ``active``) as one edit; ids that are
        not deleted any more are left alone. Returns the ids restored."""
        ids = [int(i) for i in seg_ids]

        def op(tx: EditTx) -> list[int]:
            rows = tx.session.scalars(
                select(SegmentRow).where(
                    SegmentRow.id.in_(ids), SegmentRow.video_id == tx.video.id, SegmentRow.status == "deleted"
                )
            ).all()
            now = utcnow()
            for row in rows:
                tx.touch(row)
                row.status, row.updated_at = "active", now
            return sorted(r.id for r in rows)

        return self._edit(video_id, op_name, op, user)

    def replace_predictions(
        self, video_id: int, segments: Sequence[Segment], method: str, user: str | None = None
    ) -> list[int]:
        """Replace the video's active predicted segments (of any method) by ``segments``
        (source ``predicted``, their scores, ``method``); manual and corrected rows are never
        touched, rejected proposals stay rejected. Times are clamped to the video and snapped;
        segments shorter than a frame after snapping are dropped. Returns the new ids."""
        segments = list(segments)

        def op(tx: EditTx) -> list[int]:
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
                    start_s, end_s = clean_times(tx.base, seg.start, seg.end, strict=False)
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
            lock_video(s, video_id)
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
                if row is None or not same_snapshot(snapshot(row), expect[str(sid)]):
                    raise EditError(
                        f"cannot {'undo' if undo else 'redo'} edit {edit.id} ({edit.op}): segment {sid} "
                        "was changed outside the edit log"
                    )
            for sid in ids:
                restore(rows[sid], target[str(sid)])
            edit.state = "undone" if undo else "applied"
            edit.state_changed_at = utcnow()
            s.flush()
            return edit_info(edit)

    # -- machinery -----------------------------------------------------------------------------

    def _video_of(self, seg_id: int) -> int:
        with self.store.read() as s:
            vid = s.scalar(select(SegmentRow.video_id).where(SegmentRow.id == seg_id))
        if vid is None:
            raise NotFoundError(f"no segment with id {seg_id}")
        return int(vid)

    def _edit(self, video_id: int, op_name: str, op: Callable[[EditTx], _R], user: str | None) -> _R:
        times = self.store.frame_times(video_id)
        for attempt in range(2):
            try:
                with self.store.write() as s:
                    video = lock_video(s, video_id)
                    base = TimeBase(duration=video.duration, fps=video.fps, frame_times=times)
                    tx = EditTx(session=s, video=video, base=base)
                    result = op(tx)
                    s.flush()
                    after = {str(rid): snapshot(row) for rid, row in tx.rows.items()}
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
