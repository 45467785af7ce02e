"""The otstudio store: SQLAlchemy models, migrations, repository API and the edit log.

``Store(url)`` / ``Store.from_settings(settings)`` opens (and migrates) the database;
``EditLog(store)`` is the only way segments change (undo/redo persisted per video).

Modules: :mod:`~otcore.store.records` (frozen ``*Info`` records, errors), :mod:`~otcore.store.engine`
(engine, migrations), :mod:`~otcore.store.api` (``Store``: sessions, projects, videos), with its
halves :mod:`~otcore.store.labels` and :mod:`~otcore.store.artifacts`; :mod:`~otcore.store.jobrows`
(the job table, ``store.jobs``); :mod:`~otcore.store.edits` (``EditLog``) with
:mod:`~otcore.store.edit_reads` and :mod:`~otcore.store.edit_rules`; :mod:`~otcore.store.predictions`
(saved predictions); :mod:`~otcore.store.models` (ORM tables).
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
