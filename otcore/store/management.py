"""Deleting labels with what they hold, undoably.

:func:`delete_label` hides a label and deletes its active segments through the edit log, one
edit (``delete_label``) per video holding some, so each video's Undo brings them back too;
:func:`restore_label` undoes the whole deletion at once (the label comes back with every segment
that is still deleted). :func:`label_usage` says beforehand what a deletion would remove.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import func, select

from otcore.store.edits import EditLog
from otcore.store.models import Label, SegmentRow
from otcore.store.records import LabelInfo, NotFoundError

if TYPE_CHECKING:
    from otcore.store.api import Store

__all__ = ["LabelRemoval", "LabelUsage", "label_usage", "delete_label", "restore_label"]


@dataclass(frozen=True)
class LabelUsage:
    """What a label holds: active segments by source and the number of videos they are on."""

    label: LabelInfo
    n_segments: int
    n_videos: int
    by_source: tuple[tuple[str, int], ...]


@dataclass(frozen=True)
class LabelRemoval:
    """A label deletion, enough to undo it: the label and the segment ids deleted per video."""

    label: LabelInfo
    segments: tuple[tuple[int, tuple[int, ...]], ...]  # (video_id, segment ids)

    @property
    def n_segments(self) -> int:
        """How many segments the deletion removed."""
        return sum(len(ids) for _, ids in self.segments)


def _active(store: Store, label_id: int) -> dict[int, list[tuple[int, str]]]:
    with store.read() as s:
        if s.get(Label, label_id) is None:
            raise NotFoundError(f"no label with id {label_id}")
        rows = s.execute(
            select(SegmentRow.video_id, SegmentRow.id, SegmentRow.source)
            .where(SegmentRow.label_id == label_id, SegmentRow.status == "active")
            .order_by(SegmentRow.video_id, SegmentRow.id)
        ).all()
    out: dict[int, list[tuple[int, str]]] = {}
    for vid, sid, src in rows:
        out.setdefault(int(vid), []).append((int(sid), str(src)))
    return out


def label_usage(store: Store, label_id: int) -> LabelUsage:
    """The active segments of a label (what :func:`delete_label` would delete)."""
    found = store.get_label(label_id)
    if found is None:
        raise NotFoundError(f"no label with id {label_id}")
    per_video = _active(store, label_id)
    counts: dict[str, int] = {}
    for items in per_video.values():
        for _, src in items:
            counts[src] = counts.get(src, 0) + 1
    return LabelUsage(
        found, sum(counts.values()), len(per_video), tuple(sorted(counts.items(), key=lambda kv: kv[0]))
    )


def delete_label(store: Store, label_id: int, user: str | None = None) -> LabelRemoval:
    """Delete a label: its active segments are deleted through the edit log (one edit per video)
    and the label is hidden from the project. Returns what :func:`restore_label` needs."""
    per_video = _active(store, label_id)
    log = EditLog(store)
    done = []
    for vid, items in per_video.items():
        ids = log.delete_segments(vid, [sid for sid, _ in items], op_name="delete_label", user=user)
        done.append((vid, tuple(ids)))
    label = store.set_label_deleted(label_id, True)
    return LabelRemoval(label, tuple(done))


def restore_label(store: Store, removal: LabelRemoval, user: str | None = None) -> LabelInfo:
    """Undo :func:`delete_label`: the label comes back, and every segment it deleted that is
    still deleted is restored (one ``restore_label`` edit per video)."""
    label = store.set_label_deleted(removal.label.id, False)
    log = EditLog(store)
    for vid, ids in removal.segments:
        if ids:
            log.restore_segments(vid, list(ids), op_name="restore_label", user=user)
    return label


def count_label_segments(store: Store, label_id: int) -> int:
    """The number of active segments of a label."""
    with store.read() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(SegmentRow)
                .where(SegmentRow.label_id == label_id, SegmentRow.status == "active")
            )
            or 0
        )
