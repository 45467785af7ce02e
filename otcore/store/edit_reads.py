"""The read side of the edit log: a video's active segments, the edit history, whether undo
or redo is possible. :class:`~otcore.store.edits.EditLog` adds the edits."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select

from otcore.store.api import Store
from otcore.store.edit_rules import edit_info
from otcore.store.models import Edit, Label, SegmentRow
from otcore.store.records import EditInfo, SegmentInfo, segment_info

__all__ = ["EditReads"]


class EditReads:
    """Reads over one store's segments and edit log: ``EditReads(store, user="local")``."""

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
            return [edit_info(e) for e in s.scalars(q)]

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
