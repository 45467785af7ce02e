"""The one resolver between paths kept in the store (relative to the data dir) and files.

Everything the app writes under the data dir (videos, frame times, features, models, job
results) is recorded relative to it, in POSIX form, so a data dir can move. Absolute paths
(e.g. features of a file outside the data dir) are kept as they are.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["data_path", "data_relative"]


def data_path(data_dir: str | os.PathLike[str] | None, stored: str | os.PathLike[str]) -> Path:
    """The file a stored path names: ``stored`` itself when absolute (or without a data dir),
    else ``data_dir / stored``."""
    p = Path(stored)
    if p.is_absolute() or data_dir is None:
        return p
    return Path(data_dir) / p


def data_relative(data_dir: str | os.PathLike[str] | None, path: str | os.PathLike[str]) -> str:
    """``path`` as the store keeps it: relative to ``data_dir`` in POSIX form; unchanged when
    there is no data dir or it lies on another drive."""
    if data_dir is None:
        return str(path)
    try:
        return Path(os.path.relpath(Path(path).resolve(), Path(data_dir).resolve())).as_posix()
    except ValueError:  # another drive on Windows
        return str(path)
