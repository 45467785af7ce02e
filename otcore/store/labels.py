"""The label half of the repository: a project's labels (colours from :data:`LABEL_PALETTE`,
optional descriptions checked by :func:`check_description`) and read-only views of its segments
(segments change through :class:`~otcore.store.EditLog`). Mixed into :class:`~otcore.store.Store`."""

from __future__ import annotations

import unicodedata
from collections.abc import Mapping

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from otcore.store.engine import SessionOwner
from otcore.store.models import Label, Project, SegmentRow, Video, utcnow
from otcore.store.records import (
    LABEL_PALETTE,
    DuplicateError,
    LabelInfo,
    NotFoundError,
    SegmentInfo,
    StoreError,
    label_info,
    segment_info,
)

__all__ = ["LabelRows", "MAX_DESCRIPTION", "check_description"]

#: Longest label description, in characters (a few sentences; the text towers read ~40 words).
MAX_DESCRIPTION = 2000


def check_description(text: object) -> str:
    """The description to store for ``text``: surrounding whitespace stripped, line ends made
    ``\\n`` ("" means none). :class:`StoreError` with the reason for anything else than text of at
    most :data:`MAX_DESCRIPTION` characters without control or unassigned characters (tab and line
    breaks are fine)."""
    if text is None:
        return ""
    if not isinstance(text, str):
        raise StoreError(f"a label description must be text, got {type(text).__name__}")
    text = text.replace("\r\n", "\n").replace("\r", "\n").strip()
    if len(text) > MAX_DESCRIPTION:
        raise StoreError(f"the description is {len(text)} characters long (at most {MAX_DESCRIPTION})")
    for ch in text:
        if ch in "\n\t":
            continue
        if unicodedata.category(ch) in ("Cc", "Cs", "Cn") or ch in "\u2028\u2029":
            raise StoreError(f"the description holds the unprintable character U+{ord(ch):04X}")
    return text


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
            if row.deleted_at is not None:  # named again: the deleted label comes back
                row.deleted_at = None
            return row
        if s.get(Project, project_id) is None:
            raise NotFoundError(f"no project with id {project_id}")
        if color is None:
            color = self._free_color(s, project_id)
        top = s.scalar(
            select(func.max(func.coalesce(Label.position, Label.id))).where(Label.project_id == project_id)
        )
        row = Label(project_id=project_id, name=name, color=color, position=(top or 0) + 1)
        s.add(row)
        s.flush()
        return row

    @staticmethod
    def _free_color(s: Session, project_id: int) -> str:
        """The first colour of :data:`LABEL_PALETTE` no live label of the project uses (by
        creation order when all are taken)."""
        used = {
            c.upper()
            for c in s.scalars(
                select(Label.color).where(Label.project_id == project_id, Label.deleted_at.is_(None))
            )
        }
        for c in LABEL_PALETTE:
            if c.upper() not in used:
                return c
        n = len(s.scalars(select(Label.id).where(Label.project_id == project_id)).all())
        return LABEL_PALETTE[n % len(LABEL_PALETTE)]

    def next_label_color(self, project_id: int) -> str:
        """The colour a new label of the project gets: the first palette colour not in use."""
        with self.read() as s:
            return self._free_color(s, project_id)

    def list_labels(self, project_id: int, *, include_deleted: bool = False) -> list[LabelInfo]:
        """The labels of a project in their display order (position, then creation); labels
        deleted in the app only with ``include_deleted``."""
        with self.read() as s:
            q = select(Label).where(Label.project_id == project_id)
            if not include_deleted:
                q = q.where(Label.deleted_at.is_(None))
            q = q.order_by(func.coalesce(Label.position, Label.id), Label.id)
            return [label_info(r) for r in s.scalars(q)]

    def rename_label(self, label_id: int, name: str) -> LabelInfo:
        """Rename a label (its segments follow: they refer to the label, not its name);
        :class:`DuplicateError` when another label of the project has that name."""
        name = name.strip()
        if not name:
            raise StoreError("label name must not be empty")
        with self.write() as s:
            row = s.get(Label, label_id)
            if row is None:
                raise NotFoundError(f"no label with id {label_id}")
            if name == row.name:
                return label_info(row)
            clash = s.scalar(select(Label).where(Label.project_id == row.project_id, Label.name == name))
            if clash is not None:
                raise DuplicateError(f"the project has a label named {name!r} already", label_info(clash))
            row.name = name
            s.flush()
            return label_info(row)

    def reorder_labels(self, project_id: int, label_ids: list[int]) -> list[LabelInfo]:
        """Put the project's labels in the order of ``label_ids`` (every live label exactly once)."""
        with self.write() as s:
            rows = {
                r.id: r
                for r in s.scalars(
                    select(Label).where(Label.project_id == project_id, Label.deleted_at.is_(None))
                )
            }
            if sorted(label_ids) != sorted(rows) or len(set(label_ids)) != len(label_ids):
                raise StoreError("the new order must name every label of the project exactly once")
            for i, lid in enumerate(label_ids):
                rows[lid].position = i + 1
            s.flush()
            return [label_info(rows[lid]) for lid in label_ids]

    def set_label_deleted(self, label_id: int, deleted: bool) -> LabelInfo:
        """Hide a label from the project (``deleted``) or bring it back; segments are changed
        through the edit log by :func:`otcore.store.management.delete_label`."""
        with self.write() as s:
            row = s.get(Label, label_id)
            if row is None:
                raise NotFoundError(f"no label with id {label_id}")
            row.deleted_at = utcnow() if deleted else None
            s.flush()
            return label_info(row)

    def get_label(self, label_id: int) -> LabelInfo | None:
        """The label with this id, or None."""
        with self.read() as s:
            row = s.get(Label, label_id)
            return None if row is None else label_info(row)

    def set_label_description(self, label_id: int, description: str | None) -> LabelInfo:
        """Set what a label means (checked by :func:`check_description`; "" or None clears it)."""
        text = check_description(description)
        with self.write() as s:
            row = s.get(Label, label_id)
            if row is None:
                raise NotFoundError(f"no label with id {label_id}")
            row.description = text or None
            s.flush()
            return label_info(row)

    def label_descriptions(self, project_id: int, *, include_deleted: bool = False) -> dict[str, str]:
        """Label name → description, for the project's labels that have one (deleted labels only
        with ``include_deleted``)."""
        with self.read() as s:
            q = select(Label.name, Label.description).where(
                Label.project_id == project_id, Label.description.is_not(None)
            )
            if not include_deleted:
                q = q.where(Label.deleted_at.is_(None))
            rows = s.execute(q)
            return {str(name): str(text) for name, text in rows if text}

    def set_label_descriptions(
        self, project_id: int, descriptions: Mapping[str, str | None]
    ) -> list[LabelInfo]:
        """Set the descriptions of several labels of the project by name, all or none (every text is
        checked, and every name must be a label of the project, before anything changes)."""
        texts = {name: check_description(text) for name, text in descriptions.items()}
        with self.write() as s:
            rows = {
                r.name: r
                for r in s.scalars(
                    select(Label).where(Label.project_id == project_id, Label.name.in_(list(texts)))
                )
            }
            missing = sorted(set(texts) - set(rows))
            if missing:
                raise NotFoundError(f"the project has no label named {missing[0]!r}")
            for name, text in texts.items():
                rows[name].description = text or None
            s.flush()
            return [label_info(rows[name]) for name in texts]

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
