"""The label half of the repository: a project's labels (colours from :data:`LABEL_PALETTE`)
and read-only views of its segments (segments change through :class:`~otcore.store.EditLog`).
Mixed into :class:`~otcore.store.Store`."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from otcore.store.engine import SessionOwner
from otcore.store.models import Label, Project, SegmentRow, Video
from otcore.store.records import (
    LABEL_PALETTE,
    LabelInfo,
    NotFoundError,
    SegmentInfo,
    StoreError,
    label_info,
    segment_info,
)

__all__ = ["LabelRows"]


class LabelRows(SessionOwner):
    """Label and segment-reading methods of the store (they need only its sessions)."""

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
                    return label_info(self.ensure_label_row(s, project_id, name, color))
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
            return [label_info(r) for r in rows]

    def get_label(self, label_id: int) -> LabelInfo | None:
        """The label with this id, or None."""
        with self.read() as s:
            row = s.get(Label, label_id)
            return None if row is None else label_info(row)

    def set_label_color(self, label_id: int, color: str) -> LabelInfo:
        """Change a label's colour."""
        with self.write() as s:
            row = s.get(Label, label_id)
            if row is None:
                raise NotFoundError(f"no label with id {label_id}")
            row.color = color
            s.flush()
            return label_info(row)

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
