"""THUMOS'14-style per-class text files (seconds).

One file per class, one instance per line ``video start end``; the class is the file name
(``HighJump.txt``, or the official ``HighJump_test.txt`` / ``HighJump_val.txt``, whose
``_test``/``_val`` suffix is dropped and written back). Sample line of ``HighJump_test.txt``::

    video_test_0000188 14.0 17.7

Read a folder (every ``*.txt`` below it except ``readme``) or one file; written into a
folder, one ``<label><suffix>.txt`` per label, file names made safe by the one sanitiser; when
the safe name cannot hold the label (``a/b``, ``x"y``), the file's first line is the comment
``# label: <label>``, which reading takes back.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from otcore.formats.base import RawData, RawSegment, ReadContext, fmt_seconds, parse_float
from otcore.formats.model import AnnotationSet, FormatError, set_meta
from otcore.formats.names import NameAllocator, WrittenFiles, inside
from otcore.formats.text import read_text

__all__ = ["read_thumos", "write_thumos", "label_from_filename", "looks_like_thumos_line"]

FMT = "thumos"
_SUFFIX = re.compile(r"_(test|val|validation|train)$", re.IGNORECASE)
#: First line of a class file whose name could not hold the label (a comment to THUMOS tools).
_LABEL_NOTE = "# label: "


def label_from_filename(path: Path) -> str:
    """Class name of a THUMOS file: the stem without a ``_test``/``_val`` suffix."""
    return _SUFFIX.sub("", Path(path).stem)


def looks_like_thumos_line(line: str) -> bool:
    """True for ``name start end`` with two numbers."""
    parts = line.split()
    if len(parts) != 3:
        return False
    try:
        float(parts[1]), float(parts[2])
    except ValueError:
        return False
    return True


def _files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(
            p for p in path.rglob("*.txt") if p.is_file() and not p.name.lower().startswith("readme")
        )
    return [path]


def read_thumos(path: Path, ctx: ReadContext, **_: Any) -> RawData:
    """Read one THUMOS class file or a folder of them into raw records (seconds)."""
    path = Path(path)
    files = _files(path)
    if not files and not Path(path).is_dir():  # an empty folder is an empty set
        raise FormatError(f"no THUMOS .txt files in {path}")
    raw = RawData()
    suffixes: set[str] = set()
    for f in files:
        label = label_from_filename(f)
        m = _SUFFIX.search(f.stem)
        if m:
            suffixes.add(m.group(0))
        rel = f.relative_to(path) if path.is_dir() else Path(f.name)
        for n, line in enumerate(read_text(f, ctx.encoding).splitlines(), start=1):
            if n == 1 and line.startswith(_LABEL_NOTE):
                label = line[len(_LABEL_NOTE) :]
                continue
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            parts = line.split()
            where = f"{rel}:{n}"
            if len(parts) != 3:
                raw.bad(where, f"expected 'video start end', got {line.strip()[:80]!r}", label=label)
                continue
            try:
                start, end = parse_float(parts[1]), parse_float(parts[2])
            except ValueError as exc:
                raw.bad(where, f"times are not numbers: {exc}", video=parts[0][:200], label=label)
                continue
            raw.add(RawSegment(parts[0], label, start, end, where=where, meta={FMT: {"line": n}}))
    if len(suffixes) == 1:
        raw.meta[FMT] = {"suffix": suffixes.pop()}
    return raw


def write_thumos(
    annotations: AnnotationSet, path: Path, *, suffix: str | None = None, **_: Any
) -> WrittenFiles:
    """Write ``<label><suffix>.txt`` files (``video start end`` lines) into the folder ``path``.

    ``suffix`` defaults to the one the files read had (``_test``), else none.
    """
    folder = Path(path)
    folder.mkdir(parents=True, exist_ok=True)
    suffix = suffix if suffix is not None else str(set_meta(annotations, FMT).get("suffix") or "")
    keyed: dict[str, list[tuple[float, int, str]]] = {}
    for video, va in annotations.items():
        if not video or any(c.isspace() for c in video) or not video.isprintable():
            raise FormatError(
                f"THUMOS lines are space-separated: video name {video!r} contains a space or control character"
            )
        for i, s in enumerate(va.segments):
            line = va.meta_of(i, FMT).get("line")  # a file's own line order comes back
            text = f"{video} {fmt_seconds(s.start)} {fmt_seconds(s.end)}"
            order = float(line) if isinstance(line, int) else float("inf")
            keyed.setdefault(s.label, []).append((order, len(keyed.get(s.label, [])), text))
    lines = {label: [t for _, _, t in sorted(rows)] for label, rows in keyed.items()}
    names = NameAllocator()
    out = WrittenFiles()
    for label in sorted(lines):
        name = names.name(label, f"{suffix}.txt", fallback="label")
        p = inside(folder, name)
        note = [] if label_from_filename(Path(name)) == label else [_LABEL_NOTE + label]
        p.write_text("\n".join(note + lines[label]) + "\n", encoding="utf-8")
        out.append(p)
    out.renamed = {k: v for k, v in names.renamed.items() if v != f"{k}{suffix}.txt"}
    return out
