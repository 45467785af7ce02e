"""The bridge between annotation files (:mod:`otcore.formats`) and the store, and the
``otstudio import`` / ``otstudio export`` commands.

``otstudio import FILE --project NAME [--format auto|activitynet|thumos|csv|frames|labelstudio|eaf|vtt]
[--fps F] [--encoding E] [--on-outside keep|clip|skip] [--skip-invalid] [--skip-duplicates]
[--data-dir D]`` reads FILE (a file, a folder, or a ``.zip`` of either, extracted within caps),
validates all of it, and only then writes, in one transaction (:mod:`otcore.store.bulk`): the
project if missing, the labels it lacks, a placeholder video (status ``absent``, no media,
duration/fps as the file gives them) for each video the project lacks, and the segments, with
one undoable ``import`` edit per video. Times are stored exactly as the file gives them (no
snapping, no merging); overlaps, duplicates and segments past a video's end are kept and
flagged in the report. A file with malformed rows is refused as a whole (nothing stored) unless
``--skip-invalid``. Segments already in the project (same video, label and times to the
microsecond) are not added twice, so importing a file again changes nothing. Label descriptions the
format carries (ELAN vocabulary entries, Label Studio hints) are checked like the app's and set on
the labels the import uses or the project has, in the same transaction.

``otstudio export --project NAME --format FMT --out PATH`` writes the project's active
segments (all sources unless ``--sources``) with each video's real duration, fps and decoded
frame times, with what the imported files carried (meta) and with the labels' descriptions where
the format has room for them, so an import followed by an export in the same format gives the
same content back.
"""

from __future__ import annotations

import argparse
import hashlib
import math
import sys
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from otcore.formats.base import check_label
from otcore.formats.io import FORMATS, read, write
from otcore.formats.model import (
    MALFORMED,
    SOURCES,
    AnnotationSet,
    FormatError,
    ImportRejected,
    ImportReport,
    SkippedItem,
    VideoAnnotations,
    VideoMeta,
    label_descriptions,
)
from otcore.formats.names import WrittenFiles
from otcore.formats.safezip import ZipLimits, extract_zip
from otcore.formats.text import check_encoding
from otcore.types import Segment

if TYPE_CHECKING:
    from otcore.store import Store

__all__ = [
    "import_main",
    "export_main",
    "import_into_store",
    "export_from_store",
    "placeholder_sha256",
    "ALREADY_PRESENT",
    "ABSENT_STATUS",
    "MAX_FPS_ARG",
]

#: Skip reason added by the store-aware import.
ALREADY_PRESENT = "already in project"
#: Status of a video row created from an annotation file when the media itself is absent.
ABSENT_STATUS = "absent"
MAX_FPS_ARG = 1000.0

Progress = Callable[[float, str], None]


def placeholder_sha256(name: str) -> str:
    """Stand-in content hash of a video known only by name (unique per name within a project)."""
    return hashlib.sha256(f"otstudio-absent-video:{name}".encode()).hexdigest()


def _known(store: Store, project_id: int | None) -> tuple[dict[str, Any], dict[str, VideoMeta]]:
    if project_id is None:
        return {}, {}
    videos = {v.filename: v for v in store.list_videos(project_id)}
    known = {
        name: VideoMeta(
            v.duration, v.fps, store.frame_times(v.id) if getattr(v, "frame_times_path", None) else None
        )
        for name, v in videos.items()
    }
    return videos, known


def _rejection(report: ImportReport, path: Path, max_items: int = 10) -> str:
    bad = report.invalid
    lines = [
        f"{path.name}: {len(bad)} invalid row(s), nothing was imported (fix the file, or pass --skip-invalid):"
    ]
    lines += [f"  - {item.describe()}" for item in bad[:max_items]]
    if len(bad) > max_items:
        lines.append(f"  ... and {len(bad) - max_items} more")
    return "\n".join(lines)


def _existing_keys(store: Store, project_id: int) -> set[tuple[int, str, float, float]]:
    return {
        (s.video_id, s.label, round(s.start, 6), round(s.end, 6)) for s in store.project_segments(project_id)
    }


def _checked_descriptions(ann: Any, report: ImportReport) -> dict[str, str]:
    """The label descriptions the file carries, each checked like one typed in the app; a bad one
    is a malformed row of the report (so the file is refused unless invalid rows are skipped)."""
    from otcore.store import StoreError
    from otcore.store.labels import check_description

    out: dict[str, str] = {}
    for name, text in label_descriptions(ann).items():
        try:
            checked = check_description(text)
        except StoreError as exc:
            report.skipped.append(
                SkippedItem(MALFORMED, label=name[:200], where="label description", detail=str(exc))
            )
            continue
        if checked:
            out[name] = checked
    return out


def import_into_store(
    store: Store,
    path: str | Path,
    project: str,
    fmt: str = "auto",
    *,
    fps: float | None = None,
    create_videos: bool = True,
    strict_labels: bool = False,
    source: str | None = None,
    on_outside: str = "keep",
    user: str = "import",
    encoding: str | None = None,
    skip_invalid: bool = False,
    skip_duplicates: bool = False,
    zip_limits: ZipLimits | None = None,
    progress: Progress | None = None,
    **opts: Any,
) -> ImportReport:
    """Import an annotation file, folder or zip into ``project`` (created if missing); returns the report.

    Videos are matched by file name (``v_x`` in the file matches a stored ``v_x.mp4`` and vice
    versa). Unmatched videos get a placeholder row when ``create_videos`` (else they are skipped
    as unknown); unsafe names (``../x.mp4``) are stored under a safe name. ``strict_labels``
    skips labels the project does not have yet (otherwise they are created). ``source`` sets
    the source of every imported segment; when ``None`` a segment keeps the file's source
    (CSV, Label Studio predictions), else ``manual``. Scores are kept. Raises
    :class:`~otcore.formats.model.FormatError` (nothing stored) for an unreadable file and
    :class:`~otcore.formats.model.ImportRejected` for one with invalid rows (unless
    ``skip_invalid``).
    """
    from otcore.store.bulk import ImportPlan, PlannedSegment, PlannedVideo, apply_import

    if source is not None and source not in SOURCES:
        raise FormatError(f"source must be one of {SOURCES}, got {source!r}")
    problem = check_label(project)
    if problem:
        raise FormatError(f"bad project name: {problem.replace('label', 'name')}")
    project = project.strip()
    check_encoding(encoding)
    src = Path(path)
    if not src.exists():
        raise FormatError(f"{src} does not exist")
    with tempfile.TemporaryDirectory(prefix="otstudio-import-") as tmp:
        if src.is_file() and src.suffix.lower() == ".zip":
            folder = extract_zip(src, Path(tmp) / "unzipped", zip_limits or ZipLimits())
            entries = [p for p in folder.iterdir() if not p.name.startswith(("__MACOSX", "."))]
            # a Label Studio export travels with its labeling config beside it
            files = [p for p in entries if not p.name.endswith(".label_config.xml")]
            src = files[0] if len(files) == 1 else folder
        proj = store.get_project(project)
        videos, known = _known(store, proj.id if proj is not None else None)
        labels = (
            {lb.name for lb in store.list_labels(proj.id)} if strict_labels and proj is not None else None
        )
        if strict_labels and labels is None:
            labels = set()
        ann, report = read(
            src,
            fmt,
            known_videos=known,
            known_labels=labels,
            fps=fps,
            on_outside=on_outside,  # type: ignore[arg-type]
            encoding=encoding,
            accept_unknown=create_videos,
            skip_duplicates=skip_duplicates,
            **opts,
        )
    descriptions = _checked_descriptions(ann, report)
    if report.invalid and not skip_invalid:
        raise ImportRejected(_rejection(report, Path(path)), report)
    existing = _existing_keys(store, proj.id) if proj is not None else set()
    planned_videos: list[PlannedVideo] = []
    video_meta: dict[int, dict[str, Any]] = {}
    segments: list[PlannedSegment] = []
    used_labels: dict[str, None] = {}
    for name, va in ann.items():
        stored = videos.get(name)
        if stored is None:
            planned_videos.append(
                PlannedVideo(
                    filename=name,
                    sha256=placeholder_sha256(name),
                    duration=va.duration,
                    fps=va.fps,
                    status=ABSENT_STATUS,
                    meta=va.meta or None,
                )
            )
            target: int | str = name
        else:
            target = stored.id
            if va.meta:
                video_meta[stored.id] = va.meta
        for i, seg in enumerate(va.segments):
            if (
                stored is not None
                and (stored.id, seg.label, round(seg.start, 6), round(seg.end, 6)) in existing
            ):
                report.skipped.append(
                    SkippedItem(ALREADY_PRESENT, video=name, label=seg.label, start=seg.start, end=seg.end)
                )
                continue
            src_i = source or va.source_of(i)
            used_labels[seg.label] = None
            segments.append(
                PlannedSegment(
                    video=target,
                    label=seg.label,
                    start=seg.start,
                    end=seg.end,
                    source=src_i if src_i in SOURCES else "manual",
                    score=seg.score,
                    meta=None if va.seg_meta is None else va.seg_meta[i],
                )
            )
    present = set(used_labels) | (
        {lb.name for lb in store.list_labels(proj.id, include_deleted=True)} if proj is not None else set()
    )
    plan = ImportPlan(
        project=project,
        project_meta=dict(ann.meta) if isinstance(ann, AnnotationSet) else {},
        labels=tuple(used_labels),
        videos=tuple(planned_videos),
        video_meta=video_meta,
        segments=tuple(segments),
        user=user,
        descriptions={name: text for name, text in descriptions.items() if name in present},
    )
    applied = apply_import(store, plan, progress=progress)
    report.imported = applied.segments_added
    report.videos_created = applied.videos_created
    return report


def export_from_store(
    store: Store,
    project: str,
    out: str | Path,
    fmt: str,
    *,
    sources: Sequence[str] | None = None,
    fps: float | None = None,
    **opts: Any,
) -> WrittenFiles:
    """Write the active segments of ``project`` to ``out`` in ``fmt``; returns the files written
    (``.renamed``: the file names the sanitiser changed)."""
    from sqlalchemy import select

    from otcore.store.models import Label, Project, SegmentRow, Video

    if fmt not in FORMATS:
        raise FormatError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    with store.read() as s:
        proj = s.scalar(select(Project).where(Project.name == project))
        if proj is None:
            raise FormatError(f"no project named {project!r}")
        vids = s.execute(
            select(Video.id, Video.filename, Video.duration, Video.fps, Video.frame_times_path, Video.meta)
            .where(Video.project_id == proj.id)
            .order_by(Video.id)
        ).all()
        q = (
            select(SegmentRow, Label.name)
            .join(Label, Label.id == SegmentRow.label_id)
            .join(Video, Video.id == SegmentRow.video_id)
            .where(Video.project_id == proj.id, SegmentRow.status == "active")
            .order_by(SegmentRow.video_id, SegmentRow.id)
        )
        if sources:
            q = q.where(SegmentRow.source.in_(list(sources)))
        by_video: dict[int, list[tuple[Any, str]]] = {}
        for row, label in s.execute(q):
            by_video.setdefault(row.video_id, []).append((row, label))
        ann = AnnotationSet(meta=dict(proj.meta or {}))
        project_id = int(proj.id)
    ann.descriptions = store.label_descriptions(project_id)
    for vid, filename, duration, vfps, ft_path, vmeta in vids:
        rows = by_video.get(vid, [])
        ann[filename] = VideoAnnotations(
            duration=duration,
            fps=vfps,
            segments=[Segment(label, r.start, r.end, r.score) for r, label in rows],
            sources=[r.source for r, _ in rows],
            meta=dict(vmeta or {}),
            seg_meta=[r.meta for r, _ in rows],
            frame_times=store.frame_times(vid) if ft_path else None,
        )
    return write(ann, out, fmt, fps=fps, **opts)


# --------------------------------------------------------------------------- command line


def _open_store(data_dir: str | None) -> Any:
    from otcore.settings import load_settings
    from otcore.store import Store

    settings = load_settings(data_dir)
    Path(settings.data_dir).mkdir(parents=True, exist_ok=True)
    return Store.from_settings(settings)


def fps_arg(text: str) -> float:
    """argparse type of ``--fps``: a finite number in ``(0, 1000]``."""
    try:
        v = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(v) or not 0 < v <= MAX_FPS_ARG:
        raise argparse.ArgumentTypeError(f"must be a finite number in (0, {MAX_FPS_ARG:g}], got {text!r}")
    return v


def _cli_progress(fraction: float, message: str) -> None:
    print(f"\r{fraction * 100:5.1f}%  {message}   ", end="", file=sys.stderr, flush=True)


def _import_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="otstudio import", description="Import annotations into a project.")
    p.add_argument("file", help="annotation file, folder, or .zip of either")
    p.add_argument("--project", required=True, help="project name (created if missing)")
    p.add_argument("--format", default="auto", choices=["auto", *FORMATS], help="file format (default: auto)")
    p.add_argument(
        "--data-dir", default=None, help="otstudio data dir (default: OTSTUDIO_DATA_DIR or ~/.otstudio)"
    )
    p.add_argument(
        "--fps", type=fps_arg, default=None, help="frame rate of frame-based files (frames, labelstudio)"
    )
    p.add_argument("--encoding", default=None, help="text encoding of the file (default: UTF-8)")
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
        "--on-outside",
        default="keep",
        choices=["keep", "clip", "skip"],
        help="segments past the video's end: keep and flag (default), clip, or skip",
    )
    p.add_argument(
        "--skip-invalid", action="store_true", help="import the valid rows of a file with bad rows"
    )
    p.add_argument("--skip-duplicates", action="store_true", help="skip exact duplicate rows of the file")
    p.add_argument(
        "--label-config",
        default=None,
        help="Label Studio labeling config whose label hints become label descriptions "
        "(default: NAME.label_config.xml beside NAME.json, when there is one)",
    )
    p.add_argument("--no-create-videos", action="store_true", help="skip videos the project does not have")
    p.add_argument("--strict-labels", action="store_true", help="skip labels the project does not have")
    return p


def import_main(argv: list[str]) -> int:
    """``otstudio import FILE --project NAME [...]``; prints the report (exit 1 on a bad file)."""
    args = _import_parser().parse_args(argv)
    opts: dict[str, Any] = {"background": args.background} if args.background is not None else {}
    if args.label_config is not None:
        opts["label_config"] = args.label_config
    shown = {"any": False}

    def progress(fraction: float, message: str) -> None:
        if message.startswith("segments") and fraction < 1.0 or shown["any"]:
            shown["any"] = True
            _cli_progress(fraction, message)

    try:
        store = _open_store(args.data_dir)
    except Exception as exc:  # noqa: BLE001 - a bad data dir or database URL: one line, no traceback
        print(f"otstudio import: cannot open the store: {exc}", file=sys.stderr)
        return 1
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
            encoding=args.encoding,
            skip_invalid=args.skip_invalid,
            skip_duplicates=args.skip_duplicates,
            progress=progress,
            **opts,
        )
    except FormatError as exc:
        print(f"otstudio import: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    if shown["any"]:
        print(file=sys.stderr)
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
        "--fps",
        type=fps_arg,
        default=None,
        help="frame rate for frames/labelstudio (default: the video's frames)",
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
    try:
        store = _open_store(args.data_dir)
    except Exception as exc:  # noqa: BLE001 - a bad data dir or database URL: one line, no traceback
        print(f"otstudio export: cannot open the store: {exc}", file=sys.stderr)
        return 1
    try:
        paths = export_from_store(
            store, args.project, args.out, args.format, sources=sources, fps=args.fps, **opts
        )
    except (FormatError, OSError) as exc:
        print(f"otstudio export: {exc}", file=sys.stderr)
        return 1
    finally:
        store.close()
    n = len(paths)
    print(f"wrote {n} file{'s' if n != 1 else ''}" + (f": {paths[0]}" if n == 1 else f" under {args.out}"))
    for text, name in paths.renamed.items():
        print(f"  {text!r} written as {name!r}")
    return 0
