"""``otstudio import`` / ``otstudio export``: annotation files <-> a project in the store.

``otstudio import FILE --project NAME [--format auto|activitynet|thumos|csv|frames|labelstudio|eaf|vtt]
[--data-dir D]`` reads FILE (a file or folder), creates the project if missing and, for each
video the file names that the project lacks, a placeholder video row (status ``absent``,
no media path, duration/fps as the file gives them), then adds the segments through the edit
log as one undoable edit per video; a report of everything skipped, with reasons, is printed.
Segments already in the project (same label, same times to half a frame) are not added twice,
so importing a file again changes nothing.

``otstudio export --project NAME --format FMT --out PATH`` writes the project's active
segments (all sources unless ``--sources``) with each video's real duration and fps.
"""

from __future__ import annotations

import argparse
import hashlib
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from otcore.formats.io import FORMATS, read, write
from otcore.formats.model import (
    SOURCES,
    AnnotationSet,
    FormatError,
    FpsRequiredError,
    ImportReport,
    SkippedItem,
    VideoAnnotations,
    VideoMeta,
)
from otcore.types import Segment

__all__ = [
    "import_main",
    "export_main",
    "import_into_store",
    "export_from_store",
    "placeholder_sha256",
    "ALREADY_PRESENT",
    "REJECTED_BY_STORE",
    "ABSENT_STATUS",
]

#: Skip reasons added by the store-aware import.
ALREADY_PRESENT = "already in project"
REJECTED_BY_STORE = "rejected by the store"
#: Status of a video row created from an annotation file when the media itself is absent.
ABSENT_STATUS = "absent"


def placeholder_sha256(name: str) -> str:
    """Stand-in content hash of a video known only by name (unique per name within a project)."""
    return hashlib.sha256(f"otstudio-absent-video:{name}".encode()).hexdigest()


def _open_store(data_dir: str | None) -> Any:
    from otcore.settings import load_settings
    from otcore.store import Store

    settings = load_settings(data_dir)
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    return Store.from_settings(settings)


def _known(store: Any, project_id: int) -> dict[str, Any]:
    return {v.filename: v for v in store.list_videos(project_id)}


def _read_opts(args: argparse.Namespace) -> dict[str, Any]:
    opts: dict[str, Any] = {}
    if getattr(args, "background", None) is not None:
        opts["background"] = args.background
    return opts


def import_into_store(
    store: Any,
    path: str | Path,
    project: str,
    fmt: str = "auto",
    *,
    fps: float | None = None,
    create_videos: bool = True,
    strict_labels: bool = False,
    source: str | None = None,
    on_outside: str = "skip",
    user: str = "import",
    **opts: Any,
) -> ImportReport:
    """Import an annotation file into ``project`` (created if missing); returns the report.

    Videos are matched by file name (``v_x`` in the file matches a stored ``v_x.mp4`` and vice
    versa). Unmatched videos get a placeholder row when ``create_videos`` (else they are skipped
    as unknown). ``strict_labels`` skips labels the project does not have yet (otherwise they are
    created). ``source`` (``manual``/``predicted``/``corrected``) sets the source of every
    imported segment; when ``None`` a segment keeps the file's source (CSV, Label Studio
    predictions), else ``manual``. Scores are kept.
    """
    from otcore.store import EditError, EditLog

    if source is not None and source not in SOURCES:
        raise ValueError(f"source must be one of {SOURCES}, got {source!r}")
    proj = store.ensure_project(project)
    videos = _known(store, proj.id)
    known = {name: VideoMeta(v.duration, v.fps) for name, v in videos.items()}
    if create_videos:
        try:
            discovered, _ = read(path, fmt, known_videos=None, fps=fps, on_outside="keep", **opts)
        except FpsRequiredError:
            discovered, _ = read(path, fmt, known_videos=known, fps=fps, on_outside="keep", **opts)
        from otcore.formats.base import match_video

        for name, va in discovered.items():
            if match_video(name, known) is not None:
                continue
            n_frames = int(round(va.duration * va.fps)) if va.duration and va.fps else None
            info = store.add_video(
                proj.id,
                filename=name,
                path="",
                sha256=placeholder_sha256(name),
                duration=va.duration,
                fps=va.fps,
                n_frames=n_frames,
                width=None,
                height=None,
                status=ABSENT_STATUS,
            )
            videos[name] = info
            known[name] = VideoMeta(info.duration, info.fps)
    labels = {lb.name for lb in store.list_labels(proj.id)} if strict_labels else None
    ann, report = read(
        path, fmt, known_videos=known, known_labels=labels, fps=fps, on_outside=on_outside, **opts
    )
    log = EditLog(store, user=user)
    imported = 0
    for name, va in ann.items():
        video = videos[name]
        half = (0.5 / video.fps if video.fps else 5e-4) + 1e-6
        existing = log.segments(video.id)
        by_source: dict[str, list[Segment]] = {}
        for i, seg in enumerate(va.segments):
            dup = any(
                e.label == seg.label and abs(e.start - seg.start) <= half and abs(e.end - seg.end) <= half
                for e in existing
            )
            if dup:
                report.skipped.append(
                    SkippedItem(ALREADY_PRESENT, video=name, label=seg.label, start=seg.start, end=seg.end)
                )
                continue
            src = source or va.source_of(i)
            by_source.setdefault(src if src in SOURCES else "manual", []).append(seg)
        for src, segs in by_source.items():
            try:
                ids = log.add_segments(video.id, segs, source=src, merge_overlaps=False, method="import")
                imported += len(ids)
            except EditError:
                for seg in segs:  # find the offending segments, keep the others
                    try:
                        log.add_segments(video.id, [seg], source=src, merge_overlaps=False, method="import")
                        imported += 1
                    except EditError as exc:
                        report.skipped.append(
                            SkippedItem(
                                REJECTED_BY_STORE,
                                video=name,
                                label=seg.label,
                                start=seg.start,
                                end=seg.end,
                                detail=str(exc),
                            )
                        )
    report.imported = imported
    return report


def export_from_store(
    store: Any,
    project: str,
    out: str | Path,
    fmt: str,
    *,
    sources: Sequence[str] | None = None,
    fps: float | None = None,
    **opts: Any,
) -> list[Path]:
    """Write the active segments of ``project`` to ``out`` in ``fmt``; returns the files written."""
    from otcore.store import EditLog

    proj = store.get_project(project)
    if proj is None:
        raise FormatError(f"no project named {project!r}")
    log = EditLog(store)
    ann: AnnotationSet = {}
    for v in store.list_videos(proj.id):
        segs = log.segments(v.id, sources=list(sources) if sources else None)
        ann[v.filename] = VideoAnnotations(
            duration=v.duration,
            fps=v.fps,
            segments=[Segment(s.label, s.start, s.end, s.score) for s in segs],
            sources=[s.source for s in segs],
        )
    return write(ann, out, fmt, fps=fps, **opts)


def _import_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="otstudio import", description="Import annotations into a project.")
    p.add_argument("file", help="annotation file or folder")
    p.add_argument("--project", required=True, help="project name (created if missing)")
    p.add_argument("--format", default="auto", choices=["auto", *FORMATS], help="file format (default: auto)")
    p.add_argument(
        "--data-dir", default=None, help="otstudio data dir (default: OTSTUDIO_DATA_DIR or ~/.otstudio)"
    )
    p.add_argument(
        "--fps", type=float, default=None, help="frame rate of frame-based files (frames, labelstudio)"
    )
    p.add_argument(
        "--background", default=None, help="background label of per-frame files (default: background)"
    )
    p.add_argument(
        "--source",
        default=None,
        choices=list(SOURCES),
        help="source of all imported segments (default: the file's, else manual)",
    )
    p.add_argument(
        "--on-outside", default="skip", choices=["skip", "clip", "keep"], help="segments beyond the video"
    )
    p.add_argument("--no-create-videos", action="store_true", help="skip videos the project does not have")
    p.add_argument("--strict-labels", action="store_true", help="skip labels the project does not have")
    return p


def import_main(argv: list[str]) -> int:
    """``otstudio import FILE --project NAME [--format ...] [--data-dir D]``; prints the report."""
    args = _import_parser().parse_args(argv)
    store = _open_store(args.data_dir)
    try:
        report = import_into_store(
            store,
            args.file,
            args.project,
            args.format,
            fps=args.fps,
            create_videos=not args.no_create_videos,
            strict_labels=args.strict_labels,
            source=args.source,
            on_outside=args.on_outside,
            **_read_opts(args),
        )
    except FormatError as exc:
        print(f"otstudio import: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    print(report.summary())
    return 0


def _export_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="otstudio export", description="Export a project's annotations.")
    p.add_argument("--project", required=True)
    p.add_argument("--format", required=True, choices=list(FORMATS))
    p.add_argument("--out", required=True, help="output file (activitynet, csv, labelstudio) or folder")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--sources", default=None, help="comma-separated sources to export (default: all)")
    p.add_argument(
        "--fps", type=float, default=None, help="frame rate for frames/labelstudio (default: video fps)"
    )
    p.add_argument("--background", default=None, help="background label of per-frame files")
    return p


def export_main(argv: list[str]) -> int:
    """``otstudio export --project NAME --format FMT --out PATH``; prints the files written."""
    args = _export_parser().parse_args(argv)
    sources = [s.strip() for s in args.sources.split(",") if s.strip()] if args.sources else None
    if sources and any(s not in SOURCES for s in sources):
        print(f"otstudio export: --sources must be among {', '.join(SOURCES)}", file=sys.stderr)
        return 2
    opts = {"background": args.background} if args.background is not None and args.format == "frames" else {}
    store = _open_store(args.data_dir)
    try:
        paths = export_from_store(
            store, args.project, args.out, args.format, sources=sources, fps=args.fps, **opts
        )
    except FormatError as exc:
        print(f"otstudio export: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    n = len(paths)
    print(f"wrote {n} file{'s' if n != 1 else ''}" + (f": {paths[0]}" if n == 1 else f" under {args.out}"))
    return 0
