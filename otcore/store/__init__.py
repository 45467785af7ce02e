"""The otstudio store: SQLAlchemy models, migrations, repository API and the edit log.

``Store(url)`` / ``Store.from_settings(settings)`` opens (and migrates) the database;
``EditLog(store)`` is the only way segments change (undo/redo persisted per video).
"""

from otcore.store.api import (
    LABEL_PALETTE,
    ArtifactInfo,
    DuplicateError,
    EditInfo,
    JobInfo,
    LabelInfo,
    NotFoundError,
    ProjectInfo,
    SegmentInfo,
    Store,
    StoreError,
    VideoFeatureInfo,
    VideoInfo,
)
from otcore.store.edits import EditError, EditLog

__all__ = [
    "Store",
    "EditLog",
    "StoreError",
    "DuplicateError",
    "NotFoundError",
    "EditError",
    "ProjectInfo",
    "VideoInfo",
    "LabelInfo",
    "SegmentInfo",
    "EditInfo",
    "JobInfo",
    "ArtifactInfo",
    "VideoFeatureInfo",
    "LABEL_PALETTE",
]
