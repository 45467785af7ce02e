"""Small helpers job kinds share: their settings, and paths stored relative to the data dir."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

__all__ = ["job_settings", "data_relative", "data_absolute"]


def job_settings(ctx: Any) -> Any:
    """The job context's settings, else the environment's."""
    from otcore.settings import load_settings

    return ctx.settings or load_settings()


def data_relative(settings: Any, path: str | os.PathLike[str]) -> str:
    """``path`` relative to the data dir (POSIX form), as the store keeps it; unchanged when it
    lies on another drive."""
    try:
        return Path(os.path.relpath(Path(path).resolve(), Path(settings.data_dir).resolve())).as_posix()
    except ValueError:
        return str(path)


def data_absolute(settings: Any, path: str | os.PathLike[str]) -> Path:
    """A stored (data-dir-relative or absolute) path as an absolute path."""
    p = Path(path)
    return p if p.is_absolute() else Path(settings.data_dir) / p
