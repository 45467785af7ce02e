"""Export/import glue for the Review & Export page (no streamlit: testable on its own).

Export writes through :func:`otcore.transfer.export_from_store` into a temporary folder
and hands back one downloadable file (the file itself, or a ``.zip`` when the format writes
several files: THUMOS per class, per-frame files per video, ...); every name in it comes from
the one sanitiser (:func:`otcore.formats.names.safe_name`). Import saves an upload (a file, or
a ``.zip`` of a folder, extracted within caps) to a temporary folder and runs
:func:`otcore.transfer.import_into_store`, returning its :class:`ImportReport`.
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from otcore.store import Store

__all__ = ["ExportBundle", "EXPORT_FORMATS", "export_bundle", "import_upload", "report_rows", "flag_rows"]

#: format -> (file name suffix for a single-file export, what it is)
EXPORT_FORMATS: dict[str, tuple[str, str]] = {
    "activitynet": (".json", "ActivityNet-style JSON, seconds"),
    "thumos": ("", "THUMOS-style per-class txt (video start end), seconds"),
    "csv": (".csv", "CSV: video, label, start, end, score, source (seconds)"),
    "frames": ("", "per-frame label files (Breakfast/50Salads style) at a chosen fps"),
    "labelstudio": (".json", "Label Studio JSON (TimelineLabels, frames at the real fps)"),
    "eaf": ("", "ELAN .eaf per video (milliseconds)"),
    "vtt": ("", "WebVTT per video"),
}


@dataclass(frozen=True)
class ExportBundle:
    """One downloadable export: ``data`` named ``filename`` (``mime``), made of ``files``."""

    filename: str
    data: bytes
    mime: str
    files: tuple[str, ...]


def _slug(name: str) -> str:
    from otcore.formats.names import safe_name

    return safe_name(name, fallback="project").replace(" ", "_")


def export_bundle(
    store: Store,
    project_id: int,
    fmt: str,
    *,
    sources: Sequence[str] | None = None,
    fps: float | None = None,
    **opts: Any,
) -> ExportBundle:
    """Export the project's active segments (only ``sources`` if given) in ``fmt``."""
    from otcore.formats.names import safe_name
    from otcore.transfer import export_from_store

    project = store.get_project(project_id)
    if project is None:
        raise LookupError(f"no project with id {project_id}")
    suffix = EXPORT_FORMATS.get(fmt, ("", ""))[0]
    base = f"{_slug(project.name)}_{fmt}"
    with tempfile.TemporaryDirectory(prefix="otstudio-export-") as tmp:
        out = Path(tmp) / (base + suffix if suffix else base)
        written = [
            Path(p)
            for p in export_from_store(store, project.name, out, fmt, sources=sources, fps=fps, **opts)
        ]
        files = [p for p in written if p.is_file()]
        if len(files) == 1 and suffix:
            f = files[0]
            mime = (
                "application/json"
                if f.suffix == ".json"
                else "text/csv"
                if f.suffix == ".csv"
                else "text/plain"
            )
            return ExportBundle(f.name, f.read_bytes(), mime, (f.name,))
        buf = io.BytesIO()
        root = out if out.is_dir() else Path(tmp)
        names = []
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            for f in sorted(files):
                rel = f.relative_to(root).parts if f.is_relative_to(root) else (f.name,)
                arc = "/".join(safe_name(part) for part in rel)
                zf.write(f, f"{base}/{arc}")
                names.append(f"{base}/{arc}")
        return ExportBundle(f"{base}.zip", buf.getvalue(), "application/zip", tuple(names))


def import_upload(
    store: Store,
    project_id: int,
    filename: str,
    data: bytes,
    *,
    fmt: str = "auto",
    fps: float | None = None,
    create_videos: bool = False,
    strict_labels: bool = True,
    source: str = "manual",
    on_outside: str = "keep",
    progress: Any = None,
) -> Any:
    """Import an uploaded annotation file (or a ``.zip`` of a folder, extracted within the caps
    of :class:`otcore.formats.safezip.ZipLimits`) into the project; returns the
    :class:`otcore.formats.ImportReport` (imported count, every skipped item with its reason:
    unknown video, label not in project, ..., and every flagged one: times past the video,
    overlaps, duplicates). A bad file raises :class:`otcore.formats.FormatError` with a message
    and stores nothing."""
    from otcore.formats.names import safe_name
    from otcore.transfer import import_into_store

    project = store.get_project(project_id)
    if project is None:
        raise LookupError(f"no project with id {project_id}")
    safe = safe_name(filename, fallback="upload")
    with tempfile.TemporaryDirectory(prefix="otstudio-import-") as tmp:
        target = Path(tmp) / safe
        target.write_bytes(data)
        return import_into_store(
            store,
            target,
            project.name,
            fmt,
            fps=fps,
            create_videos=create_videos,
            strict_labels=strict_labels,
            source=source,
            on_outside=on_outside,
            user="import",
            progress=progress,
        )


def flag_rows(report: Any) -> list[dict[str, Any]]:
    """The kept-but-flagged items of an import report (overlaps, duplicates, past the video)."""
    return report_rows(report, flagged=True)


def report_rows(report: Any, flagged: bool = False) -> list[dict[str, Any]]:
    """The skipped items (or, with ``flagged``, the flagged ones) of an import report as table rows."""
    items = report.flagged if flagged else report.skipped
    return [
        {
            "reason": s.reason,
            "video": s.video,
            "label": s.label,
            "start": s.start,
            "end": s.end,
            "where": s.where,
            "detail": s.detail,
        }
        for s in items
    ]
