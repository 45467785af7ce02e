"""Format-independent entry points: :func:`read`, :func:`write` and format auto-detection.

Formats (one sample line each in the module docstrings): ``activitynet`` (JSON, seconds),
``thumos`` (per-class txt, seconds), ``csv`` (seconds), ``frames`` (per-frame label files at a
chosen fps), ``labelstudio`` (TimelineLabels, frames at the real fps), ``eaf`` (ELAN, ms),
``vtt`` (WebVTT, ms). The in-memory model is always seconds (:mod:`otcore.formats.model`).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

from otcore.formats.activitynet import looks_like_activitynet, read_activitynet, write_activitynet
from otcore.formats.base import OutsidePolicy, RawData, ReadContext, assemble, normalize_known_videos
from otcore.formats.csvfile import read_csv, write_csv
from otcore.formats.eaf import read_eaf, write_eaf
from otcore.formats.frames import read_frames, write_frames
from otcore.formats.labelstudio import looks_like_labelstudio, read_labelstudio, write_labelstudio
from otcore.formats.model import AnnotationSet, FormatError, ImportReport, VideoMeta
from otcore.formats.names import WrittenFiles
from otcore.formats.text import check_encoding, load_json
from otcore.formats.thumos import looks_like_thumos_line, read_thumos, write_thumos
from otcore.formats.vtt import read_vtt, write_vtt

__all__ = ["FORMATS", "read", "write", "detect_format"]

Reader = Callable[..., RawData]
Writer = Callable[..., list[Path]]

#: name -> (reader, writer)
FORMATS: dict[str, tuple[Reader, Writer]] = {
    "activitynet": (read_activitynet, write_activitynet),
    "thumos": (read_thumos, write_thumos),
    "csv": (read_csv, write_csv),
    "frames": (read_frames, write_frames),
    "labelstudio": (read_labelstudio, write_labelstudio),
    "eaf": (read_eaf, write_eaf),
    "vtt": (read_vtt, write_vtt),
}


def _first_line(path: Path) -> str:
    try:
        with open(path, encoding="utf-8-sig", errors="replace") as fh:
            for n, line in enumerate(fh):
                if line.strip():
                    return line.strip()[:1000]
                if n > 1000:
                    break
    except OSError as exc:
        raise FormatError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return ""


def _detect_json(path: Path, encoding: str | None = None) -> str:
    doc = load_json(path, encoding)
    if looks_like_labelstudio(doc):
        return "labelstudio"
    if looks_like_activitynet(doc):
        return "activitynet"
    raise FormatError(f"{path}: JSON is neither ActivityNet-style nor a Label Studio export")


def _detect_text(path: Path) -> str:
    first = _first_line(path)
    if first.startswith("WEBVTT"):
        return "vtt"
    if first.startswith("<?xml") or first.startswith("<ANNOTATION_DOCUMENT"):
        return "eaf"
    if looks_like_thumos_line(first):
        return "thumos"
    low = first.lower().replace(" ", "")
    if low.startswith("video,") and "label" in low:
        return "csv"
    return "frames"


def detect_format(path: str | Path, encoding: str | None = None) -> str:
    """Guess the format of a file or folder from extensions, then content."""
    p = Path(path)
    if p.is_dir():
        files = [f for f in sorted(p.rglob("*")) if f.is_file() and not f.name.startswith(".")]
        exts = {f.suffix.lower() for f in files}
        if ".eaf" in exts:
            return "eaf"
        if ".vtt" in exts:
            return "vtt"
        candidates = [
            f for f in files if not f.name.lower().startswith("readme") and f.suffix.lower() in ("", ".txt")
        ]
        if not candidates:
            raise FormatError(f"cannot detect the format of folder {p}: no .eaf, .vtt or text files")
        return _detect_text(candidates[0])
    if not p.exists():
        raise FormatError(f"{p} does not exist")
    ext = p.suffix.lower()
    if ext == ".json":
        return _detect_json(p, encoding)
    if ext == ".csv":
        return "csv"
    if ext == ".eaf":
        return "eaf"
    if ext == ".vtt":
        return "vtt"
    head = _first_line(p)
    if head.startswith(("{", "[")):
        return _detect_json(p, encoding)
    return _detect_text(p)


def read(
    path: str | Path,
    fmt: str = "auto",
    known_videos: Mapping[str, VideoMeta | None] | Iterable[str] | None = None,
    known_labels: Iterable[str] | None = None,
    *,
    fps: float | None = None,
    on_outside: OutsidePolicy = "keep",
    tolerance: float | None = None,
    encoding: str | None = None,
    accept_unknown: bool = False,
    skip_duplicates: bool = False,
    **opts: Any,
) -> tuple[AnnotationSet, ImportReport]:
    """Read annotations from ``path`` (file or folder) into seconds, with a report of what was skipped.

    ``known_videos``: names (or name -> :class:`VideoMeta` with the real duration/fps) of the
    target videos; others are skipped as "unknown video" (a file's ``v_x.mp4`` matches a known
    ``v_x`` and vice versa; the result is keyed by the known name). ``known_labels``: labels
    outside are skipped as "label not in project". ``fps``: frame rate of frame-based files
    (``frames``: the chosen rate; ``labelstudio``: overrides the task's fps); otherwise the
    file's or the known video's fps is used, and :class:`FpsRequiredError` is raised if none.
    ``on_outside``/``tolerance``/``accept_unknown``/``skip_duplicates``: see
    :func:`otcore.formats.base.assemble`. ``encoding``: of text files (default UTF-8, strictly).
    Extra ``opts`` go to the format reader (e.g. ``background=`` for ``frames``).
    """
    p = Path(path)
    if not p.exists():
        raise FormatError(f"{p} does not exist")
    check_encoding(encoding)
    if fps is not None and not (0 < fps <= 1000):
        raise FormatError(f"fps must be a number in (0, 1000], got {fps!r}")
    name = detect_format(p, encoding) if fmt == "auto" else fmt
    if name not in FORMATS:
        raise FormatError(f"unknown format {name!r}; choose one of {', '.join(FORMATS)}")
    known = normalize_known_videos(known_videos)
    raw = FORMATS[name][0](
        p, ReadContext(fps=fps, known=known, encoding=encoding, accept_unknown=accept_unknown), **opts
    )
    return assemble(
        raw,
        name,
        known,
        known_labels,
        on_outside,
        tolerance,
        accept_unknown=accept_unknown,
        skip_duplicates=skip_duplicates,
    )


def write(
    annotations: AnnotationSet, path: str | Path, fmt: str, *, fps: float | None = None, **opts: Any
) -> WrittenFiles:
    """Write ``annotations`` (seconds) to ``path`` in format ``fmt``; returns the files written.

    Single-file formats (``activitynet``, ``csv``, ``labelstudio``) write ``path``; per-class
    (``thumos``) and per-video formats (``frames``; ``eaf``/``vtt`` unless ``path`` has their
    extension and there is one video) write into the folder ``path``. Frame-based formats use
    ``fps`` if given, else each video's fps (:class:`FpsRequiredError` if neither). Extra options:
    ``activitynet``: ``style="database"|"bsn"``, ``subset``; ``thumos``: ``suffix``;
    ``frames``: ``background``, ``extension``; ``labelstudio``: ``from_name``, ``to_name``.
    Every file name written inside a folder comes from :func:`otcore.formats.names.safe_name`;
    the result lists the files, and ``.renamed`` what the sanitiser changed.
    """
    if fmt not in FORMATS:
        raise FormatError(f"unknown format {fmt!r}; choose one of {', '.join(FORMATS)}")
    if fps is not None and not (0 < fps <= 1000):
        raise FormatError(f"fps must be a number in (0, 1000], got {fps!r}")
    got = FORMATS[fmt][1](annotations, Path(path), fps=fps, **opts)
    return got if isinstance(got, WrittenFiles) else WrittenFiles(list(got))
