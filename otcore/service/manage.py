"""Managing projects, labels and videos from the app: rename, delete (saying what goes), undo.

* Projects: :func:`project_summary` counts what a deletion removes; :func:`delete_project`
  deletes the project with its videos, labels, segments and edit log from the store (files stay).
* Labels: :func:`otcore.store.management.delete_label` / ``restore_label`` (re-exported here);
  :func:`set_label_description` says what a label means (the text towers encode it instead of the
  name when it has one).
* Videos: :func:`delete_video` deletes the video's active segments as one edit-log entry
  (``delete_video``), moves its files (the video file, frame times and features no other live
  video uses) into ``<data dir>/trash/video-<id>/`` and hides the video; :func:`restore_video`
  undoes all of it while the trashed files still exist.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path

from otcore.store import EditLog, LabelInfo, NotFoundError, Store, StoreError
from otcore.store.management import LabelRemoval, LabelUsage, delete_label, label_usage, restore_label

__all__ = [
    "ProjectSummary",
    "VideoRemoval",
    "project_summary",
    "delete_project",
    "rename_project",
    "delete_video",
    "restore_video",
    "LabelRemoval",
    "LabelUsage",
    "label_usage",
    "delete_label",
    "restore_label",
    "set_label_description",
]


def set_label_description(store: Store, label_id: int, description: str | None) -> LabelInfo:
    """Set (or, with "" or None, clear) what a label means; :class:`StoreError` with the reason for
    text the store refuses (over 2000 characters, control characters), nothing changed then."""
    return store.set_label_description(label_id, description)


@dataclass(frozen=True)
class ProjectSummary:
    """What a project holds (what deleting it removes)."""

    project_id: int
    name: str
    n_videos: int
    n_labels: int
    n_segments: int


@dataclass(frozen=True)
class VideoRemoval:
    """A video deletion: the segments deleted, the files moved to the trash (data-dir paths)."""

    video_id: int
    filename: str
    segment_ids: tuple[int, ...]
    moved: tuple[str, ...]
    trash: str

    @property
    def n_segments(self) -> int:
        """How many segments the deletion removed."""
        return len(self.segment_ids)


def project_summary(store: Store, project_id: int) -> ProjectSummary:
    """Counts of the project's videos, labels and active segments."""
    project = store.get_project(project_id)
    if project is None:
        raise NotFoundError(f"no project with id {project_id}")
    return ProjectSummary(
        project.id,
        project.name,
        len(store.list_videos(project_id)),
        len(store.list_labels(project_id)),
        len(store.project_segments(project_id)),
    )


def rename_project(store: Store, project_id: int, name: str) -> str:
    """Rename a project; returns the new name (a taken or empty name raises a StoreError)."""
    return store.rename_project(project_id, name).name


def delete_project(store: Store, project_id: int) -> ProjectSummary:
    """Delete a project and everything stored about it (its files stay in the data dir);
    returns what was deleted."""
    summary = project_summary(store, project_id)
    store.delete_project(project_id)
    return summary


def _data_dir(store: Store) -> Path:
    if store.data_dir is None:
        raise StoreError("the store has no data dir: cannot move a video's files")
    return store.data_dir


def _owned_files(store: Store, video_id: int) -> list[str]:
    """The data-dir paths of the video's files that no other live video refers to."""
    video = store.get_video(video_id)
    if video is None:
        raise NotFoundError(f"no video with id {video_id}")
    others = [v for p in store.list_projects() for v in store.list_videos(p.id) if v.id != video_id]
    used: set[str] = {v.path for v in others} | {v.frame_times_path for v in others if v.frame_times_path}
    for v in others:
        used |= {f.artifact.path for f in store.list_video_features(v.id)}
    mine = [
        video.path,
        video.frame_times_path,
        *(f.artifact.path for f in store.list_video_features(video_id)),
    ]
    out: list[str] = []
    for rel in mine:
        if rel and rel not in used and rel not in out and not Path(rel).is_absolute():
            out.append(rel)
    return out


def delete_video(store: Store, video_id: int, user: str | None = None) -> VideoRemoval:
    """Delete a video from its project: its active segments (one ``delete_video`` edit), its
    files (moved to the data dir's trash) and the video itself (hidden). Undo: :func:`restore_video`."""
    video = store.get_video(video_id)
    if video is None or store.is_video_deleted(video_id):
        raise NotFoundError(f"no video with id {video_id}")
    _data_dir(store)  # a store without a data dir has no files to move
    log = EditLog(store)
    ids = [s.id for s in log.segments(video_id)]
    deleted = log.delete_segments(video_id, ids, op_name="delete_video", user=user) if ids else []
    trash = f"trash/video-{video_id}"  # a folder of the storage (the data dir by default)
    moved = [rel for rel in _owned_files(store, video_id) if store.storage.move(rel, f"{trash}/{rel}")]
    removal = VideoRemoval(video_id, video.filename, tuple(deleted), tuple(moved), trash)
    record = {"video_id": video_id, "segment_ids": list(deleted), "moved": moved}
    store.storage.write_bytes(f"{trash}/removal.json", json.dumps(record).encode())
    store.set_video_deleted(video_id, True)
    return removal


def restore_video(store: Store, removal: VideoRemoval, user: str | None = None) -> int:
    """Undo :func:`delete_video`: move the files back, show the video again and restore its
    segments (one ``restore_video`` edit). A clear StoreError when a trashed file is gone.
    Returns the number of segments restored."""
    root = _data_dir(store)
    storage = store.storage
    missing = [rel for rel in removal.moved if not storage.exists(f"{removal.trash}/{rel}")]
    if missing:
        raise StoreError(f"cannot restore video {removal.filename}: {missing[0]} is no longer in the trash")
    for rel in removal.moved:
        storage.move(f"{removal.trash}/{rel}", rel)
    store.set_video_deleted(removal.video_id, False)
    restored = (
        EditLog(store).restore_segments(
            removal.video_id, list(removal.segment_ids), op_name="restore_video", user=user
        )
        if removal.segment_ids
        else []
    )
    storage.delete(f"{removal.trash}/removal.json")
    if not storage.remote:
        shutil.rmtree(root / removal.trash, ignore_errors=True)
    return len(restored)
